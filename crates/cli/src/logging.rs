//! The only place a tracing subscriber is installed.

use std::io::{IsTerminal, Write};

use tracing_subscriber::{EnvFilter, fmt};

/// Log format for daemons.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// Installs a subscriber writing to stderr, filtered by `RUST_LOG` (default
/// `info`). Lines are coloured only on a terminal that wants colour, and are
/// printed above a progress bar rather than on its line.
pub(crate) fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        ))
        .with_writer(|| LogLine(Vec::new()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Colour on a terminal, unless `NO_COLOR` is set to anything
/// (<https://no-color.org>) or `TERM` is `dumb`.
fn colour(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// One event's text, written whole when the subscriber drops it.
struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        crate::progress::write_stderr(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_that_wants_it() {
        let xterm = Some(OsStr::new("xterm-256color"));
        assert!(colour(true, None, xterm));
        assert!(colour(true, Some(OsStr::new("")), None));
        assert!(!colour(false, None, xterm), "not a terminal");
        assert!(!colour(true, Some(OsStr::new("1")), xterm), "NO_COLOR");
        assert!(!colour(true, None, Some(OsStr::new("dumb"))), "TERM=dumb");
    }
}
