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

/// What the agents download.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Payload {
    /// One file of pseudo-random bytes (mktorrent).
    #[default]
    File,
    /// A directory of `files` files of mixed sizes (log-normal: median
    /// 35 KiB, 90th percentile 230 KiB, scaled to the size), like a real
    /// release. `aligned`: made by `anthill torrent create` with BEP 47 pad
    /// files (every file on a piece boundary); otherwise by mktorrent,
    /// files packed back to back.
    Tree {
        /// Number of files.
        files: u32,
        /// BEP 47 aligned.
        aligned: bool,
    },
}

/// Upload and download limits of the origin and of every agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Links {
    /// The origin's upload.
    pub origin_up: Rate,
    /// The origin's download.
    pub origin_down: Rate,
    /// Each agent's upload.
    pub agent_up: Rate,
    /// Each agent's download.
    pub agent_down: Rate,
}

impl Links {
    /// The same rate everywhere, both directions.
    pub fn symmetric(rate: Rate) -> Self {
        Self {
            origin_up: rate,
            origin_down: rate,
            agent_up: rate,
            agent_down: rate,
        }
    }
}

impl std::fmt::Display for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Self::symmetric(self.origin_up) {
            return write!(f, "{}", self.origin_up);
        }
        let m = |r: Rate| r.bits_per_sec() as f64 / 1e6;
        write!(
            f,
            "o{}/{} a{}/{}",
            m(self.origin_up),
            m(self.origin_down),
            m(self.agent_up),
            m(self.agent_down)
        )
    }
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
    /// Upload and download limit of the origin and of every agent, unless
    /// [`FleetOptions::links`] says otherwise.
    pub rate: Rate,
    /// Separate origin and agent limits (default: `rate` everywhere).
    pub links: Option<Links>,
    /// One file or a tree of many.
    pub payload: Payload,
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
            links: None,
            payload: Payload::File,
            piece_length_log2: 18,
            deadline: Duration::from_secs(45),
            run_dir: None,
            anthill_bin: None,
            content_seed: 1,
            prefix: "ahfleet".to_owned(),
        }
    }
}

impl FleetOptions {
    /// The limits of every link.
    pub fn links(&self) -> Links {
        self.links.unwrap_or(Links::symmetric(self.rate))
    }
}
