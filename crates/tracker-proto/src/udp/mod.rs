//! The UDP tracker protocol (BEP 15).
//!
//! A client first sends a connect request and gets back a [`ConnectionId`];
//! every announce and scrape must carry it. The id proves the client can
//! receive packets at its source address, which is what stops a spoofed
//! announce from making the tracker flood a victim. How ids are made and
//! checked is up to the server (see the `tracker` crate); this module only
//! moves bytes.
//!
//! Both directions are implemented: [`Request::parse`] and
//! [`Response::write_into`] for the server, [`Request::write_into`] and
//! [`Response::parse`] for clients and the load generator.

mod connection_id;
mod parse_error;
mod request;
mod response;
mod transaction_id;

pub use connection_id::ConnectionId;
pub use parse_error::ParseError;
pub use request::{AnnounceRequest, ConnectRequest, Request, ScrapeRequest};
pub use response::{AnnounceResponse, ErrorResponse, Response, ScrapeResponse};
pub use transaction_id::TransactionId;

/// The magic number that starts a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Action numbers.
pub(crate) mod action {
    pub(crate) const CONNECT: u32 = 0;
    pub(crate) const ANNOUNCE: u32 = 1;
    pub(crate) const SCRAPE: u32 = 2;
    pub(crate) const ERROR: u32 = 3;
}

/// Most infohashes in one scrape request ("about 74" in BEP 15, so that
/// request and response fit in common MTUs).
pub const MAX_SCRAPE_INFO_HASHES: usize = 74;

#[cfg(test)]
mod tests;
