//! `anthill get`: download a torrent (file, magnet link or URL), optionally keep seeding.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use swarm::{AddTorrent, TorrentHandle, TorrentProgress, TorrentSource, TorrentState};

use super::peer_args::{PeerArgs, STATUS_INTERVAL, human, runtime};
use crate::signals::Shutdown;

/// Arguments of `anthill get`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .torrent file, a magnet link (BEP 9) or an http:// URL of a .torrent.
    source: String,
    /// Directory to download into (the torrent's file or top directory is
    /// created below it). Resume state lives in DIR/.anthill/.
    #[arg(long, short, value_name = "DIR")]
    output: PathBuf,
    /// Keep seeding after the download completes, until SIGTERM or ctrl-c.
    #[arg(long)]
    seed: bool,
    /// Run this shell command once the data is complete and verified (also
    /// with --seed). It gets ANTHILL_PATH (the downloaded file or directory)
    /// and ANTHILL_INFOHASH in its environment.
    #[arg(long, value_name = "CMD")]
    on_complete: Option<String>,
    #[command(flatten)]
    peer: PeerArgs,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        crate::logging::init(crate::logging::LogFormat::Text);
        runtime()?.block_on(self.run_async())
    }

    async fn run_async(self) -> anyhow::Result<ExitCode> {
        let mut signals = Shutdown::install()?;
        let source = load_source(&self.source).await?;
        let session = self.peer.start_session().await?;
        let mut add = AddTorrent::download(source, &self.output);
        add.peers = self.peer.peers.clone();
        add.trackers = self.peer.trackers.clone();
        let handle = session
            .add_torrent(add)
            .await
            .with_context(|| format!("cannot download {}", self.source))?;
        let done = tokio::select! {
            r = watch(&handle) => Some(r),
            () = signals.recv() => None,
        };
        match done {
            None => {
                eprintln!("interrupted; state saved, run again to resume");
                session.shutdown().await;
                return Ok(ExitCode::FAILURE);
            }
            Some(Err(e)) => {
                session.shutdown().await;
                bail!("download failed: {e}");
            }
            Some(Ok(())) => {}
        }
        let p = handle.progress();
        eprintln!(
            "complete: {} ({}) verified in {}; received {}",
            p.name.clone().unwrap_or_default(),
            human(p.bytes_total),
            self.output.display(),
            human(p.downloaded)
        );
        let mut code = ExitCode::SUCCESS;
        if let Some(cmd) = &self.on_complete {
            let path = self.output.join(p.name.clone().unwrap_or_default());
            let status = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("ANTHILL_PATH", &path)
                .env("ANTHILL_INFOHASH", handle.infohash().to_hex())
                .status()
                .await
                .with_context(|| format!("cannot run --on-complete command {cmd:?}"))?;
            if !status.success() {
                eprintln!("anthill: --on-complete command exited with {status}");
                code = ExitCode::FAILURE;
            }
        }
        if self.seed {
            eprintln!("seeding until interrupted");
            signals.recv().await;
        }
        session.shutdown().await;
        Ok(code)
    }
}

/// Shows progress until the torrent is complete (Ok) or failed (Err).
async fn watch(handle: &TorrentHandle) -> Result<(), String> {
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    let mut last_status = tokio::time::Instant::now();
    let result = loop {
        let p = handle.progress();
        match &p.state {
            TorrentState::Seeding => break Ok(()),
            TorrentState::Error(e) => break Err(e.clone()),
            TorrentState::Stopped => break Err("torrent stopped".into()),
            _ => {}
        }
        if let Some(b) = &bar {
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_have);
            b.set_message(format!("{} peers {}", name(&p), p.peers));
        } else if last_status.elapsed() >= STATUS_INTERVAL {
            last_status = tokio::time::Instant::now();
            eprintln!("{}", status_line(&p));
        }
        tokio::time::sleep(Duration::from_millis(if tty { 200 } else { 250 })).await;
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

fn name(p: &TorrentProgress) -> String {
    p.name
        .clone()
        .unwrap_or_else(|| "(fetching metadata)".into())
}

fn status_line(p: &TorrentProgress) -> String {
    let pct = if p.bytes_total > 0 {
        p.bytes_have as f64 * 100.0 / p.bytes_total as f64
    } else {
        0.0
    };
    format!(
        "{}: {:.1}% {}/{} pieces, {} peers, down {}/s up {}/s",
        name(p),
        pct,
        p.pieces_have,
        p.pieces_total,
        p.peers,
        human(p.download_rate),
        human(p.upload_rate)
    )
}

/// Reads the torrent: a magnet link, an http:// URL or a file.
async fn load_source(s: &str) -> anyhow::Result<TorrentSource> {
    if s.starts_with("magnet:") {
        let m: metainfo::Magnet = s.parse().context("invalid magnet link")?;
        return Ok(TorrentSource::Magnet(Box::new(m)));
    }
    let bytes = if s.starts_with("http://") || s.starts_with("https://") {
        http_get(s)
            .await
            .with_context(|| format!("cannot fetch {s}"))?
    } else {
        std::fs::read(s).with_context(|| format!("cannot read {s}"))?
    };
    let m = metainfo::Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{s} is not a valid torrent"))?;
    Ok(TorrentSource::Metainfo(Box::new(m)))
}

async fn http_get(url: &str) -> anyhow::Result<Vec<u8>> {
    let resp = swarm::http::get(
        url,
        &[],
        metainfo::MAX_TORRENT_FILE_SIZE,
        Duration::from_secs(30),
    )
    .await?;
    if resp.status != 200 {
        bail!("HTTP status {}", resp.status);
    }
    Ok(resp.body)
}
