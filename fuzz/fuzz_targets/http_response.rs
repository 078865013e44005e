//! The engine's HTTP client reads a response (status line, headers,
//! Content-Length, chunked or to-the-end bodies) from untrusted bytes
//! without panicking and never returns more body than it was allowed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the body limit, so small limits are hit too.
    let Some((&limit, rest)) = data.split_first() else { return };
    let max_body = usize::from(limit) * 16;
    if let Ok(r) = swarm::http::parse_response(rest, max_body) {
        assert!(r.body.len() <= max_body);
        assert!(r.body.len() <= rest.len());
    }
});
