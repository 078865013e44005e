//! One module per subcommand, mirroring the CLI tree.

pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod torrent;
pub(crate) mod tracker;
