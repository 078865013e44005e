//! The in-memory swarm store. See `SWARM.md` beside this file for the
//! invariants and the lock order.

mod peer;
mod store;
mod torrent;

pub(crate) use peer::Peer;
pub(crate) use store::{AnnounceParams, StoreLimits, SwarmStore};
pub(crate) use torrent::{Selection, Torrent};
