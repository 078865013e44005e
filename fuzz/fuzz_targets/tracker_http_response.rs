//! Decoding tracker HTTP responses never panics, keeps no more peers than
//! the body has room for, and what decodes re-encodes (through the
//! tracker's own encoder) into a body that decodes to the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracker_proto::http::{
    AnnounceResponse, PeerForm, Reply, ResponsePeer, ScrapeResponse, decode_announce,
    decode_scrape,
};
use tracker_proto::PeerId;

fuzz_target!(|data: &[u8]| {
    if let Ok(Reply::Ok(a)) = decode_announce(data) {
        // A compact v4 peer takes 6 bytes, a v6 one 18, a dictionary one more.
        assert!(a.peers.len() <= data.len() / 6);
        let peers: Vec<ResponsePeer> = a
            .peers
            .iter()
            .map(|p| ResponsePeer {
                peer_id: p.peer_id.unwrap_or(PeerId([0; 20])),
                addr: p.addr,
            })
            .collect();
        for form in [PeerForm::Compact, PeerForm::Dict { no_peer_id: false }] {
            let mut body = Vec::new();
            AnnounceResponse {
                interval: a.interval,
                min_interval: a.min_interval,
                complete: a.complete.unwrap_or(0),
                incomplete: a.incomplete.unwrap_or(0),
                tracker_id: a.tracker_id.as_deref(),
                warning: a.warning.as_deref(),
                peers: &peers,
                form,
            }
            .encode_into(&mut body);
            let Ok(Reply::Ok(b)) = decode_announce(&body) else {
                panic!("an encoded announce response must decode");
            };
            assert_eq!(b.interval, a.interval);
            assert_eq!(b.min_interval, a.min_interval);
            assert_eq!(b.tracker_id, a.tracker_id);
            assert_eq!(b.warning, a.warning);
            assert_eq!(b.peers.len(), a.peers.len());
            if form == PeerForm::Compact {
                // v4 first, then v6; each family keeps its order.
                let (v4, v6): (Vec<_>, Vec<_>) = a.peers.iter().map(|p| p.addr).partition(|x| x.is_ipv4());
                let back: Vec<_> = b.peers.iter().map(|p| p.addr).collect();
                assert_eq!(back, [v4, v6].concat());
            }
        }
    }
    if let Ok(Reply::Ok(files)) = decode_scrape(data) {
        let mut body = Vec::new();
        ScrapeResponse { files: &files }.encode_into(&mut body);
        let Ok(Reply::Ok(back)) = decode_scrape(&body) else {
            panic!("an encoded scrape response must decode");
        };
        assert_eq!(back, files);
    }
});
