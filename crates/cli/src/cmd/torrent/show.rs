use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use metainfo::{Magnet, Metainfo};

use crate::bytes::{Bytes, count};
use crate::shown::{self, Shown};

/// Arguments of `anthill torrent show`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file (`-` reads it from stdin).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// List at most N files [default: all].
    #[arg(long, value_name = "N")]
    max_files: Option<usize>,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let m = super::load(&self.file)?;
        let mut out = crate::output::stdout()?;
        if self.json {
            serde_json::to_writer_pretty(&mut out, &Summary::of(&m))?;
            writeln!(out)?;
        } else {
            let max = self.max_files.unwrap_or(usize::MAX);
            print_human(&m, &mut out, max, " (--max-files N lists more)")?;
        }
        out.flush()?;
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
        Self {
            name: info.name(),
            infohash: m.infohash().to_hex(),
            size: info.content_length(),
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

/// The text summary: one `key: value` line each, the files (at most
/// `max_files`, then a line saying how many more and `more_hint`) under the
/// `files:` line. Every name from the torrent goes through the sanitiser.
pub(crate) fn print_human(
    m: &Metainfo,
    out: &mut dyn Write,
    max_files: usize,
    more_hint: &str,
) -> std::io::Result<()> {
    let s = Summary::of(m);
    let info = m.info();
    writeln!(out, "name:          {}", Shown(s.name))?;
    writeln!(out, "infohash:      {}", s.infohash)?;
    writeln!(out, "size:          {} ({} bytes)", Bytes(s.size), s.size)?;
    writeln!(
        out,
        "pieces:        {} of {}",
        s.pieces,
        Bytes(s.piece_length)
    )?;
    writeln!(out, "private:       {}", yes_no(s.private))?;
    if s.hybrid {
        writeln!(
            out,
            "hybrid:        yes (BEP 52 v1+v2; read through its v1 part)"
        )?;
    }
    if let Some(src) = s.source {
        writeln!(out, "source:        {}", Shown(src))?;
    }
    if s.trackers.is_empty() {
        writeln!(out, "trackers:      none")?;
    }
    for (i, tier) in s.trackers.iter().enumerate() {
        writeln!(out, "tracker tier {}: {}", i + 1, Shown(&tier.join(" ")))?;
    }
    for w in s.web_seeds {
        writeln!(out, "web seed:      {}", Shown(w))?;
    }
    if let Some(c) = s.comment {
        writeln!(out, "comment:       {}", Shown(c))?;
    }
    if let Some(c) = s.created_by {
        writeln!(out, "created by:    {}", Shown(c))?;
    }
    if let Some(d) = s.creation_date {
        writeln!(out, "creation date: {}", utc(d))?;
    }
    let pad_bytes = s.padded_size - s.size;
    writeln!(
        out,
        "files:         {}{}",
        s.file_count,
        if s.pad_files > 0 {
            format!(
                " (+{}, {} padding)",
                count(s.pad_files, "pad file"),
                Bytes(pad_bytes)
            )
        } else {
            String::new()
        }
    )?;
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
            shown::path(&info.file_relative_path(f))
        )?;
    }
    if s.file_count > max_files {
        let more = s.file_count - max_files;
        let noun = if more == 1 { "file" } else { "files" };
        writeln!(out, "  … and {more} more {noun}{more_hint}")?;
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A unix time as `2024-05-01 12:00:00 UTC` (proleptic Gregorian calendar).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_714_564_799), "2024-05-01 11:59:59 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
