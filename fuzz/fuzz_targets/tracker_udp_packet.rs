//! BEP 15 packets never panic the parsers, and a parsed request re-encodes
//! to bytes that parse to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracker_proto::udp::{Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::parse(data) {
        let mut again = Vec::new();
        req.write_into(&mut again);
        assert_eq!(Request::parse(&again).ok(), Some(req));
    }
    let _ = Response::parse(data, false);
    let _ = Response::parse(data, true);
});
