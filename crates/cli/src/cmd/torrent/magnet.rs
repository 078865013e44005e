use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use metainfo::Magnet;

/// Arguments of `anthill torrent magnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file.
    file: PathBuf,
}

impl Args {
    /// Prints the BEP 9 magnet link: `xt` (v1 infohash), `dn`, `xl`, `tr`, `ws`.
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let m = super::load(&self.file)?;
        writeln!(std::io::stdout(), "{}", Magnet::from_metainfo(&m))?;
        Ok(ExitCode::SUCCESS)
    }
}
