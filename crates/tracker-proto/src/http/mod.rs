//! The HTTP tracker protocol (BEP 3, BEP 7, BEP 23, BEP 48).
//!
//! A server reads bytes until [`parse_head`] returns a complete head, routes
//! on [`RequestHead::path`], parses [`RequestHead::query`] with
//! [`parse_announce`] or [`parse_scrape`], and writes a bencoded body built by
//! [`AnnounceResponse::encode_into`], [`ScrapeResponse::encode_into`] or
//! [`failure`]. Failures are sent with status 200: that is what clients
//! expect, and what lets them show the `failure reason`. Clients read those
//! bodies back with [`decode_announce`] and [`decode_scrape`].

mod head;
mod query;
mod request_error;
mod response;
mod response_decode;

pub use head::{HeadError, HeadParse, RequestHead, parse_head};
pub use query::{MAX_VALUE_LEN, parse_announce, parse_scrape, percent_decode, percent_encode};
pub use request_error::RequestError;
pub use response::{AnnounceResponse, PeerForm, ResponsePeer, ScrapeResponse, failure};
pub use response_decode::{
    AnnounceReply, DecodedPeer, Reply, ResponseError, decode_announce, decode_scrape,
};

#[cfg(test)]
mod proptests;
