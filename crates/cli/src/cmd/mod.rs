//! One module per subcommand, mirroring the CLI tree.

pub(crate) mod agent;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod get;
pub(crate) mod hub;
pub(crate) mod keygen;
pub(crate) mod peer_args;
pub(crate) mod publish;
pub(crate) mod seed;
pub(crate) mod torrent;
pub(crate) mod tracker;
