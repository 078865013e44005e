//! The one error printer. An error's chain often repeats itself: a
//! `thiserror` message that quotes its source ("cannot read x: No such
//! file") followed by that source, or a context that restates the error.
//! Each cause is printed once, in order, and the whole text goes through
//! the sanitiser (errors quote names from torrents and the file system).

use std::io::Write;

/// The error as one message: `outer: cause: cause`, no cause twice.
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    join_causes(err.chain().map(ToString::to_string))
}

fn join_causes(causes: impl Iterator<Item = String>) -> String {
    let mut text = String::new();
    for cause in causes {
        let cause = cause.trim();
        if cause.is_empty() || text.contains(cause) {
            continue;
        }
        if cause.contains(text.as_str()) && !text.is_empty() {
            // An outer message the inner one restates with more detail.
            text.clear();
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(cause);
    }
    crate::shown::text(&text).into_owned()
}

/// Prints `anthill: error: …` on stderr. A failing stderr is ignored: there
/// is nowhere left to report it, and the exit code still says it.
pub(crate) fn print_error(err: &anyhow::Error) {
    let _ = writeln!(std::io::stderr(), "anthill: error: {}", error_text(err));
}

/// Whether the error is a closed pipe on stdout (`anthill … | head`), which
/// is not a failure of the command.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {path}: {source}")]
    struct Quoting {
        path: &'static str,
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::NotFound)
    }

    #[test]
    fn a_source_quoted_by_its_error_is_printed_once() {
        let e = anyhow::Error::new(Quoting {
            path: "x",
            source: not_found(),
        })
        .context("cannot create a torrent of x");
        assert_eq!(
            error_text(&e),
            format!(
                "cannot create a torrent of x: cannot read x: {}",
                not_found()
            )
        );
    }

    #[test]
    fn the_same_cause_three_times_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        let shown = io.to_string();
        let e = Err::<(), _>(io)
            .with_context(|| format!("cannot write t: {shown}"))
            .with_context(|| shown.clone())
            .unwrap_err();
        assert_eq!(error_text(&e), format!("cannot write t: {shown}"));
        let e = anyhow::anyhow!("missing file nonexist").context("missing file nonexist");
        assert_eq!(error_text(&e), "missing file nonexist");
    }

    #[test]
    fn distinct_causes_are_all_kept_and_escaped() {
        let e = anyhow::Error::new(not_found()).context("cannot read a\u{1b}[2Jb");
        assert_eq!(
            error_text(&e),
            format!("cannot read a\\u{{1b}}[2Jb: {}", not_found())
        );
    }

    #[test]
    fn broken_pipe_anywhere_in_the_chain() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("x")));
    }
}
