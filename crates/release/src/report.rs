//! What an agent reports to its hub (`POST /api/agents/report`, JSON): its
//! name, the release `current` names, and per release its state, progress,
//! rates, where its bytes came from and its hook's result. The hub keeps the
//! latest report of each agent; agents send one every few seconds while
//! something changes and every minute otherwise.
//!
//! Reports are untrusted input to the hub: [`AgentReport::validate`] bounds
//! the count of releases and every string's length and checks names like
//! release names.

use serde::{Deserialize, Serialize};

/// Most releases in one report.
pub const MAX_RELEASES: usize = 64;
/// Largest report body, in bytes.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;
/// Longest string field kept (longer ones keep their tail).
pub const MAX_TEXT: usize = 4096;

/// One agent's report (`POST /api/agents/report`, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// The agent's name (default: its host name): letters, digits and `._+-~@`.
    pub name: String,
    /// Its anthill version.
    #[serde(default)]
    pub version: Option<String>,
    /// The release `current` points to, if any.
    #[serde(default)]
    pub current: Option<String>,
    /// The releases it knows of, newest first.
    #[serde(default)]
    pub releases: Vec<ReleaseReport>,
}

/// One release as an agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseReport {
    /// Infohash, 40 hex digits.
    pub infohash: String,
    /// Release name.
    #[serde(default)]
    pub name: Option<String>,
    /// seen, downloading, verified, installed, failed, refused, skipped…
    pub state: String,
    /// Verified share of the content, 0 to 1.
    #[serde(default)]
    pub progress: f64,
    /// Bytes/s.
    #[serde(default)]
    pub download_rate: u64,
    /// Bytes/s.
    #[serde(default)]
    pub upload_rate: u64,
    /// Content bytes received from peers.
    #[serde(default)]
    pub from_peers: u64,
    /// Content bytes received from the hub (its seeder and web seed).
    #[serde(default)]
    pub from_hub: u64,
    /// The install hook's result.
    #[serde(default)]
    pub hook: Option<HookReport>,
    /// The last error, if any.
    #[serde(default)]
    pub error: Option<String>,
    /// When `current` was switched to this release, unix milliseconds (by
    /// the agent's clock; absent if another process of the agent did it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched_at_ms: Option<u64>,
}

/// The install hook's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookReport {
    /// Exit code; `None` if killed (timeout) or not started.
    pub exit_code: Option<i32>,
    /// The tail of its output.
    #[serde(default)]
    pub output_tail: String,
}

/// Why a report is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// A field is out of bounds.
    #[error("invalid report: {0}")]
    Invalid(String),
    /// The hub tracks as many agents as it will already.
    #[error("the hub already tracks {0} agents")]
    Full(usize),
}

impl AgentReport {
    /// Checks every bound; trims what may be long.
    pub fn validate(mut self) -> Result<Self, ReportError> {
        let bad = |m: String| Err(ReportError::Invalid(m));
        if crate::ReleaseName::new(&self.name).is_err() {
            return bad(format!(
                "agent name {:?}: use 1-128 letters, digits and . _ + - ~ @",
                self.name
            ));
        }
        if self.releases.len() > MAX_RELEASES {
            return bad(format!(
                "{} releases; at most {MAX_RELEASES}",
                self.releases.len()
            ));
        }
        for r in &mut self.releases {
            if metainfo::Infohash::from_hex(&r.infohash).is_err() {
                return bad(format!("infohash {:?} is not 40 hex digits", r.infohash));
            }
            if r.state.is_empty()
                || r.state.len() > 32
                || !r.state.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                return bad(format!("state {:?}", r.state));
            }
            if !(0.0..=1.0).contains(&r.progress) {
                return bad(format!("progress {} is not between 0 and 1", r.progress));
            }
            clip(&mut r.error);
            clip(&mut r.name);
            if let Some(h) = &mut r.hook {
                truncate(&mut h.output_tail);
            }
        }
        clip(&mut self.version);
        clip(&mut self.current);
        Ok(self)
    }
}

fn clip(s: &mut Option<String>) {
    if let Some(s) = s {
        truncate(s);
    }
}

/// Keeps the last [`MAX_TEXT`] bytes (a char boundary), controls replaced.
fn truncate(s: &mut String) {
    if s.len() > MAX_TEXT {
        let mut cut = s.len() - MAX_TEXT;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        *s = s[cut..].to_string();
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        *s = s
            .chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
    }
}
