use super::*;
use crate::{AnnounceEvent, InfoHash};
use proptest::prelude::*;

fn query_for(
    ih: &[u8; 20],
    pid: &[u8; 20],
    port: u16,
    nums: [u64; 3],
    ev: AnnounceEvent,
) -> String {
    let mut s = String::from("info_hash=");
    percent_encode(ih, &mut s);
    s.push_str("&peer_id=");
    percent_encode(pid, &mut s);
    s.push_str(&format!(
        "&port={port}&uploaded={}&downloaded={}&left={}",
        nums[0], nums[1], nums[2]
    ));
    if let Some(e) = ev.as_http() {
        s.push_str("&event=");
        s.push_str(e);
    }
    s
}

proptest! {
    #[test]
    fn announce_round_trip(
        ih: [u8; 20], pid: [u8; 20], port in 1u16.., nums: [u64; 3], ev in 0u32..4
    ) {
        let ev = AnnounceEvent::from_udp(ev).unwrap_or_default();
        let q = query_for(&ih, &pid, port, nums, ev);
        let r = parse_announce(q.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.info_hash, InfoHash(ih));
        prop_assert_eq!(r.peer_id.0, pid);
        prop_assert_eq!(r.port.get(), port);
        prop_assert_eq!([r.uploaded.0, r.downloaded.0, r.left.0], nums);
        prop_assert_eq!(r.event, ev);
    }

    #[test]
    fn scrape_round_trip(hashes in proptest::collection::vec(any::<[u8; 20]>(), 0..20)) {
        let mut q = String::new();
        for h in &hashes {
            q.push_str("info_hash=");
            percent_encode(h, &mut q);
            q.push('&');
        }
        let got = parse_scrape(q.as_bytes(), 20).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, hashes.into_iter().map(InfoHash).collect::<Vec<_>>());
    }

    #[test]
    fn query_parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_announce(&b);
        let _ = parse_scrape(&b, 74);
    }

    #[test]
    fn query_like_input_never_panics(s in "([a-z_]{1,10}=[%0-9a-zA-Z-]{0,30}&){0,12}") {
        let _ = parse_announce(s.as_bytes());
    }

    #[test]
    fn head_parser_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256), max in 0usize..300) {
        let _ = parse_head(&b, max, Some(b"x-real-ip"));
    }

    #[test]
    fn head_like_input_never_panics(
        s in "(GET|POST|get) /[a-z?=&%0-9]{0,20} HTTP/1\\.[01]\r\n([A-Za-z-]{1,10}: ?[a-z0-9 ,]{0,10}\r\n){0,5}\r\n"
    ) {
        let _ = parse_head(s.as_bytes(), 4096, Some(b"x-real-ip"));
    }
}
