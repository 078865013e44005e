//! The tracker's HTTP request path never panics: head parsing, then the
//! announce and scrape query parsers on whatever query the head yields (and
//! on the raw input, to reach them without a valid head). A parsed announce
//! encodes into a response that decodes as bencode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracker_proto::http::{self, AnnounceResponse, HeadParse, PeerForm, ResponsePeer};

fuzz_target!(|data: &[u8]| {
    let mut queries = vec![data];
    if let Ok(HeadParse::Complete(head)) = http::parse_head(data, 4096, Some(b"x-real-ip")) {
        assert!(head.len <= data.len());
        queries.push(head.query);
    }
    for q in queries {
        if let Ok(req) = http::parse_announce(q) {
            let peers = [ResponsePeer {
                peer_id: req.peer_id,
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], req.port.get())),
            }];
            let mut body = Vec::new();
            AnnounceResponse {
                interval: 60,
                min_interval: None,
                complete: 1,
                incomplete: 0,
                tracker_id: req.tracker_id.as_deref(),
                warning: None,
                peers: &peers,
                form: if req.compact { PeerForm::Compact } else { PeerForm::Dict { no_peer_id: req.no_peer_id } },
            }
            .encode_into(&mut body);
            bencode::decode(&body).expect("announce response must be valid bencode");
        }
        if let Ok(hashes) = http::parse_scrape(q, 74) {
            assert!(hashes.len() <= 74);
        }
    }
});
