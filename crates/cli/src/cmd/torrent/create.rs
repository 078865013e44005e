use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use metainfo::{CreateOptions, HashOptions, Metainfo, PieceLength, TorrentPlan};

use crate::bytes::{Bytes, count, rate};
use crate::output::{self, Input, OutputFile};
use crate::progress::Bar;
use crate::shown;

/// Arguments of `anthill torrent create`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// File or directory to share (directories are read recursively, in a
    /// fixed order: the same tree gives the same infohash on any machine).
    path: PathBuf,
    /// Where to write the torrent (`-` for stdout, not a terminal) [default: <NAME>.torrent].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the output file if it exists (never one of the files being shared).
    #[arg(short, long)]
    force: bool,
    /// Tracker URL; repeat for more tiers, separate URLs of one tier with
    /// commas (BEP 12 announce-list).
    #[arg(short, long, value_name = "URL[,URL…]", value_parser = parse_tier)]
    announce: Vec<Vec<String>>,
    /// Web seed URL (BEP 19); repeatable.
    #[arg(short, long, value_name = "URL", value_parser = parse_web_seed)]
    web_seed: Vec<String>,
    /// Piece length: a power of two from 16K to 256M, e.g. 256K, 1M, 4MiB
    /// [default: 16 KiB to 16 MiB, aiming at 1000–2000 pieces].
    #[arg(short = 'l', long, value_name = "SIZE")]
    piece_length: Option<PieceLength>,
    /// Set the private flag (BEP 27): peers only from the trackers.
    #[arg(short, long)]
    private: bool,
    /// Comment stored in the torrent.
    #[arg(short, long)]
    comment: Option<String>,
    /// `source` string, part of the infohash (separates otherwise identical swarms).
    #[arg(short, long)]
    source: Option<String>,
    /// Omit the creation date, so the same tree gives a byte-identical file.
    #[arg(long)]
    no_date: bool,
    /// Torrent name [default: the last component of PATH].
    #[arg(short, long)]
    name: Option<String>,
    /// Do not insert BEP 47 pad files; by default every file of a
    /// multi-file torrent starts on a piece boundary, so unchanged files keep
    /// their piece hashes across releases.
    #[arg(long)]
    no_align: bool,
    /// Hashing threads [default: one per core].
    #[arg(
        short,
        long,
        value_name = "N",
        default_value_t = 0,
        hide_default_value = true
    )]
    threads: usize,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let options = CreateOptions {
            piece_length: self.piece_length,
            align: !self.no_align,
            private: self.private,
            source: self.source.clone(),
            name: self.name.clone(),
            ..CreateOptions::default()
        };
        let shown_path = shown::path(&self.path);
        let plan = TorrentPlan::new(&self.path, &options)
            .with_context(|| format!("cannot create a torrent of {shown_path}"))?;
        let output = match &self.output {
            Some(o) => o.clone(),
            None => PathBuf::from(format!("{}.torrent", plan.info().name())),
        };
        // Every check on the output before the long part (hashing).
        let to_stdout = output.as_os_str() == "-";
        let target = if to_stdout {
            output::check_binary_stdout()?;
            None
        } else {
            let what = if self.path.is_dir() {
                "the tree being shared"
            } else {
                "the file being shared"
            };
            let input = Input {
                path: &self.path,
                what,
            };
            Some(OutputFile::prepare(&output, &[input], self.force)?)
        };
        let bar = Bar::hashing(plan.data_length(), "hashing");
        let started = Instant::now();
        let hash_options = HashOptions {
            threads: self.threads,
            ..HashOptions::default()
        };
        let info = plan.hash(&hash_options, &bar);
        bar.finish();
        let info = info.with_context(|| format!("cannot create a torrent of {shown_path}"))?;
        let elapsed = started.elapsed().as_secs_f64();
        let date = if self.no_date {
            None
        } else {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok())
        };
        let torrent = Metainfo::new(info)
            .with_announce(self.announce)
            .with_web_seeds(self.web_seed)
            .with_comment(self.comment)
            .with_created_by(Some(format!("anthill {}", env!("CARGO_PKG_VERSION"))))
            .with_creation_date(date);
        let bytes = torrent.to_bytes();
        // Never write a file we would not accept ourselves.
        let back = Metainfo::from_bytes(&bytes).context("the torrent just built does not parse")?;
        anyhow::ensure!(
            back.infohash() == torrent.infohash(),
            "the torrent just built changed its infohash when parsed (this is a bug)"
        );
        // The summary goes to stderr when stdout may be where the torrent went.
        let summary_to_stderr = target.as_ref().is_none_or(OutputFile::is_special);
        match target {
            Some(t) => t.commit(&bytes)?,
            None => output::write_stdout(&bytes)?,
        }
        let info = torrent.info();
        let summary = format!(
            "created {}: infohash {}, {}, {}, {} of {} (hashed in {:.2} s, {})",
            if to_stdout {
                "<stdout>".to_string()
            } else {
                shown::path(&output)
            },
            torrent.infohash(),
            count(plan.file_count(), "file"),
            Bytes(plan.data_length()),
            count(info.num_pieces(), "piece"),
            Bytes(info.piece_length()),
            elapsed,
            rate(plan.data_length(), elapsed),
        );
        if summary_to_stderr {
            crate::progress::say(&summary);
        } else {
            let mut out = output::stdout()?;
            writeln!(out, "{summary}")?;
            out.flush()?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Parses one `--announce` tier: comma-separated tracker URLs.
pub(crate) fn parse_tier(s: &str) -> Result<Vec<String>, String> {
    let urls: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if urls.is_empty() {
        return Err("empty tracker URL".into());
    }
    for u in &urls {
        check_url(u, &["http", "https", "udp"])?;
    }
    Ok(urls)
}

fn parse_web_seed(s: &str) -> Result<String, String> {
    check_url(s, &["http", "https", "ftp"])?;
    Ok(s.to_string())
}

/// One tracker URL (`seed`/`get --tracker`): http, https or udp, with a host.
pub(crate) fn parse_tracker(s: &str) -> Result<String, String> {
    check_url(s, &["http", "https", "udp"])?;
    Ok(s.to_string())
}

fn check_url(url: &str, schemes: &[&str]) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL (expected scheme://host/…)"))?;
    if !schemes.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{url:?}: unsupported scheme {scheme:?} (expected {})",
            schemes.join(", ")
        ));
    }
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(
            parse_tier("http://a/announce, udp://b:6969").unwrap(),
            vec!["http://a/announce", "udp://b:6969"]
        );
        assert!(parse_tier("").is_err());
        assert!(parse_tier("a/announce").is_err());
        assert!(parse_tier("gopher://a/").is_err());
        assert!(parse_tier("http:///x").is_err());
        assert!(parse_web_seed("https://mirror/files/").is_ok());
        assert!(parse_web_seed("udp://mirror/").is_err());
    }
}
