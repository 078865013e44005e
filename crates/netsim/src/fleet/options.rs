use std::path::PathBuf;
use std::time::Duration;

use super::Client;
use crate::Rate;

/// Which tracker the scenario runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TrackerKind {
    /// Debian's opentracker, whitelist mode.
    #[default]
    Opentracker,
    /// `anthill tracker --http ADDR --udp ADDR`.
    Anthill,
}

/// What [`super::run_fleet`] runs. Build with `..FleetOptions::default()`.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// The client every origin and agent runs.
    pub client: Client,
    /// The tracker.
    pub tracker: TrackerKind,
    /// Number of agent hosts (at least 1).
    pub agents: u32,
    /// Size of the distributed file in bytes (at least 1).
    pub size: u64,
    /// Upload and download limit of the origin and of every agent.
    pub rate: Rate,
    /// Piece length as a power of two (18 = 256 KiB), passed to mktorrent.
    pub piece_length_log2: u8,
    /// How long the agents may take, from the flash-crowd start to the last one done.
    pub deadline: Duration,
    /// Where to keep logs and data. Unset: a temporary directory, removed at the end.
    /// Each host's files go to `hosts/<name>/` below it.
    pub run_dir: Option<PathBuf>,
    /// The `anthill` binary for [`Client::Anthill`] or [`TrackerKind::Anthill`].
    /// Unset: `$ANTHILL_BIN`, else the newer of `target/{release,debug}/anthill`.
    pub anthill_bin: Option<PathBuf>,
    /// Seed of the pseudo-random file content.
    pub content_seed: u64,
    /// Namespace prefix (1-16 characters `[a-z0-9]`).
    pub prefix: String,
}

impl Default for FleetOptions {
    /// The CI scenario: libtorrent, 4 agents, 32 MiB at 50 Mbit/s.
    fn default() -> Self {
        Self {
            client: Client::Libtorrent,
            tracker: TrackerKind::Opentracker,
            agents: 4,
            size: 32 << 20,
            rate: Rate::from_mbit(50),
            piece_length_log2: 18,
            deadline: Duration::from_secs(45),
            run_dir: None,
            anthill_bin: None,
            content_seed: 1,
            prefix: "ahfleet".to_owned(),
        }
    }
}
