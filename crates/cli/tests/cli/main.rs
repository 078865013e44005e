//! Binary-level tests: the built `anthill` run in temporary directories.
//! One test binary (see `[[test]]` in Cargo.toml); one module per area.

mod agent;
mod demo;
mod engine;
mod feeds;
mod fleet;
mod hub;
mod hub_interop;
mod interop;
mod peer_interop;
mod safety;
mod torrent;
mod tracker_cmd;
mod tracker_netns;
mod usage;
mod util;
