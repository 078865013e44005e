//! `anthill get`: download a torrent (file, magnet link or URL), optionally keep seeding.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use swarm::{
    AddTorrent, TorrentError, TorrentHandle, TorrentProgress, TorrentSource, TorrentState,
};

use super::peer_args::{PeerArgs, STATUS_INTERVAL, runtime};
use crate::bytes::{Bytes, count};
use crate::progress::{Bar, say};
use crate::shown::{self, Shown};
use crate::signals::Shutdown;

/// Arguments of `anthill get`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .torrent file (`-` for stdin), a magnet link (BEP 9) or an http:// URL of a .torrent.
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

/// How long without any peer before `get` says why it is waiting.
const NO_PEER_WARNING: Duration = STATUS_INTERVAL;

/// Where peers can come from, to explain a download that gets none.
struct PeerSources {
    /// The torrent's or magnet's trackers and `--tracker`.
    trackers: Vec<String>,
    /// `--peer` and the magnet's `x.pe`.
    peers: Vec<SocketAddr>,
    /// Web seeds (data without peers).
    web_seeds: usize,
    /// A magnet link (its words are `tr=` and `x.pe=`).
    magnet: bool,
    /// Where we listen, for peers that connect to us.
    listening: Vec<SocketAddr>,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        crate::logging::init(crate::logging::LogFormat::Text);
        runtime()?.block_on(self.run_async())
    }

    async fn run_async(self) -> anyhow::Result<ExitCode> {
        let mut signals = Shutdown::install()?;
        let source = load_source(&self.source).await?;
        // Sizes shown are the content, without BEP 47 padding: from the
        // torrent's info, or the magnet's `xl` until the metadata arrives.
        let content = match &source {
            TorrentSource::Metainfo(m) => Some(m.info().content_length()),
            TorrentSource::Magnet(m) => m.length,
        };
        let session = self.peer.start_session().await?;
        let mut sources = peer_sources(&source, &self.peer);
        sources.listening = session.listen_addrs();
        let mut add = AddTorrent::download(source, &self.output);
        add.peers = self.peer.peers.clone();
        add.trackers = self.peer.trackers.clone();
        let handle = session
            .add_torrent(add)
            .await
            .with_context(|| format!("cannot download {}", Shown(&self.source)))?;
        let done = tokio::select! {
            r = watch(&handle, content, &sources) => Some(r),
            () = signals.recv() => None,
        };
        match done {
            None => {
                session.shutdown().await;
                // The last progress: the final resume save is in it.
                say(&interrupted(&handle.progress()));
                return Ok(ExitCode::FAILURE);
            }
            Some(Err(e)) => {
                session.shutdown().await;
                bail!("download failed: {e}");
            }
            Some(Ok(())) => {}
        }
        let p = handle.progress();
        let name = p.name.clone().unwrap_or_default();
        say(&format!(
            "complete: {} ({}) verified in {}; received {}",
            Shown(&name),
            Bytes(content.unwrap_or(p.bytes_total)),
            shown::path(&self.output),
            Bytes(p.downloaded)
        ));
        let mut code = ExitCode::SUCCESS;
        if let Some(cmd) = &self.on_complete {
            let path = self.output.join(&name);
            let status = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("ANTHILL_PATH", &path)
                .env("ANTHILL_INFOHASH", handle.infohash().to_hex())
                .status()
                .await
                .with_context(|| format!("cannot run --on-complete command {cmd:?}"))?;
            if !status.success() {
                say(&format!(
                    "anthill: --on-complete command exited with {status}"
                ));
                code = ExitCode::FAILURE;
            }
        }
        if self.seed {
            say("seeding until interrupted");
            signals.recv().await;
        }
        session.shutdown().await;
        Ok(code)
    }
}

fn peer_sources(source: &TorrentSource, args: &PeerArgs) -> PeerSources {
    let mut s = PeerSources {
        trackers: args.trackers.clone(),
        peers: args.peers.clone(),
        web_seeds: 0,
        magnet: false,
        listening: Vec::new(),
    };
    match source {
        TorrentSource::Metainfo(m) => {
            s.trackers.extend(m.trackers().map(str::to_string));
            s.web_seeds = m.web_seeds().len();
        }
        TorrentSource::Magnet(m) => {
            s.magnet = true;
            s.trackers.extend(m.trackers.iter().cloned());
            s.web_seeds = m.web_seeds.len();
            s.peers
                .extend(m.peers.iter().filter_map(|p| p.parse::<SocketAddr>().ok()));
        }
    }
    s
}

/// What to say on SIGTERM, from the progress after the shutdown: what was
/// verified, and whether the resume state could not be saved (the data is
/// still found then, by rehashing it).
fn interrupted(p: &TorrentProgress) -> String {
    if p.pieces_total == 0 {
        "interrupted before the torrent's metadata arrived; nothing was downloaded".into()
    } else if p.pieces_have == 0 {
        "interrupted before any piece was verified; nothing to resume".into()
    } else {
        let mut line = format!(
            "interrupted with {} of {} verified; run the same command again to resume",
            p.pieces_have,
            count(p.pieces_total as usize, "piece")
        );
        if let Some(e) = &p.last_resume_error {
            line.push_str(&format!(
                " (the resume state could not be saved, so the data will be rehashed: {e})"
            ));
        }
        line
    }
}

/// Says, once, why no peer has come after a while.
async fn explain_no_peers(sources: &PeerSources) {
    let listening = sources
        .listening
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if sources.trackers.is_empty() && sources.peers.is_empty() {
        let what = if sources.magnet {
            "the magnet link has no tracker (tr=)"
        } else {
            "the torrent has no tracker"
        };
        let seeds = if sources.web_seeds > 0 {
            " (only its web seeds can help)"
        } else {
            ""
        };
        say(&format!(
            "no peers: {what} and no --peer was given{seeds}; waiting for peers to connect \
             to {listening} (add --peer ADDR or --tracker URL)"
        ));
        return;
    }
    for addr in &sources.peers {
        let probe =
            tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
                .await;
        match probe {
            Ok(Ok(_)) => say(&format!(
                "no peers yet: {addr} accepts connections but has not joined \
                 (it may not have this torrent)"
            )),
            Ok(Err(e)) => say(&format!("no peers yet: cannot connect to {addr}: {e}")),
            Err(_) => say(&format!("no peers yet: {addr} did not answer within 3 s")),
        }
    }
    if !sources.trackers.is_empty() {
        say(&format!(
            "no peers yet: the trackers ({}) have returned none so far",
            shown::line(&sources.trackers.join(", "))
        ));
    }
}

/// The end of a download: `Some` once it completed or the engine stopped it.
fn outcome(p: &TorrentProgress) -> Option<Result<(), TorrentError>> {
    match &p.state {
        TorrentState::Seeding => Some(Ok(())),
        TorrentState::Failed(e) => Some(Err(e.clone())),
        TorrentState::Stopped => Some(Err(TorrentError::Stopped)),
        _ => None,
    }
}

/// Shows progress until the torrent is complete (Ok) or failed (Err). Wakes
/// on the engine's progress updates, and for the timed status lines.
async fn watch(
    handle: &TorrentHandle,
    content: Option<u64>,
    sources: &PeerSources,
) -> Result<(), TorrentError> {
    let bar = Bar::download();
    let started = tokio::time::Instant::now();
    let mut last_status = started;
    let mut seen_peer = false;
    let mut explained = false;
    let mut rx = handle.watch();
    let result = loop {
        let p = rx.borrow_and_update().clone();
        if let Some(r) = outcome(&p) {
            break r;
        }
        seen_peer |= p.peers > 0 || p.bytes_have > 0;
        if !seen_peer && !explained && started.elapsed() >= NO_PEER_WARNING {
            explained = true;
            explain_no_peers(sources).await;
        }
        let total = content
            .filter(|_| p.pieces_total > 0)
            .unwrap_or(p.bytes_total);
        if bar.visible() {
            bar.update(
                total,
                p.bytes_have,
                &format!("{} peers {}", name(&p), p.peers),
            );
        } else if last_status.elapsed() >= STATUS_INTERVAL {
            last_status = tokio::time::Instant::now();
            say(&status_line(&p, total));
        }
        // The next timed line: the status line (no bar), or the no-peer
        // explanation.
        let status_at = (!bar.visible()).then_some(last_status + STATUS_INTERVAL);
        let explain_at = (!seen_peer && !explained).then_some(started + NO_PEER_WARNING);
        let changed = match status_at.into_iter().chain(explain_at).min() {
            Some(at) => tokio::time::timeout_at(at, rx.changed())
                .await
                .unwrap_or(Ok(())),
            None => rx.changed().await,
        };
        if changed.is_err() {
            // The torrent's actor ended: its last word, or it is gone.
            break outcome(&rx.borrow()).unwrap_or(Err(TorrentError::Removed));
        }
    };
    bar.finish();
    result
}

fn name(p: &TorrentProgress) -> String {
    p.name.as_deref().map_or_else(
        || "(fetching metadata)".into(),
        |n| shown::line(n).into_owned(),
    )
}

fn status_line(p: &TorrentProgress, total: u64) -> String {
    let have = p.bytes_have.min(total);
    let pct = if total > 0 {
        have as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    format!(
        "{}: {:.1}% of {}, {}/{} pieces, {} peers, down {}/s up {}/s",
        name(p),
        pct,
        Bytes(total),
        p.pieces_have,
        p.pieces_total,
        p.peers,
        Bytes(p.download_rate),
        Bytes(p.upload_rate)
    )
}

/// Reads the torrent: a magnet link, an http:// URL or a file (`-` for stdin).
async fn load_source(s: &str) -> anyhow::Result<TorrentSource> {
    if s.starts_with("magnet:") {
        let m: metainfo::Magnet = s.parse().context("invalid magnet link")?;
        return Ok(TorrentSource::Magnet(Box::new(m)));
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        let bytes = http_get(s)
            .await
            .with_context(|| format!("cannot fetch {}", Shown(s)))?;
        let m = metainfo::Metainfo::from_bytes(&bytes)
            .with_context(|| format!("{} is not a valid torrent", Shown(s)))?;
        return Ok(TorrentSource::Metainfo(Box::new(m)));
    }
    let m = crate::cmd::torrent::load(Path::new(s))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_says_what_was_verified_and_whether_it_was_saved() {
        let mut p = TorrentProgress {
            pieces_have: 3,
            pieces_total: 10,
            ..TorrentProgress::default()
        };
        let saved = interrupted(&p);
        assert!(
            saved.starts_with("interrupted with 3 of 10 pieces verified"),
            "{saved}"
        );
        assert!(!saved.contains("could not be saved"), "{saved}");
        p.resume_errors = 1;
        p.last_resume_error = Some(TorrentError::Bug("injected".into()));
        let unsaved = interrupted(&p);
        assert!(unsaved.contains("could not be saved"), "{unsaved}");
        assert_eq!(unsaved.matches("injected").count(), 1, "{unsaved}");
    }
}
