use std::fmt;

use bencode::Value;
use bytes::{BufMut, Bytes, BytesMut};

use crate::ExtensionError;

const WHAT: &str = "ut_metadata";

/// Size of a metadata piece (BEP 9): every piece but the last is exactly this long.
pub const METADATA_PIECE_LEN: usize = 16 * 1024;

/// Index of a 16 KiB piece of the info dictionary (BEP 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MetadataPiece(pub u32);

impl fmt::Display for MetadataPiece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A BEP 9 `ut_metadata` message: a bencoded dictionary, followed by the raw
/// piece for `data`.
///
/// ```
/// use bytes::Bytes;
/// use wire::{MetadataMessage, MetadataPiece};
/// let m = MetadataMessage::Data {
///     piece: MetadataPiece(0),
///     total_size: 3,
///     data: Bytes::from_static(b"d1e"),
/// };
/// let payload = m.to_bytes();
/// assert_eq!(&payload[..], b"d8:msg_typei1e5:piecei0e10:total_sizei3eed1e");
/// assert_eq!(MetadataMessage::parse(&payload).unwrap(), m);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    /// `msg_type` 0: asks for a piece.
    Request(MetadataPiece),
    /// `msg_type` 1: a piece of the info dictionary.
    Data {
        /// Which piece.
        piece: MetadataPiece,
        /// The sender's claimed size of the whole info dictionary.
        total_size: u64,
        /// The piece; a slice of the received payload.
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not serve this piece.
    Reject(MetadataPiece),
}

impl MetadataMessage {
    /// Parses an extended-message payload. For `data` the piece is sliced out
    /// of `payload` without copying. Unknown keys are ignored, as are bytes
    /// after the dictionary of a request or reject.
    pub fn parse(payload: &Bytes) -> Result<Self, ExtensionError> {
        let (v, used) = bencode::decode_prefix(payload)
            .map_err(|source| ExtensionError::Bencode { what: WHAT, source })?;
        let d = v.dict().ok_or(ExtensionError::NotADict { what: WHAT })?;
        let int = |field: &'static str| {
            d.get(field.as_bytes())
                .and_then(Value::int)
                .ok_or(ExtensionError::InvalidField { what: WHAT, field })
        };
        let msg_type = int("msg_type")?;
        let piece = int("piece")?;
        let piece =
            u32::try_from(piece)
                .map(MetadataPiece)
                .map_err(|_| ExtensionError::InvalidField {
                    what: WHAT,
                    field: "piece",
                })?;
        match msg_type {
            0 => Ok(MetadataMessage::Request(piece)),
            2 => Ok(MetadataMessage::Reject(piece)),
            1 => {
                let total_size = u64::try_from(int("total_size")?).map_err(|_| {
                    ExtensionError::InvalidField {
                        what: WHAT,
                        field: "total_size",
                    }
                })?;
                let data = payload.slice(used..);
                if data.len() > METADATA_PIECE_LEN {
                    return Err(ExtensionError::MetadataPieceTooLong { len: data.len() });
                }
                Ok(MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                })
            }
            other => Err(ExtensionError::UnknownMetadataType(other)),
        }
    }

    /// The piece this message is about.
    pub fn piece(&self) -> MetadataPiece {
        match self {
            MetadataMessage::Request(p) | MetadataMessage::Reject(p) => *p,
            MetadataMessage::Data { piece, .. } => *piece,
        }
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let (msg_type, total) = match self {
            MetadataMessage::Request(_) => (0, None),
            MetadataMessage::Data { total_size, .. } => (1, Some(*total_size)),
            MetadataMessage::Reject(_) => (2, None),
        };
        let mut e = bencode::Encoder::with_buffer(Vec::with_capacity(48));
        e.dict(|d| {
            d.key("msg_type").int(msg_type);
            d.key("piece").int(i64::from(self.piece().0));
            if let Some(t) = total {
                d.key("total_size")
                    .int(i64::try_from(t).unwrap_or(i64::MAX));
            }
        });
        dst.put_slice(&e.finish());
        if let MetadataMessage::Data { data, .. } = self {
            dst.put_slice(data);
        }
    }

    /// The payload.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &'static [u8]) -> Result<MetadataMessage, ExtensionError> {
        MetadataMessage::parse(&Bytes::from_static(b))
    }

    #[test]
    fn request_and_reject() {
        assert_eq!(
            parse(b"d8:msg_typei0e5:piecei3ee"),
            Ok(MetadataMessage::Request(MetadataPiece(3)))
        );
        assert_eq!(
            parse(b"d8:msg_typei2e5:piecei3ee"),
            Ok(MetadataMessage::Reject(MetadataPiece(3)))
        );
    }

    #[test]
    fn data_is_sliced_without_copy() {
        let payload = Bytes::from_static(b"d8:msg_typei1e5:piecei0e10:total_sizei5eehello");
        let Ok(MetadataMessage::Data {
            data, total_size, ..
        }) = MetadataMessage::parse(&payload)
        else {
            panic!("expected data");
        };
        assert_eq!(&data[..], b"hello");
        assert_eq!(total_size, 5);
        assert_eq!(data.as_ptr(), payload[payload.len() - 5..].as_ptr());
    }

    #[test]
    fn missing_piece() {
        assert_eq!(
            parse(b"d8:msg_typei0ee"),
            Err(ExtensionError::InvalidField {
                what: "ut_metadata",
                field: "piece"
            })
        );
    }

    #[test]
    fn negative_piece() {
        assert_eq!(
            parse(b"d8:msg_typei0e5:piecei-1ee"),
            Err(ExtensionError::InvalidField {
                what: "ut_metadata",
                field: "piece"
            })
        );
    }

    #[test]
    fn missing_msg_type() {
        assert_eq!(
            parse(b"d5:piecei0ee"),
            Err(ExtensionError::InvalidField {
                what: "ut_metadata",
                field: "msg_type"
            })
        );
    }

    #[test]
    fn data_without_total_size() {
        assert_eq!(
            parse(b"d8:msg_typei1e5:piecei0eexx"),
            Err(ExtensionError::InvalidField {
                what: "ut_metadata",
                field: "total_size"
            })
        );
        assert_eq!(
            parse(b"d8:msg_typei1e5:piecei0e10:total_sizei-1eexx"),
            Err(ExtensionError::InvalidField {
                what: "ut_metadata",
                field: "total_size"
            })
        );
    }

    #[test]
    fn unknown_msg_type() {
        assert_eq!(
            parse(b"d8:msg_typei7e5:piecei0ee"),
            Err(ExtensionError::UnknownMetadataType(7))
        );
    }

    #[test]
    fn oversized_data() {
        let mut v = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
        v.extend(std::iter::repeat_n(0u8, METADATA_PIECE_LEN + 1));
        assert_eq!(
            MetadataMessage::parse(&Bytes::from(v)),
            Err(ExtensionError::MetadataPieceTooLong {
                len: METADATA_PIECE_LEN + 1
            })
        );
    }

    #[test]
    fn not_a_dict() {
        assert_eq!(
            parse(b"i1e"),
            Err(ExtensionError::NotADict {
                what: "ut_metadata"
            })
        );
    }

    #[test]
    fn bad_bencode() {
        assert!(matches!(
            parse(b"d8:msg_type"),
            Err(ExtensionError::Bencode {
                what: "ut_metadata",
                ..
            })
        ));
    }
}
