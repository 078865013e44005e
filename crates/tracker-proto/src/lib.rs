//! Sans-IO BitTorrent tracker protocol for anthill: the message formats of
//! the HTTP tracker (BEP 3 announce, BEP 23 compact peers, BEP 7 `peers6`,
//! BEP 48 scrape) and of the UDP tracker (BEP 15), with no sockets and no
//! tokio, so every parser can be fuzzed and property-tested alone.
//!
//! Both transports parse into the same [`AnnounceRequest`]; the server in
//! the `tracker` crate handles it once.
//!
//! - [`http`]: request-head parsing ([`http::parse_head`]), query-string
//!   parsing with percent-decoding of binary infohashes
//!   ([`http::parse_announce`], [`http::parse_scrape`]) and bencoded
//!   responses ([`http::AnnounceResponse`], [`http::ScrapeResponse`],
//!   [`http::failure`]).
//! - [`udp`]: BEP 15 packets, [`udp::Request::parse`] and
//!   [`udp::Response::write_into`] (and the reverse directions, for clients
//!   and load generators).
//!
//! Everything here treats its input as hostile: parsers never panic, never
//! allocate more than a caller-given bound, and report errors as enums.
//!
//! ```
//! use tracker_proto::{http, AnnounceEvent};
//! let q = b"info_hash=%01%02%03%04%05%06%07%08%09%0a%0b%0c%0d%0e%0f%10%11%12%13%14\
//!           &peer_id=-AH0100-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=10&event=started";
//! let req = http::parse_announce(q).unwrap();
//! assert_eq!(req.port.get(), 6881);
//! assert_eq!(req.event, AnnounceEvent::Started);
//! assert_eq!(req.info_hash.as_bytes()[19], 0x14);
//! ```

mod announce_event;
mod announce_request;
mod byte_count;
mod peer_key;
mod port;
mod swarm_stats;

pub mod http;
pub mod udp;

pub use announce_event::AnnounceEvent;
pub use announce_request::AnnounceRequest;
pub use byte_count::ByteCount;
/// The announcing client's peer id, shared with `anthill-wire` (defined in
/// `anthill-metainfo`).
pub use metainfo::PeerId;
/// The torrent's infohash, shared with `anthill-metainfo` and `anthill-wire`
/// (one type everywhere; trackers read it with the strict
/// [`InfoHash::from_hex`]).
pub use metainfo::{Infohash as InfoHash, ParseInfoHashError};
pub use peer_key::PeerKey;
pub use port::Port;
pub use swarm_stats::SwarmStats;
