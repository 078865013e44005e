//! anthill's BitTorrent peer engine.
//!
//! This crate holds the engine's decisions as sans-IO state machines, each
//! testable and simulated without sockets:
//! - [`picker::Picker`]: which blocks to request from whom (random first,
//!   rarest-first, one owner per piece, endgame).
//! - [`superseed::SuperSeeder`]: how the origin hands out pieces so that
//!   none goes out twice while another has not gone out once (BEP 16).
//! - [`choker::Choker`]: whom we upload to (fleet mode or tit-for-tat).
//!
//! The tokio engine drives them over real connections: a [`Session`] owns
//! listeners and torrents; each torrent is one actor task (a synchronous
//! core under a thin tokio shell, `torrent/`) and each peer connection one
//! task (`peer.rs`). See
//! `ENGINE.md` beside this file for the architecture and its invariants.
//! Trackers are reached with [`tracker_client::TrackerClient`] (HTTP and
//! UDP announces) over a minimal bounded HTTP client ([`http`]).
//!
//! Callers follow a torrent through [`TorrentHandle::watch`], a `watch`
//! channel of [`TorrentProgress`] that the actor publishes when something
//! in it changes (no polling), and learn why it stopped from a typed
//! [`TorrentError`].
//!
//! ```no_run
//! # async fn demo(torrent: metainfo::Metainfo) -> Result<(), swarm::SwarmError> {
//! use swarm::{AddTorrent, Session, SessionOptions, TorrentSource};
//! let session = Session::new(SessionOptions {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     ..Default::default()
//! })
//! .await?;
//! let mut add = AddTorrent::download(TorrentSource::Metainfo(Box::new(torrent)), "/tmp/out");
//! add.peers.push("127.0.0.1:6881".parse().unwrap());
//! let handle = session.add_torrent(add).await?;
//! handle.wait_complete().await.expect("download failed");
//! session.shutdown().await;
//! # Ok(()) }
//! ```

mod announcer;
pub mod choker;
mod context;
mod event;
pub mod http;
mod open;
mod options;
pub mod pad;
mod peer;
pub mod picker;
mod prefill;
pub mod rate;
mod resume;
pub mod rng;
mod session;
pub mod superseed;
mod torrent;
mod torrent_error;
pub mod tracker_client;
mod webseed;

pub use options::SessionOptions;
pub use prefill::Prefill;
pub use rate::Rate;
pub use resume::resume_path;
pub use session::{AddTorrent, Session, SessionHandle, SwarmError, TorrentHandle, TorrentSource};
pub use torrent::{TorrentEvent, TorrentMode, TorrentProgress, TorrentState};
pub use torrent_error::TorrentError;
pub use webseed::WebSeedError;

/// Bytes per request block; the de-facto standard every client accepts.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// A connected peer, as numbered by the engine within one torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerSlot(pub u32);

/// A request for one block of a piece: the picker hands out exactly the
/// payload of the wire's `request` message (length at most [`BLOCK_SIZE`]).
pub use wire::BlockRequest;

#[cfg(test)]
mod tests;
