//! `anthill seed`: seed existing data, super-seeding by default (the origin case).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use swarm::{AddTorrent, TorrentSource};

use super::peer_args::{PeerArgs, human, runtime};
use crate::signals::Shutdown;

/// Arguments of `anthill seed`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file.
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
        let bytes = std::fs::read(&self.torrent)
            .with_context(|| format!("cannot read {}", self.torrent.display()))?;
        let m = metainfo::Metainfo::from_bytes(&bytes)
            .with_context(|| format!("{} is not a valid torrent", self.torrent.display()))?;
        runtime()?.block_on(async move {
            let mut signals = Shutdown::install()?;
            let session = self.peer.start_session().await?;
            let mut add = AddTorrent::seed(m, &self.path);
            add.super_seed = !self.no_super_seed;
            add.peers = self.peer.peers.clone();
            add.trackers = self.peer.trackers.clone();
            let name = add_name(&add);
            let handle = session
                .add_torrent(add)
                .await
                .with_context(|| format!("cannot seed {name}"))?;
            let p = handle.progress();
            if p.pieces_have != p.pieces_total {
                session.shutdown().await;
                bail!(
                    "the data in {} does not match {}: {} of {} pieces failed verification",
                    self.path.display(),
                    self.torrent.display(),
                    p.pieces_total - p.pieces_have,
                    p.pieces_total
                );
            }
            let addrs: Vec<String> = session
                .listen_addrs()
                .iter()
                .map(|a| a.to_string())
                .collect();
            eprintln!(
                "seeding {name} ({}, {} pieces, infohash {}) on {}",
                human(p.bytes_total),
                p.pieces_total,
                handle.infohash(),
                addrs.join(", ")
            );
            signals.recv().await;
            eprintln!("shutting down");
            let up = handle.progress().uploaded;
            session.shutdown().await;
            eprintln!("uploaded {}", human(up));
            Ok(ExitCode::SUCCESS)
        })
    }
}

fn add_name(add: &AddTorrent) -> String {
    match &add.source {
        TorrentSource::Metainfo(m) => m.info().name().to_string(),
        TorrentSource::Magnet(m) => m.name.clone().unwrap_or_else(|| m.infohash.to_hex()),
    }
}
