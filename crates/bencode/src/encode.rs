use crate::OwnedValue;

/// Writes canonical bencode into a buffer.
///
/// The caller is responsible for giving dictionary keys in ascending byte
/// order; debug builds assert it.
///
/// ```
/// let mut e = bencode::Encoder::new();
/// e.dict(|d| {
///     d.key("a").int(1);
///     d.key("b").bytes(b"xy");
/// });
/// assert_eq!(e.finish(), b"d1:ai1e1:b2:xye");
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }
    /// Encodes into an existing buffer (appending).
    pub fn with_buffer(buf: Vec<u8>) -> Self {
        Self { buf }
    }
    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
    /// Writes an integer.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.buf.push(b'i');
        self.buf.extend_from_slice(v.to_string().as_bytes());
        self.buf.push(b'e');
        self
    }
    /// Writes a byte string.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v.len().to_string().as_bytes());
        self.buf.push(b':');
        self.buf.extend_from_slice(v);
        self
    }
    /// Writes a UTF-8 string.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// Writes already-encoded bencode verbatim (e.g. a raw `info` dictionary).
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Writes a list whose items `f` writes.
    pub fn list(&mut self, f: impl FnOnce(&mut Encoder)) -> &mut Self {
        self.buf.push(b'l');
        f(self);
        self.buf.push(b'e');
        self
    }
    /// Writes a dictionary whose entries `f` writes through [`DictEncoder::key`].
    pub fn dict(&mut self, f: impl FnOnce(&mut DictEncoder<'_>)) -> &mut Self {
        self.buf.push(b'd');
        let mut d = DictEncoder {
            enc: self,
            last_key: None,
        };
        f(&mut d);
        self.buf.push(b'e');
        self
    }
    /// Writes an owned tree.
    pub fn value(&mut self, v: &OwnedValue) -> &mut Self {
        match v {
            OwnedValue::Int(i) => self.int(*i),
            OwnedValue::Bytes(b) => self.bytes(b),
            OwnedValue::List(l) => self.list(|e| {
                for item in l {
                    e.value(item);
                }
            }),
            OwnedValue::Dict(m) => self.dict(|d| {
                for (k, v) in m {
                    d.key(k).value(v);
                }
            }),
        }
    }
}

/// Writes the entries of one dictionary; see [`Encoder::dict`].
#[derive(Debug)]
pub struct DictEncoder<'e> {
    enc: &'e mut Encoder,
    last_key: Option<Vec<u8>>,
}

impl DictEncoder<'_> {
    /// Writes a key; the value must be written next on the returned encoder.
    pub fn key(&mut self, k: impl AsRef<[u8]>) -> &mut Encoder {
        let k = k.as_ref();
        if cfg!(debug_assertions) {
            if let Some(last) = &self.last_key {
                debug_assert!(last.as_slice() < k, "bencode keys must be ascending");
            }
            self.last_key = Some(k.to_vec());
        }
        self.enc.bytes(k)
    }
}

/// Encodes an owned tree.
pub fn encode(v: &OwnedValue) -> Vec<u8> {
    let mut e = Encoder::new();
    e.value(v);
    e.finish()
}
