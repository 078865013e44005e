//! `anthill seed`: seed existing data, super-seeding by default (the origin case).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use swarm::AddTorrent;

use super::peer_args::{PeerArgs, runtime};
use crate::bytes::{Bytes, count};
use crate::progress::say;
use crate::shown::{self, Shown};
use crate::signals::Shutdown;

/// Arguments of `anthill seed`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file (`-` reads it from stdin).
    torrent: PathBuf,
    /// Directory holding the data: the file (or top directory) named as in
    /// the torrent lives directly below it. Never modified: a missing or
    /// wrong-size file is an error.
    #[arg(long, value_name = "DIR")]
    path: PathBuf,
    /// Serve every piece normally instead of BEP 16 super-seeding. Super-seeding
    /// (the default) makes the origin send each piece out as few times as
    /// possible; turn it off when other complete seeds exist.
    #[arg(long)]
    no_super_seed: bool,
    #[command(flatten)]
    peer: PeerArgs,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        crate::logging::init(crate::logging::LogFormat::Text);
        let m = crate::cmd::torrent::load(&self.torrent)?;
        // What a user is shown is the content, without BEP 47 padding.
        let size = m.info().content_length();
        let name = m.info().name().to_string();
        runtime()?.block_on(async move {
            let mut signals = Shutdown::install()?;
            let session = self.peer.start_session().await?;
            let mut add = AddTorrent::seed(m, &self.path);
            add.super_seed = !self.no_super_seed;
            add.peers = self.peer.peers.clone();
            add.trackers = self.peer.trackers.clone();
            let handle = session
                .add_torrent(add)
                .await
                .with_context(|| format!("cannot seed {}", Shown(&name)))?;
            let p = handle.progress();
            if p.pieces_have != p.pieces_total {
                session.shutdown().await;
                bail!(
                    "the data in {} does not match {}: {} of {} failed verification",
                    shown::path(&self.path),
                    crate::input::name(&self.torrent),
                    p.pieces_total - p.pieces_have,
                    count(p.pieces_total as usize, "piece"),
                );
            }
            let addrs: Vec<String> = session
                .listen_addrs()
                .iter()
                .map(|a| a.to_string())
                .collect();
            say(&format!(
                "seeding {} ({}, {}, infohash {}) on {}",
                Shown(&name),
                Bytes(size),
                count(p.pieces_total as usize, "piece"),
                handle.infohash(),
                addrs.join(", ")
            ));
            signals.recv().await;
            say("shutting down");
            let up = handle.progress().uploaded;
            session.shutdown().await;
            say(&format!("uploaded {}", Bytes(up)));
            Ok(ExitCode::SUCCESS)
        })
    }
}
