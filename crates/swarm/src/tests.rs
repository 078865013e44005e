use std::collections::{HashMap, VecDeque};

use std::sync::Arc;

use crate::choker::{ChokeMode, Choker, FLEET_TENURE};
use crate::pad::PadMap;
use crate::picker::{BlockOutcome, ENDGAME_MAX_REQUESTERS, Picker};
use crate::superseed::{RELEASE_AFTER, SuperSeeder};
use wire::{BlockLength, BlockOffset, PieceIndex};

use crate::{BLOCK_SIZE, BlockRequest, PeerSlot};

const A: PeerSlot = PeerSlot(1);
const B: PeerSlot = PeerSlot(2);
const C: PeerSlot = PeerSlot(3);

fn all(_: u32) -> bool {
    true
}

/// The request for `len` bytes at `offset` of piece `piece`.
fn req(piece: u32, offset: u32, len: u32) -> BlockRequest {
    BlockRequest::new(PieceIndex(piece), BlockOffset(offset), BlockLength(len))
}

fn accept(p: &mut Picker, peer: PeerSlot, r: BlockRequest) -> bool {
    match p.block_received(peer, r) {
        BlockOutcome::Accepted { piece_complete, .. } => piece_complete,
        o => panic!("unexpected {o:?}"),
    }
}

#[test]
fn requests_whole_pieces_from_one_owner() {
    let mut p = Picker::new(8, 4 * BLOCK_SIZE, 8 * 4 * u64::from(BLOCK_SIZE), 1);
    p.peer_has_all_of(all);
    let reqs = p.next_requests(A, all, 6);
    assert_eq!(reqs.len(), 6);
    // first four blocks are one piece, in order; the next two start another piece
    assert!(reqs[..4].iter().all(|r| r.piece == reqs[0].piece));
    assert_eq!(
        reqs.iter().map(|r| r.offset.0).take(4).collect::<Vec<_>>(),
        [0, 16384, 32768, 49152]
    );
    assert_ne!(reqs[4].piece, reqs[0].piece);
    // B never gets blocks of A's pieces before endgame
    let b = p.next_requests(B, all, 100);
    assert!(
        b.iter()
            .all(|r| r.piece != reqs[0].piece && r.piece != reqs[4].piece)
    );
    p.check_invariants();
}

/// A peer with nothing outstanding and nothing new to start takes over the
/// unrequested blocks of a piece another peer owns; the old owner keeps what
/// it was asked, and no block is asked of two peers.
#[test]
fn an_idle_peer_takes_over_what_a_slow_owner_has_not_been_asked() {
    let mut p = Picker::new(1, 8 * BLOCK_SIZE, 8 * u64::from(BLOCK_SIZE), 1);
    p.peer_has_all_of(all);
    p.peer_has_all_of(all);
    let a = p.next_requests(A, all, 2);
    assert!(
        p.next_requests(B, all, 8).is_empty(),
        "A owns the only piece"
    );
    let b = p.take_over_requests(B, all, |_| true, 4);
    assert_eq!(
        b.iter()
            .map(|r| r.offset.0 / BLOCK_SIZE)
            .collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    p.check_invariants();
    // B owns it now: A gets nothing more of it, B the rest.
    assert!(p.next_requests(A, all, 8).is_empty());
    let rest = p.next_requests(B, all, 2);
    assert_eq!(
        rest.iter()
            .map(|r| r.offset.0 / BLOCK_SIZE)
            .collect::<Vec<_>>(),
        [6, 7]
    );
    // Nothing is left unrequested, so nothing to take over; A's two blocks
    // still count.
    assert!(p.take_over_requests(C, all, |_| true, 8).is_empty());
    for r in a.iter().chain(&b).chain(&rest) {
        let by = if a.contains(r) { A } else { B };
        let _ = p.block_received(by, *r);
    }
    p.check_invariants();
    assert!(p.requested_blocks().is_empty());
}

/// Nothing is taken from an owner the engine does not allow (one about as
/// fast as the taker).
#[test]
fn take_over_asks_whether_the_owner_may_lose_its_piece() {
    let mut p = Picker::new(1, 8 * BLOCK_SIZE, 8 * u64::from(BLOCK_SIZE), 1);
    p.peer_has_all_of(all);
    p.peer_has_all_of(all);
    let _ = p.next_requests(A, all, 2);
    assert!(p.take_over_requests(B, all, |o| o != A, 4).is_empty());
    assert_eq!(p.take_over_requests(B, all, |o| o == A, 4).len(), 4);
    p.check_invariants();
}

/// A peer that lacks the owner's piece takes over nothing.
#[test]
fn take_over_needs_the_piece() {
    let mut p = Picker::new(2, 4 * BLOCK_SIZE, 8 * u64::from(BLOCK_SIZE), 1);
    p.peer_has_all_of(all);
    let a = p.next_requests(A, |i| i == 0, 1);
    assert_eq!(a[0].piece.0, 0);
    assert!(p.take_over_requests(B, |i| i == 1, |_| true, 4).is_empty());
    p.check_invariants();
}

/// A peer that chokes us (fast extension: its requests stay out) no longer
/// owns its pieces: another peer finishes them, and the blocks still out to
/// it come back when it rejects them.
#[test]
fn a_choking_peer_leaves_its_pieces_to_others() {
    let mut p = Picker::new(1, 4 * BLOCK_SIZE, 4 * u64::from(BLOCK_SIZE), 1);
    p.peer_has_all_of(all);
    p.peer_has_all_of(all);
    let a = p.next_requests(A, all, 2);
    assert_eq!(a.len(), 2);
    assert!(
        p.next_requests(B, all, 4).is_empty(),
        "A owns the only piece"
    );
    p.peer_choked(A);
    let b = p.next_requests(B, all, 2);
    assert_eq!(
        b.iter().map(|r| r.offset.0).collect::<Vec<_>>(),
        [2 * BLOCK_SIZE, 3 * BLOCK_SIZE]
    );
    p.check_invariants();
    p.request_dropped(A, a[0]);
    assert_eq!(p.next_requests(B, all, 1), vec![a[0]]);
    p.check_invariants();
}

#[test]
fn last_piece_and_block_are_short() {
    let total = u64::from(BLOCK_SIZE) * 5 + 100; // 2 pieces of 4 blocks, last has 1.x blocks
    let mut p = Picker::new(2, 4 * BLOCK_SIZE, total, 3);
    let reqs = p.next_requests(A, |i| i == 1, 10);
    assert_eq!(reqs, vec![req(1, 0, BLOCK_SIZE), req(1, BLOCK_SIZE, 100)]);
    assert_eq!(
        p.block_received(A, req(1, BLOCK_SIZE, BLOCK_SIZE)),
        BlockOutcome::Unexpected
    );
}

#[test]
fn rarest_first_after_random_start() {
    let mut p = Picker::new(10, BLOCK_SIZE, 10 * u64::from(BLOCK_SIZE), 7);
    for i in 0..4 {
        p.set_have(i);
    }
    // availability: piece 7 has 1 peer, others 3
    p.peer_has_all_of(|i| i >= 4);
    p.peer_has_all_of(|i| i >= 4 && i != 7);
    p.peer_has_all_of(|i| i >= 4 && i != 7);
    let r = p.next_requests(A, all, 1);
    assert_eq!(r[0].piece, PieceIndex(7));
}

#[test]
fn ties_are_broken_at_random() {
    let mut firsts = std::collections::HashSet::new();
    for seed in 1..40 {
        let mut p = Picker::new(64, BLOCK_SIZE, 64 * u64::from(BLOCK_SIZE), seed);
        for i in 0..4 {
            p.set_have(i);
        }
        firsts.insert(p.next_requests(A, all, 1)[0].piece);
    }
    assert!(
        firsts.len() > 10,
        "only {} distinct first picks",
        firsts.len()
    );
}

#[test]
fn only_pieces_the_peer_has() {
    let mut p = Picker::new(10, BLOCK_SIZE, 10 * u64::from(BLOCK_SIZE), 9);
    let r = p.next_requests(A, |i| i == 3 || i == 5, 10);
    let mut pieces: Vec<u32> = r.iter().map(|r| r.piece.0).collect();
    pieces.sort();
    assert_eq!(pieces, [3, 5]);
    assert!(p.next_requests(A, |i| i == 3 || i == 5, 10).is_empty());
}

#[test]
fn verified_piece_completes_and_failed_piece_restarts() {
    let mut p = Picker::new(2, 2 * BLOCK_SIZE, 4 * u64::from(BLOCK_SIZE), 5);
    let r = p.next_requests(A, |i| i == 0, 2);
    assert!(!accept(&mut p, A, r[0]));
    assert!(accept(&mut p, A, r[1]));
    assert_eq!(p.piece_failed(0), vec![A]);
    p.check_invariants();
    let again = p.next_requests(B, |i| i == 0, 2);
    assert_eq!(again, r);
    accept(&mut p, B, again[0]);
    assert!(accept(&mut p, B, again[1]));
    p.piece_verified(0);
    assert!(p.has(0));
    assert_eq!(p.block_received(B, again[0]), BlockOutcome::Duplicate);
    p.check_invariants();
}

#[test]
fn unexpected_blocks_are_rejected() {
    let mut p = Picker::new(2, 2 * BLOCK_SIZE, 4 * u64::from(BLOCK_SIZE), 5);
    let bad = [
        req(9, 0, BLOCK_SIZE),
        req(0, 1, BLOCK_SIZE),
        req(0, 0, 5),
        req(0, 2 * BLOCK_SIZE, BLOCK_SIZE),
        req(1, 0, BLOCK_SIZE), // not in progress
    ];
    for r in bad {
        assert_eq!(p.block_received(A, r), BlockOutcome::Unexpected, "{r:?}");
    }
    p.check_invariants();
}

#[test]
fn departed_peer_orphans_its_piece_for_the_next() {
    let mut p = Picker::new(4, 4 * BLOCK_SIZE, 16 * u64::from(BLOCK_SIZE), 11);
    p.peer_has_all_of(all);
    let r = p.next_requests(A, |i| i == 2, 4);
    accept(&mut p, A, r[0]);
    p.peer_gone(A, all);
    p.check_invariants();
    assert_eq!(p.availability(2), 0);
    let b = p.next_requests(B, all, 3);
    assert_eq!(
        b.iter()
            .map(|r| (r.piece.0, r.offset.0))
            .collect::<Vec<_>>(),
        vec![(2, BLOCK_SIZE), (2, 2 * BLOCK_SIZE), (2, 3 * BLOCK_SIZE)]
    );
    p.check_invariants();
}

#[test]
fn dropped_request_is_reissued() {
    let mut p = Picker::new(1, 2 * BLOCK_SIZE, 2 * u64::from(BLOCK_SIZE), 2);
    let r = p.next_requests(A, all, 2);
    p.request_dropped(A, r[1]);
    p.check_invariants();
    assert_eq!(p.next_requests(A, all, 2), vec![r[1]]);
}

#[test]
fn endgame_duplicates_then_cancels() {
    let mut p = Picker::new(2, BLOCK_SIZE, 2 * u64::from(BLOCK_SIZE), 4);
    let a = p.next_requests(A, all, 1);
    let b = p.next_requests(B, all, 1);
    assert!(p.in_endgame());
    let c = p.next_requests(C, all, 10);
    assert_eq!(c.len(), 2, "C duplicates both outstanding blocks");
    let again = p.next_requests(C, all, 10);
    assert!(again.is_empty(), "never twice to the same peer");
    match p.block_received(C, a[0]) {
        BlockOutcome::Accepted {
            cancel,
            piece_complete,
        } => {
            assert!(piece_complete);
            assert_eq!(cancel, vec![(A, a[0])]);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(p.block_received(A, a[0]), BlockOutcome::Duplicate);
    let _ = b;
    p.check_invariants();
}

#[test]
fn endgame_caps_requesters_per_block() {
    let mut p = Picker::new(1, BLOCK_SIZE, u64::from(BLOCK_SIZE), 4);
    p.next_requests(PeerSlot(0), all, 1);
    let mut asked = 1;
    for i in 1..10 {
        asked += p.next_requests(PeerSlot(i), all, 1).len();
    }
    assert_eq!(asked, ENDGAME_MAX_REQUESTERS);
}

#[test]
fn resume_counts_have_pieces() {
    let mut p = Picker::new(3, BLOCK_SIZE, 3 * u64::from(BLOCK_SIZE), 4);
    p.set_have(0);
    p.set_have(0);
    p.set_have(2);
    assert_eq!(p.have_count(), 2);
    assert!(p.is_interesting(|i| i == 1));
    assert!(!p.is_interesting(|i| i == 2));
    assert_eq!(
        p.next_requests(A, all, 5)
            .iter()
            .map(|r| r.piece.0)
            .collect::<Vec<_>>(),
        [1]
    );
    p.check_invariants();
}

#[test]
fn superseed_reveals_each_piece_once_before_any_twice() {
    let n = 40;
    let mut s = SuperSeeder::new(n, 2, 3);
    let mut pending: VecDeque<(PeerSlot, u32)> = VecDeque::new();
    for peer in 0..8 {
        let r = s.peer_joined(PeerSlot(peer), now(), |_| false);
        assert!(r.iter().all(|&(q, _)| q == PeerSlot(peer)));
        pending.extend(r);
    }
    assert_eq!(pending.len(), 16);
    // deliver and keep revealing until 40 pieces went out
    let mut total = pending.len();
    while total < n as usize {
        let (peer, p) = pending.pop_front().unwrap();
        assert!(s.may_serve(peer, p));
        for (q, r) in s.piece_uploaded(peer, p, now()) {
            assert_eq!(q, peer, "the window that freed is refilled");
            pending.push_back((q, r));
            total += 1;
        }
    }
    for p in 0..n {
        assert!(
            s.times_sent(p) <= 1,
            "piece {p} sent {} times",
            s.times_sent(p)
        );
    }
    assert!(!s.may_serve(PeerSlot(0), n + 5));
}

#[test]
fn superseed_caps_pending_pieces_and_gives_a_freed_place_to_who_waited_longest() {
    let peer = PeerSlot;
    let mut s = SuperSeeder::new(20, 2, 7);
    let _ = s.set_max_pending(3, now());
    let mut got: HashMap<PeerSlot, Vec<u32>> = HashMap::new();
    for q in 0..4 {
        for (to, p) in s.peer_joined(peer(q), now(), |_| false) {
            got.entry(to).or_default().push(p);
        }
    }
    assert_eq!(s.pending(), 3);
    assert_eq!(got[&peer(0)].len(), 2, "{got:?}");
    assert_eq!(got[&peer(1)].len(), 1, "{got:?}");
    // A delivery frees a place: it goes to a peer that has none (2, then 3).
    let first = got[&peer(0)][0];
    assert_eq!(
        s.piece_uploaded(peer(0), first, now())
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        vec![peer(2)]
    );
    let second = got[&peer(1)][0];
    assert_eq!(
        s.piece_uploaded(peer(1), second, now())
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        vec![peer(3)]
    );
    assert_eq!(s.pending(), 3);
    // A higher cap fills the windows at once; a peer leaving frees its places.
    let more = s.set_max_pending(8, now());
    assert_eq!(more.len(), 5, "{more:?}");
    assert_eq!(s.pending(), 8);
    let _ = s.set_max_pending(6, now());
    assert_eq!(s.peer_left(peer(3), now()), vec![], "still over the cap");
    assert_eq!(s.pending(), 6);
    for p in 0..20 {
        assert!(s.times_sent(p) <= 1, "piece {p} promised twice");
    }
}

#[test]
fn superseed_peers_it_cannot_serve_hold_no_place_under_the_cap() {
    let mut s = SuperSeeder::new(10, 2, 3);
    let _ = s.set_max_pending(2, now());
    let a = s.peer_joined(A, now(), |_| false);
    assert_eq!(a.len(), 2);
    assert!(
        s.peer_joined(B, now(), |_| false).is_empty(),
        "the cap is full"
    );
    // A is choked though interested (more peers than unchoke slots): its
    // places go to B, and it gets nothing while so.
    let moved = s.set_servable(A, false, now());
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert!(moved.iter().all(|&(q, _)| q == B));
    assert!(s.peer_joined(C, now(), |_| false).is_empty());
    assert_eq!(s.pending(), 2);
    let b_first = moved[0].1;
    let next = s.piece_uploaded(B, b_first, now());
    assert_eq!(next.iter().map(|r| r.0).collect::<Vec<_>>(), vec![C]);
    // Servable again, A waits its turn like anyone.
    assert!(s.set_servable(A, true, now()).is_empty());
    assert_eq!(s.pending(), 2);
    for p in 0..10 {
        assert!(s.times_sent(p) <= 1, "piece {p} promised twice");
    }
}

#[test]
fn superseed_cap_never_holds_back_pad_only_pieces() {
    let mut s = SuperSeeder::new(3, 2, 1);
    s.set_pad_only(2);
    let _ = s.set_max_pending(1, now());
    // B takes the one place; A lacks only the pad-only piece 2, and gets it.
    let r = s.peer_joined(B, now(), |_| false);
    assert_eq!(r.len(), 1);
    assert_eq!(s.peer_joined(A, now(), |i| i < 2), vec![(A, 2)]);
    assert_eq!(s.pending(), 1);
}

#[test]
fn superseed_skips_pieces_the_peer_has_and_recycles_on_leave() {
    let mut s = SuperSeeder::new(4, 4, 3);
    let r = s.peer_joined(A, now(), |i| i != 2);
    assert_eq!(r, vec![(A, 2)]);
    assert!(s.peer_left(A, now()).is_empty());
    assert_eq!(s.times_sent(2), 0);
    let r = s.peer_joined(B, now(), |_| false);
    assert_eq!(r.len(), 4);
    // a HAVE for a pending piece frees the window but there is nothing left to reveal
    assert!(s.peer_has(B, r[0].1, now()).is_empty());
}

/// 4 pieces of 4 blocks: piece 0 is data then pad from 20 000 on, piece 1
/// is all padding, piece 2 has a pad up to 20 000, piece 3 is data.
fn padded_picker(seed: u64) -> Picker {
    let pl = 4 * BLOCK_SIZE;
    let total = 4 * u64::from(pl);
    let pads = PadMap::from_pads(
        u64::from(pl),
        total,
        [(20_000, 2 * u64::from(pl) - 20_000 + 20_000)],
    );
    Picker::new(4, pl, total, seed).with_pads(Arc::new(pads))
}

#[test]
fn pad_bytes_are_never_picked() {
    for seed in 0..20 {
        let mut p = padded_picker(seed);
        p.peer_has_all_of(all);
        assert_eq!(p.take_pad_only_pieces(), vec![1]);
        let mut reqs = Vec::new();
        loop {
            let r = p.next_requests(A, all, 3);
            if r.is_empty() {
                break;
            }
            reqs.extend(r);
            p.check_invariants();
        }
        reqs.sort_by_key(|r| (r.piece.0, r.offset.0));
        assert_eq!(
            reqs,
            vec![
                req(0, 0, BLOCK_SIZE),
                req(0, BLOCK_SIZE, 20_000 - BLOCK_SIZE),
                req(2, 20_000, 2 * BLOCK_SIZE - 20_000),
                req(2, 2 * BLOCK_SIZE, BLOCK_SIZE),
                req(2, 3 * BLOCK_SIZE, BLOCK_SIZE),
                req(3, 0, BLOCK_SIZE),
                req(3, BLOCK_SIZE, BLOCK_SIZE),
                req(3, 2 * BLOCK_SIZE, BLOCK_SIZE),
                req(3, 3 * BLOCK_SIZE, BLOCK_SIZE),
            ],
            "seed {seed}"
        );
        // A whole block where part was asked for is not what was asked for.
        assert_eq!(
            p.block_received(A, req(0, BLOCK_SIZE, BLOCK_SIZE)),
            BlockOutcome::Unexpected
        );
        assert_eq!(p.whole_block(reqs[1]), req(0, BLOCK_SIZE, BLOCK_SIZE));
        assert_eq!(p.whole_block(reqs[2]), req(2, BLOCK_SIZE, BLOCK_SIZE));
        let mut complete = Vec::new();
        for r in reqs {
            if accept(&mut p, A, r) {
                complete.push(r.piece.0);
            }
        }
        complete.sort_unstable();
        assert_eq!(complete, vec![0, 2, 3]);
        for q in [0, 1, 2, 3] {
            p.piece_verified(q);
        }
        assert!(p.is_complete());
        p.check_invariants();
    }
}

#[test]
fn pad_only_piece_failing_its_hash_is_not_requested_from_peers() {
    let mut p = padded_picker(1);
    p.peer_has_all_of(all);
    assert_eq!(p.take_pad_only_pieces(), vec![1]);
    assert!(p.piece_failed(1).is_empty());
    p.check_invariants();
    let reqs = p.next_requests(A, all, 100);
    assert!(reqs.iter().all(|r| r.piece.0 != 1));
    // and the next call hands it out again, to be zero-filled and hashed
    assert_eq!(p.take_pad_only_pieces(), vec![1]);
}

#[test]
fn endgame_starts_with_pad_only_pieces_pending() {
    let mut p = padded_picker(2);
    p.peer_has_all_of(all);
    let _ = p.take_pad_only_pieces();
    let reqs = p.next_requests(A, all, 100);
    assert_eq!(reqs.len(), 9);
    assert!(p.in_endgame());
    let dup = p.next_requests(B, all, 100);
    assert_eq!(
        dup.len(),
        9,
        "endgame duplicates the same (trimmed) requests"
    );
    p.check_invariants();
}

#[test]
fn superseed_reveals_pad_only_pieces_last_and_never_waits_for_them() {
    let mut s = SuperSeeder::new(6, 2, 5);
    s.set_pad_only(1);
    s.set_pad_only(4);
    let pieces = |r: Vec<(PeerSlot, u32)>| r.into_iter().map(|(_, p)| p).collect::<Vec<u32>>();
    let mut revealed = pieces(s.peer_joined(A, now(), |_| false));
    assert_eq!(revealed.len(), 2);
    while revealed.len() < 6 {
        let pending: Vec<u32> = revealed
            .iter()
            .copied()
            .filter(|&q| q != 1 && q != 4)
            .collect();
        let last = *pending.last().expect("a pending real piece");
        let next = pieces(s.piece_uploaded(A, last, now()));
        assert!(
            !next.is_empty() || revealed.len() == 6,
            "stalled at {revealed:?}"
        );
        revealed.extend(next);
    }
    // Both pad-only pieces come after the four real ones, at once.
    let mut tail = revealed[4..].to_vec();
    tail.sort_unstable();
    assert_eq!(tail, vec![1, 4], "reveal order {revealed:?}");
}

#[test]
fn fleet_choker_unchokes_at_once() {
    let mut c = Choker::new(ChokeMode::Fleet { max_unchoked: 2 }, 1);
    for p in [A, B, C] {
        c.add_peer(p);
    }
    assert_eq!(c.set_interested(A, true), vec![(A, true)]);
    assert_eq!(c.set_interested(B, true), vec![(B, true)]);
    assert!(c.set_interested(C, true).is_empty(), "cap reached");
    assert_eq!(c.remove_peer(A), vec![(C, true)]);
    // B loses interest: sticky until someone waits
    assert!(c.set_interested(B, false).is_empty());
    assert!(c.tick().is_empty());
    c.add_peer(A);
    c.set_interested(A, true);
    let ch = c.tick();
    assert!(
        ch.contains(&(B, false)) && ch.contains(&(A, true)),
        "{ch:?}"
    );
}

/// Fleet slots go round: a holder of [`FLEET_TENURE`] ticks gives its slot
/// to the waiting peer served least, a newcomer first, and every
/// interested peer is served in turn.
#[test]
fn fleet_choker_takes_turns_by_bytes_served() {
    let mut c = Choker::new(ChokeMode::Fleet { max_unchoked: 2 }, 1);
    let peers: Vec<PeerSlot> = (0..6).map(PeerSlot).collect();
    for &p in &peers {
        c.add_peer(p);
        c.set_interested(p, true);
    }
    let mut turns = vec![0u32; peers.len() + 1];
    let mut newcomer_served_at = None;
    for t in 0..200 {
        let all = (0..=6).map(PeerSlot);
        for (i, p) in all.clone().enumerate() {
            if c.is_unchoked(p) {
                turns[i] += 1;
                c.record(p, 0, 1000);
            }
        }
        if t == 100 {
            // A newcomer: served nothing, next in turn everywhere.
            c.add_peer(PeerSlot(6));
            c.set_interested(PeerSlot(6), true);
        }
        let ch = c.tick();
        assert!(ch.len() <= 2, "at most one turn per tick: {ch:?}");
        assert_eq!(all.filter(|&p| c.is_unchoked(p)).count(), 2, "slots in use");
        if c.is_unchoked(PeerSlot(6)) {
            newcomer_served_at.get_or_insert(t);
        }
    }
    let first = newcomer_served_at.expect("the newcomer was never served");
    assert!(
        first <= 100 + FLEET_TENURE as usize,
        "newcomer waited until {first}"
    );
    // Equal shares, give or take a tenure: 400 slot-ticks over 7 peers,
    // the newcomer's in its last 100 ticks.
    let (lo, hi) = (turns.iter().min().unwrap(), turns.iter().max().unwrap());
    assert!(hi - lo <= 2 * FLEET_TENURE as u32, "{turns:?}");
    assert!(*lo >= 50, "{turns:?}");
}

#[test]
fn tit_for_tat_prefers_best_uploaders_and_rotates_optimistic() {
    let mut c = Choker::new(ChokeMode::TitForTat { slots: 1 }, 5);
    let peers: Vec<PeerSlot> = (0..5).map(PeerSlot).collect();
    for &p in &peers {
        c.add_peer(p);
        c.set_interested(p, true);
    }
    c.record(PeerSlot(3), 1000, 0);
    c.record(PeerSlot(1), 10, 0);
    c.rechoke(false);
    assert!(c.is_unchoked(PeerSlot(3)));
    let unchoked = peers.iter().filter(|&&p| c.is_unchoked(p)).count();
    assert_eq!(unchoked, 2, "one regular slot plus one optimistic");
}

/// The same instant for unit tests of the super-seeder that do not age reveals.
fn now() -> std::time::Instant {
    static T: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *T.get_or_init(std::time::Instant::now)
}

/// Link rates of [`simulate_fleet`], in blocks per tick.
#[derive(Debug, Clone, Copy)]
struct SimRates {
    origin_up: usize,
    agent_up: usize,
    agent_down: usize,
}

/// A block-level fluid simulation of a flash crowd: one super-seeding origin,
/// `n` agents running the picker, uplinks and downlinks of `rates` blocks per
/// tick (a tick is 10 ms of the super-seeder's clock, so a release after
/// [`RELEASE_AFTER`] is 50 ticks) and fleet choking (all
/// requests served FIFO). Returns (ticks until every agent has everything,
/// blocks the origin uploaded).
#[allow(clippy::needless_range_loop)] // indices name hosts in the model
fn simulate_fleet(
    n: usize,
    pieces: u32,
    blocks_per_piece: u32,
    rates: SimRates,
    seed: u64,
) -> (u64, u64) {
    let start = now();
    let clock = |tick: u64| start + std::time::Duration::from_millis(10 * tick);
    let piece_len = blocks_per_piece * BLOCK_SIZE;
    let total = u64::from(pieces) * u64::from(piece_len);
    let origin = PeerSlot(0);
    let slot = |a: usize| PeerSlot(a as u32 + 1);
    let depth = 2 * blocks_per_piece as usize;
    // The engine's window and release age.
    let mut ss = SuperSeeder::new(pieces, 2, seed).with_release_after(RELEASE_AFTER);
    let mut pickers: Vec<Picker> = (0..n)
        .map(|a| Picker::new(pieces, piece_len, total, seed + a as u64 + 1))
        .collect();
    let mut has = vec![vec![false; pieces as usize]; n];
    // queue of requests at each uploader (0 = origin, a+1 = agent a): (requester agent, request)
    let mut queues: Vec<VecDeque<(usize, BlockRequest)>> = vec![VecDeque::new(); n + 1];
    let mut outstanding: Vec<HashMap<PeerSlot, usize>> = vec![HashMap::new(); n];
    let mut uploaded_to: HashMap<(usize, u32), u32> = HashMap::new();
    let mut origin_blocks = 0u64;
    for a in 0..n {
        for (q, p) in ss.peer_joined(slot(a), clock(0), |_| false) {
            pickers[q.0 as usize - 1].peer_has(p);
        }
    }
    for tick in 1..1_000_000u64 {
        // 1. requests
        for a in 0..n {
            for q in 0..=n {
                let qs = if q == 0 { origin } else { slot(q - 1) };
                if q == a + 1 {
                    continue;
                }
                let out = outstanding[a].get(&qs).copied().unwrap_or(0);
                if out >= depth {
                    continue;
                }
                let reqs = if q == 0 {
                    let ssr = &ss;
                    pickers[a].next_requests(qs, |p| ssr.may_serve(slot(a), p), depth - out)
                } else {
                    let hq = &has[q - 1];
                    pickers[a].next_requests(qs, |p| hq[p as usize], depth - out)
                };
                *outstanding[a].entry(qs).or_default() += reqs.len();
                for r in reqs {
                    if q == 0 {
                        ss.requested(slot(a), r.piece.0);
                    }
                    queues[q].push_back((a, r));
                }
            }
            // The origin has nothing to send this agent: reveal in place
            // of pieces it does not ask for.
            if !queues[0].iter().any(|&(ra, _)| ra == a) {
                for (q, p) in ss.release_unrequested(slot(a), clock(tick)) {
                    pickers[q.0 as usize - 1].peer_has(p);
                }
            }
        }
        // 2. uploads, each receiver taking at most `agent_down` blocks a tick
        let mut received = vec![0usize; n];
        let mut deliveries = Vec::new();
        for (q, queue) in queues.iter_mut().enumerate() {
            let mut sent = 0;
            let mut deferred = VecDeque::new();
            let up = if q == 0 {
                rates.origin_up
            } else {
                rates.agent_up
            };
            while sent < up {
                let Some((a, r)) = queue.pop_front() else {
                    break;
                };
                if received[a] >= rates.agent_down {
                    deferred.push_back((a, r));
                    continue;
                }
                received[a] += 1;
                sent += 1;
                deliveries.push((q, a, r));
            }
            while let Some(d) = deferred.pop_back() {
                queue.push_front(d);
            }
        }
        // 3. arrivals
        for (q, a, r) in deliveries {
            let qs = if q == 0 { origin } else { slot(q - 1) };
            *outstanding[a].get_mut(&qs).unwrap() -= 1;
            if q == 0 {
                origin_blocks += 1;
                let c = uploaded_to.entry((a, r.piece.0)).or_default();
                *c += 1;
                if *c == blocks_per_piece {
                    for (q, p) in ss.piece_uploaded(slot(a), r.piece.0, clock(tick)) {
                        pickers[q.0 as usize - 1].peer_has(p);
                    }
                }
            }
            match pickers[a].block_received(qs, r) {
                BlockOutcome::Accepted {
                    piece_complete: true,
                    cancel,
                } => {
                    for (c, cr) in cancel {
                        let cq = c.0 as usize;
                        queues[cq].retain(|&(ra, rr)| !(ra == a && rr == cr));
                    }
                    pickers[a].piece_verified(r.piece.0);
                    has[a][r.piece.as_usize()] = true;
                    for b in 0..n {
                        if b != a {
                            pickers[b].peer_has(r.piece.0);
                        }
                    }
                    for (q, p) in ss.peer_has(slot(a), r.piece.0, clock(tick)) {
                        pickers[q.0 as usize - 1].peer_has(p);
                    }
                }
                BlockOutcome::Accepted { .. } | BlockOutcome::Duplicate => {}
                BlockOutcome::Unexpected => panic!("unexpected block {r:?}"),
            }
        }
        if pickers.iter().all(Picker::is_complete) {
            for p in &pickers {
                p.check_invariants();
            }
            return (tick, origin_blocks);
        }
    }
    panic!("fleet simulation did not finish");
}

#[test]
fn simulated_flash_crowd_is_near_the_origin_bound() {
    // 1024 pieces is what `torrent create` aims at for a 256 MiB release.
    // The tail lag is a roughly constant number of piece-times (pipeline
    // depth of the distribution tree), so far fewer pieces would look worse.
    let (pieces, bpp, rate) = (1024u32, 8u32, 8usize);
    let rates = SimRates {
        origin_up: rate,
        agent_up: rate,
        agent_down: rate,
    };
    for n in [4usize, 16] {
        let (ticks, origin_blocks) = simulate_fleet(n, pieces, bpp, rates, 42);
        let total_blocks = u64::from(pieces * bpp);
        let bound = total_blocks.div_ceil(rate as u64);
        let copies = origin_blocks as f64 / total_blocks as f64;
        let ratio = ticks as f64 / bound as f64;
        eprintln!("n={n}: {ticks} ticks vs bound {bound} ({ratio:.3}x), origin copies {copies:.3}");
        assert!(copies <= 1.10, "origin sent {copies:.3} copies");
        assert!(ratio <= 1.15, "took {ratio:.3}x the bound");
    }
}

#[test]
fn simulated_flash_crowd_uses_an_origin_faster_than_the_fleet() {
    // The asymmetric row: origin up 50, agents up 10 / down 50, N =
    // 16. The bound is the fleet's total upload, N·S / (U0 + N·U): the
    // origin must keep sending (about 3.8 copies), not stop after one.
    let (pieces, bpp) = (256u32, 8u32);
    let rates = SimRates {
        origin_up: 10,
        agent_up: 2,
        agent_down: 10,
    };
    let n = 16usize;
    let (ticks, origin_blocks) = simulate_fleet(n, pieces, bpp, rates, 7);
    let total_blocks = u64::from(pieces * bpp);
    let bound = (n as u64 * total_blocks).div_ceil((rates.origin_up + n * rates.agent_up) as u64);
    let copies = origin_blocks as f64 / total_blocks as f64;
    let ratio = ticks as f64 / bound as f64;
    eprintln!("n={n}: {ticks} ticks vs bound {bound} ({ratio:.3}x), origin copies {copies:.3}");
    assert!(copies >= 2.5, "the origin idled: {copies:.3} copies");
    assert!(ratio <= 1.25, "took {ratio:.3}x the bound");
}

mod picker_props {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use crate::picker::{BlockOutcome, Picker};
    use crate::{BLOCK_SIZE, BlockRequest, PeerSlot};

    #[derive(Debug, Clone)]
    enum Op {
        /// Peer joins (or re-announces) with a bitfield seed.
        Join(u8, u64),
        Request(u8, u8),
        /// Deliver the k-th outstanding request of a peer.
        Deliver(u8, u8),
        Drop(u8, u8),
        Release(u8),
        Gone(u8),
        /// Finish a complete piece: verified (true) or failed.
        Finish(u8, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, any::<u64>()).prop_map(|(p, b)| Op::Join(p, b)),
            (0u8..4, 1u8..20).prop_map(|(p, n)| Op::Request(p, n)),
            (0u8..4, any::<u8>()).prop_map(|(p, k)| Op::Deliver(p, k)),
            (0u8..4, any::<u8>()).prop_map(|(p, k)| Op::Drop(p, k)),
            (0u8..4).prop_map(Op::Release),
            (0u8..4).prop_map(Op::Gone),
            (any::<u8>(), any::<bool>()).prop_map(|(k, ok)| Op::Finish(k, ok)),
        ]
    }

    proptest! {
        /// Any sequence of engine events keeps the picker's counters and
        /// ownership consistent, never hands one block to two peers outside
        /// endgame, and a seed can always finish the download afterwards.
        #[test]
        fn picker_stays_consistent_and_completes(ops in proptest::collection::vec(op(), 1..200), seed in any::<u64>()) {
            let pieces = 12u32;
            let piece_len = 3 * BLOCK_SIZE;
            let total = u64::from(pieces - 1) * u64::from(piece_len) + 1000;
            let mut p = Picker::new(pieces, piece_len, total, seed);
            let mut has: HashMap<u8, Vec<bool>> = HashMap::new();
            let mut out: HashMap<u8, Vec<BlockRequest>> = HashMap::new();
            let mut complete: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Op::Join(peer, bits) => {
                        if let Some(old) = has.remove(&peer) {
                            p.peer_gone(PeerSlot(u32::from(peer)), |i| old[i as usize]);
                            out.remove(&peer);
                        }
                        let bf: Vec<bool> = (0..pieces).map(|i| bits >> i & 1 == 1).collect();
                        p.peer_has_all_of(|i| bf[i as usize]);
                        has.insert(peer, bf);
                    }
                    Op::Request(peer, n) => {
                        let Some(bf) = has.get(&peer) else { continue };
                        let reqs = p.next_requests(PeerSlot(u32::from(peer)), |i| bf[i as usize], usize::from(n));
                        for r in &reqs {
                            prop_assert!(bf[r.piece.as_usize()], "requested a piece the peer lacks");
                            prop_assert!(!p.has(r.piece.0));
                            if !p.in_endgame() {
                                for (q, list) in &out {
                                    prop_assert!(*q == peer || !list.contains(r), "block requested twice before endgame");
                                }
                            }
                        }
                        out.entry(peer).or_default().extend(reqs);
                    }
                    Op::Deliver(peer, k) => {
                        let Some(list) = out.get_mut(&peer) else { continue };
                        if list.is_empty() { continue }
                        let r = list.remove(usize::from(k) % list.len());
                        match p.block_received(PeerSlot(u32::from(peer)), r) {
                            BlockOutcome::Accepted { piece_complete, cancel } => {
                                for (q, cr) in cancel {
                                    if let Some(l) = out.get_mut(&(q.0 as u8)) { l.retain(|x| *x != cr); }
                                }
                                if piece_complete { complete.push(r.piece.0); }
                            }
                            BlockOutcome::Duplicate | BlockOutcome::Unexpected => {}
                        }
                    }
                    Op::Drop(peer, k) => {
                        let Some(list) = out.get_mut(&peer) else { continue };
                        if list.is_empty() { continue }
                        let r = list.remove(usize::from(k) % list.len());
                        p.request_dropped(PeerSlot(u32::from(peer)), r);
                    }
                    Op::Release(peer) => {
                        p.peer_released(PeerSlot(u32::from(peer)));
                        out.remove(&peer);
                    }
                    Op::Gone(peer) => {
                        if let Some(bf) = has.remove(&peer) {
                            p.peer_gone(PeerSlot(u32::from(peer)), |i| bf[i as usize]);
                        }
                        out.remove(&peer);
                    }
                    Op::Finish(k, ok) => {
                        if complete.is_empty() { continue }
                        let piece = complete.remove(usize::from(k) % complete.len());
                        if ok { p.piece_verified(piece) } else { p.piece_failed(piece); }
                    }
                }
                p.check_invariants();
            }
            // Finish pieces already complete, then a fresh seed brings the rest.
            for piece in complete { p.piece_verified(piece); }
            let seed_peer = PeerSlot(99);
            p.peer_has_all_of(|_| true);
            for (peer, _) in out.drain() {
                p.peer_released(PeerSlot(u32::from(peer)));
            }
            let mut rounds = 0;
            while !p.is_complete() {
                rounds += 1;
                prop_assert!(rounds < 1000, "a seed could not finish the download");
                let reqs = p.next_requests(seed_peer, |_| true, 8);
                prop_assert!(!reqs.is_empty(), "stuck with nothing to request");
                for r in reqs {
                    if let BlockOutcome::Accepted { piece_complete: true, .. } = p.block_received(seed_peer, r) {
                        p.piece_verified(r.piece.0);
                    }
                }
                p.check_invariants();
            }
        }
    }
}
