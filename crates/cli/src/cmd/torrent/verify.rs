use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use metainfo::{FileStatus, HashOptions, Metainfo, VerifyReport};

use crate::bytes::{Bytes, count, rate};
use crate::progress::Bar;
use crate::shown::{self, Shown};

/// Arguments of `anthill torrent verify`. Exits 1 if anything is wrong.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file (`-` reads it from stdin).
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
        let mut out = crate::output::stdout()?;
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
            print_report(&m, &report, &self.path, elapsed, &mut out)?;
        }
        out.flush()?;
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
    let bar = Bar::hashing(m.info().content_length(), "verifying");
    let options = HashOptions {
        threads,
        ..HashOptions::default()
    };
    let report = metainfo::verify(m.info(), dir, &options, &bar);
    bar.finish();
    report.with_context(|| {
        format!(
            "cannot verify {} in {}",
            Shown(m.info().name()),
            shown::path(dir)
        )
    })
}

/// One line per problem file, naming the path looked at (under `dir`),
/// then a summary line starting with `ok:` or `FAILED:`.
pub(crate) fn print_report(
    m: &Metainfo,
    r: &VerifyReport,
    dir: &Path,
    elapsed: f64,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for f in r.problems() {
        let path = looked_at(dir, &f.path);
        let detail = match &f.status {
            FileStatus::Ok => continue,
            FileStatus::Missing => format!("missing     {path}"),
            FileStatus::NotAFile => format!("not a file  {path}"),
            FileStatus::Unreadable { error } => {
                format!("unreadable  {path}: {}", Shown(error))
            }
            FileStatus::Short { actual } => {
                format!("short       {path} ({actual} of {} bytes)", f.length)
            }
            FileStatus::Long { actual } => {
                format!("long        {path} ({actual} of {} bytes)", f.length)
            }
            FileStatus::Corrupt => format!(
                "corrupt     {path} ({} bad piece{})",
                f.bad_pieces,
                if f.bad_pieces == 1 { "" } else { "s" }
            ),
        };
        writeln!(out, "{detail}")?;
    }
    let name = Shown(m.info().name());
    let data: u64 = r.files.iter().map(|f| f.length).sum();
    if r.is_ok() {
        return writeln!(
            out,
            "ok: {name} verified: {}, {}, {} ({:.2} s, {})",
            count(r.files.len(), "file"),
            Bytes(data),
            count(r.pieces, "piece"),
            elapsed,
            rate(data, elapsed)
        );
    }
    let problems = r.problems().count();
    writeln!(
        out,
        "FAILED: {name}: {problems} of {} {} problems, {} of {} bad",
        count(r.files.len(), "file"),
        if problems == 1 { "has" } else { "have" },
        r.bad_pieces.len(),
        count(r.pieces, "piece"),
    )?;
    let all_missing = r
        .files
        .iter()
        .all(|f| matches!(f.status, FileStatus::Missing));
    if all_missing && dir.file_name().is_some_and(|n| n == m.info().name()) {
        writeln!(
            out,
            "hint: --path is the directory that holds {name}; try --path {}",
            shown::path(
                dir.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
            )
        )?;
    }
    Ok(())
}

/// Where the file at `rel` (relative to the download directory) was looked
/// for: `dir/rel`, or `rel` itself when `dir` is the current directory.
fn looked_at(dir: &Path, rel: &str) -> String {
    if dir == Path::new(".") {
        shown::line(rel).into_owned()
    } else {
        shown::path(&dir.join(rel))
    }
}
