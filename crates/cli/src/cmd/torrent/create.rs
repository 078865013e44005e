use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use metainfo::{CreateOptions, HashOptions, Metainfo, PieceLength, TorrentPlan};

use crate::bytes::{Bytes, rate};
use crate::progress::HashBar;

/// Arguments of `anthill torrent create`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// File or directory to share (directories are read recursively, in a
    /// fixed order: the same tree gives the same infohash on any machine).
    path: PathBuf,
    /// Where to write the torrent (`-` for stdout) [default: <NAME>.torrent].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
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
        let plan = TorrentPlan::new(&self.path, &options)
            .with_context(|| format!("cannot create a torrent of {}", self.path.display()))?;
        let output = match &self.output {
            Some(o) => o.clone(),
            None => PathBuf::from(format!("{}.torrent", plan.info().name())),
        };
        let to_stdout = output.as_os_str() == "-";
        if !to_stdout && !self.force && output.exists() {
            anyhow::bail!(
                "{} already exists (use --force to overwrite it)",
                output.display()
            );
        }
        if !to_stdout {
            refuse_output_inside(&output, &self.path)?;
        }
        let bar = HashBar::new(plan.total_length(), "hashing");
        let started = Instant::now();
        let hash_options = HashOptions {
            threads: self.threads,
            ..HashOptions::default()
        };
        let info = plan.hash(&hash_options, &bar);
        bar.finish();
        let info =
            info.with_context(|| format!("cannot create a torrent of {}", self.path.display()))?;
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
        if to_stdout {
            std::io::stdout().write_all(&bytes)?;
        } else {
            write_file(&output, &bytes, self.force)?;
        }
        let info = torrent.info();
        let summary = format!(
            "created {}: infohash {}, {} files, {}, {} pieces of {} (hashed in {:.2} s, {})",
            if to_stdout {
                "<stdout>".to_string()
            } else {
                output.display().to_string()
            },
            torrent.infohash(),
            plan.file_count(),
            Bytes(plan.data_length()),
            info.num_pieces(),
            Bytes(info.piece_length()),
            elapsed,
            rate(plan.total_length(), elapsed),
        );
        if to_stdout {
            writeln!(std::io::stderr(), "{summary}")?;
        } else {
            writeln!(std::io::stdout(), "{summary}")?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn write_file(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A torrent written into the tree it describes would be shared by the next
/// run over the same tree (and change its infohash): refuse it.
fn refuse_output_inside(output: &Path, root: &Path) -> anyhow::Result<()> {
    if !root.is_dir() {
        return Ok(());
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (Ok(root), Ok(parent)) = (std::fs::canonicalize(root), std::fs::canonicalize(parent))
    else {
        return Ok(()); // a missing output directory fails at write time with its own message
    };
    if parent.starts_with(&root) {
        anyhow::bail!(
            "{} would be written inside {}, the tree being shared; write it elsewhere with -o",
            output.display(),
            root.display()
        );
    }
    Ok(())
}

/// Parses one `--announce` tier: comma-separated tracker URLs.
fn parse_tier(s: &str) -> Result<Vec<String>, String> {
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
