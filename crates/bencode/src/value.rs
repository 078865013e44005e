use std::collections::BTreeMap;

use crate::{DecodeError, DecodeErrorKind as K, Limits};

/// A decoded value borrowing from its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'a> {
    /// The exact bytes of input this value was decoded from.
    raw: &'a [u8],
    kind: ValueKind<'a>,
}

/// The four bencode types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueKind<'a> {
    /// `i…e`
    Int(i64),
    /// `N:…`
    Bytes(&'a [u8]),
    /// `l…e`
    List(Vec<Value<'a>>),
    /// `d…e`
    Dict(Dict<'a>),
}

/// A decoded dictionary: entries in input order, keys unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Dict<'a> {
    /// The value under `key`, if present.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    /// Entries in the order they appeared.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &Value<'a>)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> Value<'a> {
    /// The exact input bytes of this value, e.g. for hashing an `info` dictionary.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// The decoded content.
    pub fn kind(&self) -> &ValueKind<'a> {
        &self.kind
    }
    /// The integer, if this is one.
    pub fn int(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Int(i) => Some(i),
            _ => None,
        }
    }
    /// The byte string, if this is one.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            ValueKind::Bytes(b) => Some(b),
            _ => None,
        }
    }
    /// The byte string as UTF-8, if it is one and valid.
    pub fn str(&self) -> Option<&'a str> {
        self.bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
    /// The list, if this is one.
    pub fn list(&self) -> Option<&[Value<'a>]> {
        match &self.kind {
            ValueKind::List(l) => Some(l),
            _ => None,
        }
    }
    /// The dictionary, if this is one.
    pub fn dict(&self) -> Option<&Dict<'a>> {
        match &self.kind {
            ValueKind::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// A short name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::Int(_) => "integer",
            ValueKind::Bytes(_) => "string",
            ValueKind::List(_) => "list",
            ValueKind::Dict(_) => "dictionary",
        }
    }
    /// Copies into an owned tree (dictionary keys sorted, as encoding requires).
    pub fn to_owned(&self) -> OwnedValue {
        match &self.kind {
            ValueKind::Int(i) => OwnedValue::Int(*i),
            ValueKind::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            ValueKind::List(l) => OwnedValue::List(l.iter().map(Value::to_owned).collect()),
            ValueKind::Dict(d) => {
                OwnedValue::Dict(d.iter().map(|(k, v)| (k.to_vec(), v.to_owned())).collect())
            }
        }
    }
}

/// An owned bencode tree, mainly for building messages to encode.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnedValue {
    /// `i…e`
    Int(i64),
    /// `N:…`
    Bytes(Vec<u8>),
    /// `l…e`
    List(Vec<OwnedValue>),
    /// `d…e`, keys kept sorted by the map.
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl From<i64> for OwnedValue {
    fn from(v: i64) -> Self {
        OwnedValue::Int(v)
    }
}
impl From<&str> for OwnedValue {
    fn from(v: &str) -> Self {
        OwnedValue::Bytes(v.as_bytes().to_vec())
    }
}
impl From<&[u8]> for OwnedValue {
    fn from(v: &[u8]) -> Self {
        OwnedValue::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for OwnedValue {
    fn from(v: Vec<u8>) -> Self {
        OwnedValue::Bytes(v)
    }
}

pub(crate) struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: Limits,
    values: usize,
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(input: &'a [u8], limits: Limits) -> Self {
        Self {
            input,
            pos: 0,
            limits,
            values: 0,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, kind: K) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err(K::UnexpectedEof))
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        if depth > self.limits.max_depth {
            return Err(self.err(K::TooDeep));
        }
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(self.err(K::TooManyValues));
        }
        let start = self.pos;
        let kind = match self.peek()? {
            b'i' => {
                self.pos += 1;
                ValueKind::Int(self.integer(b'e')?)
            }
            b'0'..=b'9' => ValueKind::Bytes(self.string()?),
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                ValueKind::List(items)
            }
            b'd' => {
                self.pos += 1;
                let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
                // While keys arrive sorted, a duplicate can only equal the
                // previous key. After the first out-of-order key, a set keeps
                // duplicate detection linear for hostile input.
                let mut seen: Option<std::collections::HashSet<&'a [u8]>> = None;
                while self.peek()? != b'e' {
                    let key_at = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.err(K::NonStringKey));
                    }
                    let key = self.string()?;
                    if let Some(set) = seen.as_mut() {
                        if !set.insert(key) {
                            return Err(DecodeError::new(K::DuplicateKey, key_at));
                        }
                    } else if let Some((last, _)) = entries.last() {
                        if key == *last {
                            return Err(DecodeError::new(K::DuplicateKey, key_at));
                        }
                        if key < *last {
                            if self.limits.require_sorted_keys {
                                return Err(DecodeError::new(K::UnsortedKeys, key_at));
                            }
                            let mut set: std::collections::HashSet<&'a [u8]> =
                                entries.iter().map(|(k, _)| *k).collect();
                            if !set.insert(key) {
                                return Err(DecodeError::new(K::DuplicateKey, key_at));
                            }
                            seen = Some(set);
                        }
                    }
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                }
                self.pos += 1;
                ValueKind::Dict(Dict { entries })
            }
            b => return Err(self.err(K::UnexpectedByte(b))),
        };
        Ok(Value {
            raw: &self.input[start..self.pos],
            kind,
        })
    }

    /// Parses a canonical decimal integer up to `end`, consuming `end`.
    fn integer(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        let neg = self.peek()? == b'-';
        if neg {
            self.pos += 1;
        }
        let digits_at = self.pos;
        let mut v: i64 = 0;
        loop {
            let b = self.peek()?;
            if b == end {
                break;
            }
            if !b.is_ascii_digit() {
                return Err(self.err(K::UnexpectedByte(b)));
            }
            let d = i64::from(b - b'0');
            v = v
                .checked_mul(10)
                .and_then(|v| {
                    if neg {
                        v.checked_sub(d)
                    } else {
                        v.checked_add(d)
                    }
                })
                .ok_or_else(|| DecodeError::new(K::IntegerOverflow, start))?;
            self.pos += 1;
        }
        let ndigits = self.pos - digits_at;
        let first = self.input.get(digits_at).copied();
        if ndigits == 0 || (first == Some(b'0') && (ndigits > 1 || neg)) {
            return Err(DecodeError::new(K::NonCanonicalInteger, start));
        }
        self.pos += 1; // the terminator
        Ok(v)
    }

    fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let len = self.integer(b':').map_err(|e| match e.kind {
            K::UnexpectedEof => e,
            _ => DecodeError::new(K::BadStringLength, start),
        })?;
        let len = usize::try_from(len).map_err(|_| DecodeError::new(K::BadStringLength, start))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| DecodeError::new(K::UnexpectedEof, start))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}
