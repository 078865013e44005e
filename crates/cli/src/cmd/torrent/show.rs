use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use metainfo::{Magnet, Metainfo};

use crate::bytes::Bytes;

/// Arguments of `anthill torrent show`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file.
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let m = super::load(&self.file)?;
        let mut out = std::io::stdout().lock();
        if self.json {
            serde_json::to_writer_pretty(&mut out, &Summary::of(&m))?;
            writeln!(out)?;
        } else {
            print_human(&m, &mut out, usize::MAX)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// What `show --json` prints. Sizes are bytes; `size` excludes pad files.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Summary<'a> {
    name: &'a str,
    infohash: String,
    size: u64,
    padded_size: u64,
    piece_length: u64,
    pieces: usize,
    files: Vec<SummaryFile<'a>>,
    file_count: usize,
    pad_files: usize,
    multi_file: bool,
    private: bool,
    hybrid: bool,
    source: Option<&'a str>,
    trackers: &'a [Vec<String>],
    web_seeds: &'a [String],
    comment: Option<&'a str>,
    created_by: Option<&'a str>,
    creation_date: Option<i64>,
    magnet: String,
}

#[derive(Debug, serde::Serialize)]
struct SummaryFile<'a> {
    path: String,
    length: u64,
    offset: u64,
    #[serde(flatten)]
    attr: &'a metainfo::FileAttr,
}

impl<'a> Summary<'a> {
    pub(crate) fn of(m: &'a Metainfo) -> Self {
        let info = m.info();
        let pads = info.files().iter().filter(|f| f.is_pad());
        let pad_bytes: u64 = pads.clone().map(|f| f.length).sum();
        Self {
            name: info.name(),
            infohash: m.infohash().to_hex(),
            size: info.total_length() - pad_bytes,
            padded_size: info.total_length(),
            piece_length: info.piece_length(),
            pieces: info.num_pieces(),
            files: info
                .files()
                .iter()
                .map(|f| SummaryFile {
                    path: info.file_relative_path(f).to_string_lossy().into_owned(),
                    length: f.length,
                    offset: f.offset,
                    attr: &f.attr,
                })
                .collect(),
            file_count: info.files().len() - pads.clone().count(),
            pad_files: pads.count(),
            multi_file: info.is_multi_file(),
            private: info.is_private(),
            hybrid: m.is_hybrid(),
            source: info.source(),
            trackers: m.announce_tiers(),
            web_seeds: m.web_seeds(),
            comment: m.comment(),
            created_by: m.created_by(),
            creation_date: m.creation_date(),
            magnet: Magnet::from_metainfo(m).to_string(),
        }
    }
}

/// The text summary: one `key: value` line each, then the first `max_files` files.
pub(crate) fn print_human(
    m: &Metainfo,
    out: &mut dyn Write,
    max_files: usize,
) -> std::io::Result<()> {
    let s = Summary::of(m);
    let info = m.info();
    writeln!(out, "name:          {}", s.name)?;
    writeln!(out, "infohash:      {}", s.infohash)?;
    writeln!(out, "size:          {} ({} bytes)", Bytes(s.size), s.size)?;
    writeln!(
        out,
        "pieces:        {} of {}",
        s.pieces,
        Bytes(s.piece_length)
    )?;
    let pad_bytes = s.padded_size - s.size;
    writeln!(
        out,
        "files:         {}{}",
        s.file_count,
        if s.pad_files > 0 {
            format!(
                " (+{} pad files, {} padding)",
                s.pad_files,
                Bytes(pad_bytes)
            )
        } else {
            String::new()
        }
    )?;
    writeln!(out, "private:       {}", yes_no(s.private))?;
    if s.hybrid {
        writeln!(
            out,
            "hybrid:        yes (BEP 52 v1+v2; read through its v1 part)"
        )?;
    }
    if let Some(src) = s.source {
        writeln!(out, "source:        {src}")?;
    }
    if s.trackers.is_empty() {
        writeln!(out, "trackers:      none")?;
    }
    for (i, tier) in s.trackers.iter().enumerate() {
        writeln!(out, "tracker tier {}: {}", i + 1, tier.join(" "))?;
    }
    for w in s.web_seeds {
        writeln!(out, "web seed:      {w}")?;
    }
    if let Some(c) = s.comment {
        writeln!(out, "comment:       {c}")?;
    }
    if let Some(c) = s.created_by {
        writeln!(out, "created by:    {c}")?;
    }
    if let Some(d) = s.creation_date {
        writeln!(out, "creation date: {d} (unix time)")?;
    }
    writeln!(out, "files:")?;
    for f in info.files().iter().filter(|f| !f.is_pad()).take(max_files) {
        let flags = if f.attr.executable {
            " (executable)"
        } else {
            ""
        };
        writeln!(
            out,
            "  {:>12}  {}{flags}",
            f.length,
            info.file_relative_path(f).display()
        )?;
    }
    if s.file_count > max_files {
        writeln!(out, "  … and {} more", s.file_count - max_files)?;
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
