//! The one sanitiser for text from outside (torrent names, file names,
//! comments, tracker URLs, error messages quoting them) on its way to a
//! human: control characters and the Unicode bidi controls are escaped, so
//! a torrent cannot set the terminal title, clear the screen, reorder a line
//! or split one entry over two lines. `--json` output is escaped by JSON.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// Whether `c` must not reach a terminal raw.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every control character escaped (`\n`, `\t`, `\u{1b}`, …).
pub(crate) fn line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Like [`line`] but keeps line breaks: for messages that are several lines
/// on purpose (a config parser's excerpt with a caret under the error).
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// A path shown with [`line`].
pub(crate) fn path(p: &Path) -> String {
    line(&p.display().to_string()).into_owned()
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| unsafe_char(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Displays a string through [`line`]: `format!("{}", Shown(name))`.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&line(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(line("release-1.2 ünïcode/ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn escapes_and_newlines_are_escaped() {
        assert_eq!(line("a\u{1b}]0;pwned\u{7}b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(line("two\nlines\r\t"), "two\\nlines\\r\\t");
        assert_eq!(line("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(line("abc\u{202e}txt.exe"), "abc\\u{202e}txt.exe");
        assert_eq!(line("\u{7f}"), "\\u{7f}");
        assert_eq!(Shown("x\u{1b}[2J").to_string(), "x\\u{1b}[2J");
    }

    #[test]
    fn text_keeps_line_breaks_only() {
        assert_eq!(text("line 1\n  ^\u{1b}[31m"), "line 1\n  ^\\u{1b}[31m");
    }
}
