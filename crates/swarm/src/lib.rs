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
//! The tokio side starts with [`tracker_client::TrackerClient`] (HTTP and
//! UDP announces) over a minimal bounded HTTP client ([`http`]).

pub mod choker;
pub mod http;
pub mod picker;
pub mod rng;
pub mod superseed;
pub mod tracker_client;

/// Bytes per request block; the de-facto standard every client accepts.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// A connected peer, as numbered by the engine within one torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerSlot(pub u32);

/// A request for one block of a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Byte offset inside the piece.
    pub offset: u32,
    /// Length in bytes (at most [`BLOCK_SIZE`]).
    pub len: u32,
}

#[cfg(test)]
mod tests;
