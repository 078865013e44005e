use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use metainfo::{FileStatus, HashOptions, Metainfo, VerifyReport};

use crate::bytes::{Bytes, rate};
use crate::progress::HashBar;

/// Arguments of `anthill torrent verify`. Exits 1 if anything is wrong.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file.
    file: PathBuf,
    /// Directory holding the torrent's top-level name, like a client's download
    /// directory (`DIR/<name>` is the file or top directory).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    path: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
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
        let m = super::load(&self.file)?;
        let started = Instant::now();
        let report = run_verify(&m, &self.path, self.threads)?;
        let elapsed = started.elapsed().as_secs_f64();
        let mut out = std::io::stdout().lock();
        if self.json {
            #[derive(serde::Serialize)]
            struct Json<'a> {
                ok: bool,
                infohash: String,
                #[serde(flatten)]
                report: &'a VerifyReport,
            }
            let json = Json {
                ok: report.is_ok(),
                infohash: m.infohash().to_hex(),
                report: &report,
            };
            serde_json::to_writer_pretty(&mut out, &json)?;
            writeln!(out)?;
        } else {
            print_report(&m, &report, elapsed, &mut out)?;
        }
        Ok(if report.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Verifies with a progress bar on a terminal.
pub(crate) fn run_verify(
    m: &Metainfo,
    dir: &std::path::Path,
    threads: usize,
) -> anyhow::Result<VerifyReport> {
    let bar = HashBar::new(m.info().total_length(), "verifying");
    let options = HashOptions {
        threads,
        ..HashOptions::default()
    };
    let report = metainfo::verify(m.info(), dir, &options, &bar);
    bar.finish();
    report.with_context(|| format!("cannot verify {} in {}", m.info().name(), dir.display()))
}

/// One line per problem file, then a summary line starting with `ok:` or `FAILED:`.
pub(crate) fn print_report(
    m: &Metainfo,
    r: &VerifyReport,
    elapsed: f64,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for f in r.problems() {
        let detail = match &f.status {
            FileStatus::Ok => continue,
            FileStatus::Missing => format!("missing     {}", f.path),
            FileStatus::NotAFile => format!("not a file  {}", f.path),
            FileStatus::Unreadable { error } => format!("unreadable  {}: {error}", f.path),
            FileStatus::Short { actual } => {
                format!("short       {} ({actual} of {} bytes)", f.path, f.length)
            }
            FileStatus::Long { actual } => {
                format!("long        {} ({actual} of {} bytes)", f.path, f.length)
            }
            FileStatus::Corrupt => format!(
                "corrupt     {} ({} bad piece{})",
                f.path,
                f.bad_pieces,
                if f.bad_pieces == 1 { "" } else { "s" }
            ),
        };
        writeln!(out, "{detail}")?;
    }
    let data: u64 = r.files.iter().map(|f| f.length).sum();
    if r.is_ok() {
        writeln!(
            out,
            "ok: {} verified: {} files, {}, {} pieces ({:.2} s, {})",
            m.info().name(),
            r.files.len(),
            Bytes(data),
            r.pieces,
            elapsed,
            rate(m.info().total_length(), elapsed)
        )
    } else {
        writeln!(
            out,
            "FAILED: {}: {} of {} files have problems, {} of {} pieces bad",
            m.info().name(),
            r.problems().count(),
            r.files.len(),
            r.bad_pieces.len(),
            r.pieces
        )
    }
}
