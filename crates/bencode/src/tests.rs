use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn kind(input: &[u8]) -> DecodeErrorKind {
    decode(input).unwrap_err().kind
}

#[test]
fn decodes_all_types() {
    let v = decode(b"d1:ai-42e1:bl0:3:xyzee").unwrap();
    let d = v.dict().unwrap();
    assert_eq!(d.get(b"a").unwrap().int(), Some(-42));
    let l = d.get(b"b").unwrap().list().unwrap();
    assert_eq!(l[0].bytes(), Some(&b""[..]));
    assert_eq!(l[1].str(), Some("xyz"));
    assert_eq!(d.get(b"b").unwrap().raw(), b"l0:3:xyze");
}

#[test]
fn raw_span_is_exact_even_when_keys_unsorted() {
    let input = b"d4:infod1:bi1e1:ai2ee1:xi0ee";
    let v = decode(input).unwrap();
    assert_eq!(
        v.dict().unwrap().get(b"info").unwrap().raw(),
        b"d1:bi1e1:ai2ee"
    );
}

#[test]
fn rejects_trailing_bytes() {
    assert_eq!(kind(b"i1ei2e"), DecodeErrorKind::TrailingBytes);
    assert_eq!(kind(b"0:x"), DecodeErrorKind::TrailingBytes);
}

#[test]
fn decode_prefix_reports_length() {
    let (v, n) = decode_prefix(b"d1:ai1eeRAWDATA").unwrap();
    assert_eq!(n, 8);
    assert!(v.dict().is_some());
}

#[test]
fn rejects_noncanonical_integers() {
    for bad in [
        &b"i-0e"[..],
        b"i03e",
        b"ie",
        b"i-e",
        b"i--1e",
        b"i1.0e",
        b"i+1e",
    ] {
        assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(kind(b"i-0e"), DecodeErrorKind::NonCanonicalInteger);
    assert_eq!(kind(b"i03e"), DecodeErrorKind::NonCanonicalInteger);
    assert_eq!(decode(b"i0e").unwrap().int(), Some(0));
}

#[test]
fn integer_bounds() {
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().int(),
        Some(i64::MAX)
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().int(),
        Some(i64::MIN)
    );
    assert_eq!(
        kind(b"i9223372036854775808e"),
        DecodeErrorKind::IntegerOverflow
    );
}

#[test]
fn rejects_bad_strings() {
    assert_eq!(kind(b"01:a"), DecodeErrorKind::BadStringLength);
    assert_eq!(kind(b"5:abc"), DecodeErrorKind::UnexpectedEof);
    assert_eq!(kind(b"-1:a"), DecodeErrorKind::UnexpectedByte(b'-'));
    assert_eq!(
        kind(b"99999999999999999999:a"),
        DecodeErrorKind::BadStringLength
    );
    assert_eq!(
        kind(b"18446744073709551615:a"),
        DecodeErrorKind::BadStringLength
    );
}

#[test]
fn rejects_duplicate_and_nonstring_keys() {
    assert_eq!(kind(b"d1:ai1e1:ai2ee"), DecodeErrorKind::DuplicateKey);
    assert_eq!(kind(b"d1:bi1e1:ai2e1:bi3ee"), DecodeErrorKind::DuplicateKey);
    assert_eq!(kind(b"di1ei2ee"), DecodeErrorKind::NonStringKey);
}

#[test]
fn sorted_keys_only_when_asked() {
    let strict = Limits {
        require_sorted_keys: true,
        ..Limits::default()
    };
    assert!(decode(b"d1:bi1e1:ai2ee").is_ok());
    assert_eq!(
        decode_with(b"d1:bi1e1:ai2ee", strict).unwrap_err().kind,
        DecodeErrorKind::UnsortedKeys
    );
}

#[test]
fn depth_is_limited() {
    let deep = [vec![b'l'; 100], vec![b'e'; 100]].concat();
    assert_eq!(kind(&deep), DecodeErrorKind::TooDeep);
    let ok = [vec![b'l'; 64], vec![b'e'; 64]].concat();
    assert!(decode(&ok).is_ok());
}

#[test]
fn value_count_is_limited() {
    let limits = Limits {
        max_values: 3,
        ..Limits::default()
    };
    assert!(decode_with(b"li1ei2ee", limits).is_ok());
    assert_eq!(
        decode_with(b"li1ei2ei3ee", limits).unwrap_err().kind,
        DecodeErrorKind::TooManyValues
    );
}

#[test]
fn truncations_are_errors() {
    let full = b"d4:infod6:lengthi5e4:name1:aee";
    for n in 0..full.len() {
        assert!(decode(&full[..n]).is_err());
    }
}

#[test]
fn error_message_is_readable() {
    let e = decode(b"i1ex").unwrap_err();
    assert_eq!(
        e.to_string(),
        "bencode: trailing bytes after value at byte 3"
    );
}

fn owned() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(OwnedValue::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..8),
                inner,
                0..8
            )
            .prop_map(|m: BTreeMap<_, _>| OwnedValue::Dict(m)),
        ]
    })
}

proptest! {
    #[test]
    fn round_trip(v in owned()) {
        let bytes = encode(&v);
        let strict = Limits { require_sorted_keys: true, ..Limits::default() };
        let back = decode_with(&bytes, strict).unwrap();
        prop_assert_eq!(back.raw(), &bytes[..]);
        prop_assert_eq!(back.to_owned(), v);
    }

    #[test]
    fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&data);
        let _ = decode_prefix(&data);
    }

    #[test]
    fn never_panics_on_near_valid(v in owned(), cut in any::<usize>(), flip in any::<(usize, u8)>()) {
        let mut bytes = encode(&v);
        if !bytes.is_empty() {
            let i = flip.0 % bytes.len();
            bytes[i] ^= flip.1;
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let _ = decode(&bytes);
    }
}
