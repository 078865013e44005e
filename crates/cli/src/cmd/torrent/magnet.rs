use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use metainfo::Magnet;

/// Arguments of `anthill torrent magnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file (`-` reads it from stdin).
    file: PathBuf,
}

impl Args {
    /// Prints the BEP 9 magnet link: `xt` (v1 infohash), `dn`, `xl`, `tr`, `ws`.
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let m = super::load(&self.file)?;
        let mut out = crate::output::stdout()?;
        writeln!(out, "{}", Magnet::from_metainfo(&m))?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}
