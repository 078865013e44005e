//! Progress bars for long jobs: drawn on stderr only when it is a terminal,
//! so pipes, logs and tests stay quiet. While a bar is shown, every other
//! line for stderr (log lines, warnings) goes through [`write_stderr`] or
//! [`say`], which print it above the bar instead of on the bar's line.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar on screen, if any.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn set_active(bar: Option<ProgressBar>) {
    *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = bar;
}

/// Writes `bytes` to stderr above the bar on screen. Errors are ignored:
/// stderr is where errors would be reported.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let bar = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let write = || {
        let _ = std::io::stderr().write_all(bytes);
    };
    match bar {
        Some(b) => b.suspend(write),
        None => write(),
    }
}

/// Prints one line for the user on stderr (above any bar).
pub(crate) fn say(line: &str) {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    write_stderr(&bytes);
}

/// A byte progress bar, hidden unless stderr is a terminal.
pub(crate) struct Bar(ProgressBar);

impl Bar {
    /// A bar for `total` bytes drawn with `template`, labelled `what`.
    fn with_template(total: u64, what: &str, template: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(crate::shown::line(what).into_owned());
        set_active(Some(bar.clone()));
        Self(bar)
    }

    /// A bar for hashing `total` bytes.
    pub(crate) fn hashing(total: u64, what: &str) -> Self {
        Self::with_template(
            total,
            what,
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
    }

    /// A bar for a download (length set as it becomes known).
    pub(crate) fn download() -> Self {
        Self::with_template(
            0,
            "",
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
    }

    /// Whether it is drawn (stderr is a terminal).
    pub(crate) fn visible(&self) -> bool {
        !self.0.is_hidden()
    }

    /// Sets the total, the position and the label.
    pub(crate) fn update(&self, total: u64, done: u64, what: &str) {
        self.0.set_length(total);
        self.0.set_position(done.min(total));
        self.0.set_message(crate::shown::line(what).into_owned());
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
        set_active(None);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

impl metainfo::HashProgress for Bar {
    fn hashed(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
