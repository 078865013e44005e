//! A sans-IO parser of server-sent events (the `text/event-stream` format):
//! feed it bytes as they come, take whole events out. Lines and events are
//! bounded, so a hostile server cannot make it grow without limit.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (default "message").
    pub event: String,
    /// `data:` lines joined by newlines.
    pub data: String,
    /// `id:`, if given.
    pub id: Option<String>,
}

/// The stream broke a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event stream: {0}")]
pub struct SseError(pub &'static str);

/// The parser.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    /// Longest line kept.
    pub const MAX_LINE: usize = 1 << 20;
    /// Largest event.
    pub const MAX_EVENT: usize = 4 << 20;

    /// Adds bytes; returns the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            if let Some(ev) = self.line(&line)? {
                out.push(ev);
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > Self::MAX_LINE {
            return Err(SseError("a line is longer than 1 MiB"));
        }
        Ok(out)
    }

    fn line(&mut self, line: &str) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return Ok(None);
            }
            let ev = SseEvent {
                event: if self.event.is_empty() {
                    "message".into()
                } else {
                    std::mem::take(&mut self.event)
                },
                data: std::mem::take(&mut self.data),
                id: self.id.clone(),
            };
            self.has_data = false;
            self.event.clear();
            return Ok(Some(ev));
        }
        if line.starts_with(':') {
            return Ok(None); // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                if self.data.len() > Self::MAX_EVENT {
                    return Err(SseError("an event is larger than 4 MiB"));
                }
            }
            "id" => self.id = Some(value.to_string()),
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STREAM: &[u8] = b"event: hello\ndata: {\"hub\":\"K\"}\n\n: keep-alive\n\nevent: published\r\nid: 7\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: "hello".into(),
                data: "{\"hub\":\"K\"}".into(),
                id: None,
            },
            SseEvent {
                event: "published".into(),
                data: "a\nb".into(),
                id: Some("7".into()),
            },
            SseEvent {
                event: "message".into(),
                data: "plain".into(),
                id: Some("7".into()),
            },
        ]
    }

    #[test]
    fn parses_events_comments_and_crlf() {
        let mut p = SseParser::default();
        assert_eq!(p.push(STREAM).unwrap(), expected());
    }

    #[test]
    fn an_overlong_line_is_an_error() {
        let mut p = SseParser::default();
        assert!(p.push(&vec![b'x'; SseParser::MAX_LINE + 1]).is_err());
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..STREAM.len(), 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut p = SseParser::default();
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([STREAM.len()]) {
                got.extend(p.push(&STREAM[at..c]).unwrap());
                at = c;
            }
            prop_assert_eq!(got, expected());
        }
    }
}
