//! Flags shared by `seed` and `get`: listeners, peers, limits, and the
//! session/runtime plumbing both commands need.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use swarm::{Rate, Session, SessionOptions};

/// Engine flags common to `anthill seed` and `anthill get`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PeerArgs {
    /// Accept peers on this address (repeatable; IPv4 or IPv6; port 0 picks
    /// a free port). Default: 0.0.0.0:6881 and [::]:6881, or free ports if taken.
    #[arg(
        long = "listen",
        value_name = "ADDR",
        env = "ANTHILL_LISTEN",
        value_delimiter = ','
    )]
    pub(crate) listen: Vec<SocketAddr>,
    /// Connect to this peer (repeatable), e.g. 10.0.0.5:6881 or [fd00::5]:6881.
    #[arg(long = "peer", value_name = "ADDR")]
    pub(crate) peers: Vec<SocketAddr>,
    /// Also announce to this tracker (repeatable; http:// or udp://), besides
    /// the torrent's own (BEP 3, 12, 15).
    #[arg(long = "tracker", value_name = "URL", value_parser = crate::cmd::torrent::create::parse_tracker)]
    pub(crate) trackers: Vec<String>,
    /// Upload limit in bytes/s for the whole session (e.g. 10M, 512k; 0 = unlimited).
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = Rate::parse, env = "ANTHILL_MAX_UPLOAD_RATE")]
    pub(crate) max_upload_rate: Rate,
    /// Download limit in bytes/s for the whole session (e.g. 10M; 0 = unlimited).
    #[arg(long, value_name = "RATE", default_value = "0", value_parser = Rate::parse, env = "ANTHILL_MAX_DOWNLOAD_RATE")]
    pub(crate) max_download_rate: Rate,
    /// Most peer connections (all torrents).
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub(crate) max_connections: usize,
    /// Use tit-for-tat choking (public swarms) instead of fleet mode, where
    /// every interested peer is served.
    #[arg(long)]
    pub(crate) tit_for_tat: bool,
    /// TCP congestion control of peer connections (Linux), or `system` for
    /// the kernel's default. Loss-based control keeps the many flows of a
    /// swarm from overflowing shallow queues, where BBR v1 retransmits much.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "cubic",
        env = "ANTHILL_TCP_CONGESTION"
    )]
    pub(crate) tcp_congestion: String,
}

impl PeerArgs {
    fn options(&self, listen: Vec<SocketAddr>) -> SessionOptions {
        SessionOptions {
            listen,
            upload_rate: self.max_upload_rate,
            download_rate: self.max_download_rate,
            max_connections: self.max_connections,
            choke_mode: if self.tit_for_tat {
                swarm::choker::ChokeMode::TitForTat { slots: 4 }
            } else {
                swarm::choker::ChokeMode::default()
            },
            tcp_congestion: SessionOptions::tcp_congestion_named(&self.tcp_congestion),
            ..SessionOptions::default()
        }
    }

    /// Starts a session on the requested listeners (or the defaults, falling
    /// back to free ports and to IPv4 only when needed).
    pub(crate) async fn start_session(&self) -> anyhow::Result<Session> {
        if !self.listen.is_empty() {
            return Session::new(self.options(self.listen.clone()))
                .await
                .context("cannot start the peer engine");
        }
        let v4 = |p| SocketAddr::from(([0, 0, 0, 0], p));
        let v6 = |p| SocketAddr::from(([0u16; 8], p));
        let mut last = None;
        for listen in [
            vec![v4(6881), v6(6881)],
            vec![v4(6881)],
            vec![v4(0), v6(0)],
            vec![v4(0)],
        ] {
            match Session::new(self.options(listen)).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(anyhow::Error::new(last.expect("at least one attempt")))
            .context("cannot start the peer engine")
    }
}

/// Builds the tokio runtime the engine commands run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("anthill")
        .build()
        .context("cannot start the async runtime")
}

/// How often the one-line status is printed when stderr is not a terminal.
pub(crate) const STATUS_INTERVAL: Duration = Duration::from_secs(5);
