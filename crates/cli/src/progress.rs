//! Progress bars for long hashing jobs: drawn on stderr only when it is a
//! terminal, so pipes, logs and tests stay quiet.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte progress bar the piece hasher reports to.
pub(crate) struct HashBar(ProgressBar);

impl HashBar {
    /// A bar for `total` bytes labelled `what`, hidden unless stderr is a terminal.
    pub(crate) fn new(total: u64, what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_string());
        Self(bar)
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl metainfo::HashProgress for HashBar {
    fn hashed(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
