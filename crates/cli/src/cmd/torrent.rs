//! `anthill torrent …`: create, inspect, check and share `.torrent` files.
//!
//! Wherever a torrent's data is looked for, the directory given is the one
//! that *holds* the torrent's top-level name, like a client's download
//! directory: `DIR/<name>` is the file of a single-file torrent or the top
//! directory of a multi-file one.

pub(crate) mod create;
pub(crate) mod magnet;
pub(crate) mod show;
pub(crate) mod verify;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use metainfo::Metainfo;

/// Arguments of `anthill torrent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a .torrent from a file or a directory.
    Create(create::Args),
    /// Show what a .torrent contains.
    Show(show::Args),
    /// Check data on disk against a .torrent (never modifies it).
    Verify(verify::Args),
    /// Print the magnet link of a .torrent.
    Magnet(magnet::Args),
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Create(a) => a.run(),
            Command::Show(a) => a.run(),
            Command::Verify(a) => a.run(),
            Command::Magnet(a) => a.run(),
        }
    }
}

/// Reads and validates a `.torrent` file (`-` is stdin), through the bounded reader.
pub(crate) fn load(path: &Path) -> anyhow::Result<Metainfo> {
    let bytes = crate::input::read(path, crate::input::TORRENT_LIMIT)?;
    Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{} is not a valid torrent", crate::input::name(path)))
}
