//! The little XML writing the feed needs.

/// Escapes `s` for element text and attribute values; characters XML 1.0
/// forbids (controls other than tab, newline, carriage return) are dropped,
/// so a hostile name cannot make the feed unparsable.
pub(crate) fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// Appends `<tag>text</tag>` on its own indented line.
pub(crate) fn element(out: &mut String, indent: usize, tag: &str, text: &str) {
    for _ in 0..indent {
        out.push_str("  ");
    }
    out.push('<');
    out.push_str(tag);
    out.push('>');
    escape(text, out);
    out.push_str("</");
    out.push_str(tag.split(' ').next().unwrap_or(tag));
    out.push_str(">\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_forbidden_controls() {
        let mut s = String::new();
        escape("a<b>&\"'\u{1b}[2J\u{0}\tz", &mut s);
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;[2J\tz");
    }
}
