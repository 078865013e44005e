//! The piece picker: which blocks to request from which peer.
//!
//! Rules (see `PICKER.md` beside this file for the invariants):
//! - The first few pieces are picked at random among those the peer has,
//!   so a new peer quickly holds something to trade; after that the rarest
//!   piece the peer has wins, ties broken at random. Random ties matter in a
//!   fleet: every agent starts at the same moment with equal availability,
//!   and without them all would chase the same piece.
//! - A piece is owned by one peer until it is done (no two peers feed the
//!   same piece, so a bad piece has one culprit and no piece is half-fetched
//!   from many slow sources). A peer that goes away orphans its pieces, and
//!   the next peer that has them takes them over first.
//! - Endgame starts when every missing block is requested: a peer may then
//!   request blocks already requested from others (at most
//!   [`ENDGAME_MAX_REQUESTERS`] per block) and the first arrival cancels the rest.
//! - Pad bytes (BEP 47) are never asked for ([`Picker::with_pads`]): a block
//!   that is all padding counts as received from the start, a block partly
//!   in padding is requested for its real bytes only, and a piece that is all
//!   padding is never claimed; [`Picker::take_pad_only_pieces`] hands those
//!   to the engine, which hashes them as zeros.
//!
//! The picker is sans-IO and deterministic given its seed: the engine feeds
//! it events and asks for requests.

use std::collections::HashMap;
use std::sync::Arc;

use crate::rng::Rng;
use wire::{BlockLength, BlockOffset, BlockRequest, PieceIndex};

use crate::pad::PadMap;
use crate::{BLOCK_SIZE, PeerSlot};

/// Pieces picked at random before rarest-first takes over.
pub const RANDOM_FIRST_PIECES: u32 = 4;
/// At most this many peers asked for one block in endgame.
pub const ENDGAME_MAX_REQUESTERS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceState {
    /// Nothing received or requested.
    Missing,
    /// Some blocks requested or received; details in `partials`.
    Partial,
    /// Verified and stored.
    Have,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Missing,
    /// Requested from these peers (more than one only in endgame).
    Requested(Vec<PeerSlot>),
    Received,
}

#[derive(Debug)]
struct Partial {
    owner: Option<PeerSlot>,
    blocks: Vec<Block>,
    /// Blocks not yet received.
    missing: u32,
    /// Blocks in `Block::Missing`.
    unrequested: u32,
    /// Peers that sent at least one block (blamed if the hash fails).
    contributors: Vec<PeerSlot>,
}

/// What became of a received block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Not a block of a piece in progress, or a bad offset/length: drop it.
    Unexpected,
    /// Already received from someone else (endgame race): drop it.
    Duplicate,
    /// Stored. When `piece_complete`, every block of the piece is in: hash it,
    /// then call [`Picker::piece_verified`] or [`Picker::piece_failed`].
    /// `cancel` lists requests to cancel at other peers.
    Accepted {
        /// All blocks of the piece have arrived.
        piece_complete: bool,
        /// Duplicate requests to cancel.
        cancel: Vec<(PeerSlot, BlockRequest)>,
    },
}

/// A set of pieces with O(1) insert, remove and membership, listed densely
/// so that a scan costs what is in it, not the torrent's piece count.
#[derive(Debug)]
struct PieceList {
    items: Vec<u32>,
    /// Where each piece sits in `items`; `u32::MAX` when absent.
    at: Vec<u32>,
}

impl PieceList {
    fn all(n: u32) -> Self {
        Self {
            items: (0..n).collect(),
            at: (0..n).collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn contains(&self, p: u32) -> bool {
        self.at.get(p as usize).is_some_and(|&j| j != u32::MAX)
    }

    fn insert(&mut self, p: u32) {
        if !self.contains(p) && (p as usize) < self.at.len() {
            self.at[p as usize] = self.items.len() as u32;
            self.items.push(p);
        }
    }

    fn remove(&mut self, p: u32) {
        if !self.contains(p) {
            return;
        }
        let j = self.at[p as usize] as usize;
        self.items.swap_remove(j);
        if let Some(&moved) = self.items.get(j) {
            self.at[moved as usize] = j as u32;
        }
        self.at[p as usize] = u32::MAX;
    }
}

/// Chooses blocks to request; see the module docs.
#[derive(Debug)]
pub struct Picker {
    piece_length: u32,
    total_length: u64,
    state: Vec<PieceState>,
    availability: Vec<u32>,
    partials: HashMap<u32, Partial>,
    /// Pieces each peer owns (in claim order).
    owned: HashMap<PeerSlot, Vec<u32>>,
    /// Partial pieces with no owner and blocks left to request.
    orphans: Vec<u32>,
    have_count: u32,
    /// Sum of `unrequested` over partials.
    unrequested_blocks: u64,
    /// Pieces in `PieceState::Missing` that have real bytes to request, the
    /// only ones [`Picker::claim`] looks at: a scan of every piece for each
    /// claim was the picker's main cost on a 2000-file tree (2372 pieces).
    untouched: PieceList,
    /// Where the pad bytes are (empty: none).
    pads: Arc<PadMap>,
    /// Pieces that are all padding (empty when the torrent has no pads).
    pad_only: Vec<bool>,
    rng: Rng,
}

impl Picker {
    /// A picker for a torrent with these sizes, owning no piece yet.
    pub fn new(num_pieces: u32, piece_length: u32, total_length: u64, seed: u64) -> Self {
        let n = num_pieces as usize;
        Self {
            piece_length,
            total_length,
            state: vec![PieceState::Missing; n],
            availability: vec![0; n],
            partials: HashMap::new(),
            owned: HashMap::new(),
            orphans: Vec::new(),
            have_count: 0,
            unrequested_blocks: 0,
            untouched: PieceList::all(num_pieces),
            pads: Arc::new(PadMap::default()),
            pad_only: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// Skips the pad bytes described by `pads` (built from the same torrent);
    /// call right after [`Picker::new`].
    pub fn with_pads(mut self, pads: Arc<PadMap>) -> Self {
        if !pads.is_empty() {
            self.pad_only = (0..self.num_pieces())
                .map(|p| pads.is_pad_only(p))
                .collect();
            for (p, &pad) in self.pad_only.iter().enumerate() {
                if pad {
                    self.untouched.remove(p as u32);
                }
            }
        }
        self.pads = pads;
        self
    }

    fn is_pad_only(&self, p: u32) -> bool {
        self.pad_only.get(p as usize) == Some(&true)
    }

    /// Missing pieces that are all padding, now in progress with nothing to
    /// request: the engine completes each with zeros, hashes it and reports
    /// [`Picker::piece_verified`] or [`Picker::piece_failed`] as for any piece.
    pub fn take_pad_only_pieces(&mut self) -> Vec<u32> {
        let mut out = Vec::new();
        for p in 0..self.num_pieces() {
            if self.is_pad_only(p) && self.state[p as usize] == PieceState::Missing {
                self.state[p as usize] = PieceState::Partial;
                let blocks = self.blocks_in(p) as usize;
                self.partials.insert(
                    p,
                    Partial {
                        owner: None,
                        blocks: vec![Block::Received; blocks],
                        missing: 0,
                        unrequested: 0,
                        contributors: Vec::new(),
                    },
                );
                out.push(p);
            }
        }
        out
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u32 {
        u32::try_from(self.state.len()).unwrap_or(u32::MAX)
    }
    /// Pieces we have.
    pub fn have_count(&self) -> u32 {
        self.have_count
    }
    /// True when every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.have_count as usize == self.state.len()
    }
    /// True if we have piece `p`.
    pub fn has(&self, p: u32) -> bool {
        self.state.get(p as usize) == Some(&PieceState::Have)
    }
    /// How many connected peers have piece `p`.
    pub fn availability(&self, p: u32) -> u32 {
        self.availability.get(p as usize).copied().unwrap_or(0)
    }
    /// True once every missing block has been requested from someone.
    pub fn in_endgame(&self) -> bool {
        !self.is_complete() && self.untouched.is_empty() && self.unrequested_blocks == 0
    }

    /// Length of piece `p`.
    pub fn piece_size(&self, p: u32) -> u32 {
        let start = u64::from(p) * u64::from(self.piece_length);
        let len = self
            .total_length
            .saturating_sub(start)
            .min(u64::from(self.piece_length));
        u32::try_from(len).unwrap_or(self.piece_length)
    }

    fn blocks_in(&self, p: u32) -> u32 {
        self.piece_size(p).div_ceil(BLOCK_SIZE)
    }

    /// What to request for block `b` of piece `p`: the whole block, or only
    /// its real bytes when part of it is padding; `None` past the piece's end
    /// or when the block is all padding.
    pub fn block_request(&self, p: u32, b: u32) -> Option<BlockRequest> {
        let (offset, len) = if self.pads.is_empty() {
            let offset = b.checked_mul(BLOCK_SIZE)?;
            let size = self.piece_size(p);
            if offset >= size {
                return None;
            }
            (offset, (size - offset).min(BLOCK_SIZE))
        } else {
            self.pads.block_range(p, b)?
        };
        Some(BlockRequest::new(
            PieceIndex(p),
            BlockOffset(offset),
            BlockLength(len),
        ))
    }

    /// The whole block (pad bytes included) that request `r` lies in, for
    /// peers that answer only whole blocks.
    pub fn whole_block(&self, r: BlockRequest) -> BlockRequest {
        let p = r.piece.get();
        let offset = r.offset.get() / BLOCK_SIZE * BLOCK_SIZE;
        let len = self.piece_size(p).saturating_sub(offset).min(BLOCK_SIZE);
        BlockRequest::new(r.piece, BlockOffset(offset), BlockLength(len))
    }

    /// Marks pieces we already have on disk (resume); call before any peer event.
    pub fn set_have(&mut self, p: u32) {
        if let Some(s) = self.state.get_mut(p as usize) {
            if *s == PieceState::Missing {
                *s = PieceState::Have;
                self.have_count += 1;
                self.untouched.remove(p);
            }
        }
    }

    /// A peer announced piece `p` (HAVE).
    pub fn peer_has(&mut self, p: u32) {
        if let Some(a) = self.availability.get_mut(p as usize) {
            *a += 1;
        }
    }

    /// A peer's whole bitfield arrived (or HAVE ALL, with `has` always true).
    pub fn peer_has_all_of(&mut self, has: impl Fn(u32) -> bool) {
        for (i, a) in self.availability.iter_mut().enumerate() {
            if has(i as u32) {
                *a += 1;
            }
        }
    }

    /// True if the peer has some piece we neither have nor can skip.
    pub fn is_interesting(&self, has: impl Fn(u32) -> bool) -> bool {
        self.state
            .iter()
            .enumerate()
            .any(|(i, s)| *s != PieceState::Have && has(i as u32))
    }

    /// Up to `max` new requests for `peer`, which has the pieces for which `has` is true.
    pub fn next_requests(
        &mut self,
        peer: PeerSlot,
        has: impl Fn(u32) -> bool,
        max: usize,
    ) -> Vec<BlockRequest> {
        let mut out = Vec::new();
        if max == 0 || self.is_complete() {
            return out;
        }
        // 1. Continue pieces this peer owns.
        let owned: Vec<u32> = self.owned.get(&peer).cloned().unwrap_or_default();
        for p in owned {
            self.request_from_piece(peer, p, max, &mut out);
            if out.len() >= max {
                return out;
            }
        }
        // 2. Claim new pieces.
        while out.len() < max {
            let Some(p) = self.claim(peer, &has) else {
                break;
            };
            self.request_from_piece(peer, p, max, &mut out);
        }
        // 3. Endgame duplicates.
        if out.len() < max && self.in_endgame() {
            self.endgame_requests(peer, &has, max, &mut out);
        }
        out
    }

    fn request_from_piece(
        &mut self,
        peer: PeerSlot,
        p: u32,
        max: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let Some(partial) = self.partials.get_mut(&p) else {
            return;
        };
        if partial.unrequested == 0 {
            return;
        }
        let mut picked = Vec::new();
        for (b, block) in partial.blocks.iter_mut().enumerate() {
            if out.len() + picked.len() >= max {
                break;
            }
            if *block == Block::Missing {
                *block = Block::Requested(vec![peer]);
                partial.unrequested -= 1;
                self.unrequested_blocks -= 1;
                picked.push(b as u32);
            }
        }
        out.extend(picked.into_iter().filter_map(|b| self.block_request(p, b)));
    }

    /// Picks a piece for `peer` and makes it the owner.
    fn claim(&mut self, peer: PeerSlot, has: &impl Fn(u32) -> bool) -> Option<u32> {
        // Orphaned partials first: finishing them frees memory and unblocks hashing.
        if let Some(i) = self.orphans.iter().position(|&p| has(p)) {
            let p = self.orphans.swap_remove(i);
            if let Some(partial) = self.partials.get_mut(&p) {
                partial.owner = Some(peer);
            }
            self.owned.entry(peer).or_default().push(p);
            return Some(p);
        }
        let random = self.have_count < RANDOM_FIRST_PIECES;
        let (list, availability) = (&self.untouched.items, &self.availability);
        let j = self.rng.random_min_by_key(list.len(), |j| {
            let p = list[j];
            has(p).then(|| if random { 0 } else { availability[p as usize] })
        })?;
        let p = list[j];
        self.untouched.remove(p);
        // Blocks that are all padding are "received" from the start.
        let blocks: Vec<Block> = (0..self.blocks_in(p))
            .map(|b| match self.block_request(p, b) {
                Some(_) => Block::Missing,
                None => Block::Received,
            })
            .collect();
        let real = blocks.iter().filter(|b| **b == Block::Missing).count() as u32;
        self.state[p as usize] = PieceState::Partial;
        self.unrequested_blocks += u64::from(real);
        self.partials.insert(
            p,
            Partial {
                owner: Some(peer),
                blocks,
                missing: real,
                unrequested: real,
                contributors: Vec::new(),
            },
        );
        self.owned.entry(peer).or_default().push(p);
        Some(p)
    }

    /// Requests for a peer that has answered everything we asked of it and
    /// got nothing from [`Picker::next_requests`]: it becomes the owner of
    /// the partial pieces it has with the most blocks nobody was asked for
    /// (their old owners keep their requests out), at most `max` blocks.
    ///
    /// Without this, those blocks waited for their owner's pipeline alone.
    /// At the end of a download, and with an origin that shows each agent a
    /// few pieces at a time, the owners were agents sending 10 Mbit/s over
    /// 15 connections (a 256 KiB piece took them seconds) while a 50 Mbit/s
    /// origin that had the piece idled. Only a peer with nothing
    /// outstanding takes over, so pieces move to peers that answer fast,
    /// not back and forth. No block is asked of two peers here; endgame
    /// still needs every block requested.
    ///
    /// `may_take(owner)` says whether a piece of `owner` may be taken: the
    /// engine allows it from owners that deliver at most half as fast, so
    /// an origin whose uplink is the bottleneck does not take pieces that
    /// agents are trading at about its speed (each taken block is one it
    /// sends again).
    pub fn take_over_requests(
        &mut self,
        peer: PeerSlot,
        has: impl Fn(u32) -> bool,
        may_take: impl Fn(PeerSlot) -> bool,
        max: usize,
    ) -> Vec<BlockRequest> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(p) = self.take_over(peer, &has, &may_take) else {
                break;
            };
            self.request_from_piece(peer, p, max, &mut out);
        }
        out
    }

    /// Makes `peer` the owner of the partial piece it has with the most
    /// unrequested blocks, if another peer owns it and `may_take` it.
    fn take_over(
        &mut self,
        peer: PeerSlot,
        has: &impl Fn(u32) -> bool,
        may_take: &impl Fn(PeerSlot) -> bool,
    ) -> Option<u32> {
        let (p, old) = self
            .partials
            .iter()
            .filter(|(p, partial)| {
                partial.unrequested > 0
                    && partial.owner.is_some_and(|o| o != peer && may_take(o))
                    && has(**p)
            })
            .max_by_key(|(p, partial)| (partial.unrequested, std::cmp::Reverse(**p)))
            .map(|(p, partial)| (*p, partial.owner))?;
        if let Some(list) = old.and_then(|o| self.owned.get_mut(&o)) {
            list.retain(|&q| q != p);
        }
        if let Some(partial) = self.partials.get_mut(&p) {
            partial.owner = Some(peer);
        }
        self.owned.entry(peer).or_default().push(p);
        Some(p)
    }

    fn endgame_requests(
        &mut self,
        peer: PeerSlot,
        has: &impl Fn(u32) -> bool,
        max: usize,
        out: &mut Vec<BlockRequest>,
    ) {
        let mut pieces: Vec<u32> = self.partials.keys().copied().filter(|&p| has(p)).collect();
        // Spread duplicate requests: start at a random piece.
        if !pieces.is_empty() {
            let k = self.rng.below(pieces.len() as u64) as usize;
            pieces.rotate_left(k);
        }
        let mut picked = Vec::new();
        for p in pieces {
            let Some(partial) = self.partials.get_mut(&p) else {
                continue;
            };
            for (b, block) in partial.blocks.iter_mut().enumerate() {
                if out.len() + picked.len() >= max {
                    break;
                }
                if let Block::Requested(by) = block {
                    if !by.contains(&peer) && by.len() < ENDGAME_MAX_REQUESTERS {
                        by.push(peer);
                        picked.push((p, b as u32));
                    }
                }
            }
        }
        out.extend(
            picked
                .into_iter()
                .filter_map(|(p, b)| self.block_request(p, b)),
        );
    }

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerSlot, req: BlockRequest) -> BlockOutcome {
        let (piece, offset) = (req.piece.get(), req.offset.get());
        if piece >= self.num_pieces() {
            return BlockOutcome::Unexpected;
        }
        let b = offset / BLOCK_SIZE;
        if self.block_request(piece, b) != Some(req) {
            return BlockOutcome::Unexpected;
        }
        let Some(partial) = self.partials.get_mut(&piece) else {
            return match self.state[piece as usize] {
                PieceState::Have => BlockOutcome::Duplicate,
                _ => BlockOutcome::Unexpected,
            };
        };
        let block = &mut partial.blocks[b as usize];
        let others = match std::mem::replace(block, Block::Received) {
            Block::Received => return BlockOutcome::Duplicate,
            Block::Missing => {
                partial.unrequested -= 1;
                self.unrequested_blocks -= 1;
                Vec::new()
            }
            Block::Requested(by) => by.into_iter().filter(|&q| q != peer).collect(),
        };
        partial.missing -= 1;
        if !partial.contributors.contains(&peer) {
            partial.contributors.push(peer);
        }
        BlockOutcome::Accepted {
            piece_complete: partial.missing == 0,
            cancel: others.into_iter().map(|q| (q, req)).collect(),
        }
    }

    fn drop_partial(&mut self, p: u32) -> Option<Partial> {
        let partial = self.partials.remove(&p)?;
        self.unrequested_blocks -= u64::from(partial.unrequested);
        if let Some(owner) = partial.owner {
            if let Some(list) = self.owned.get_mut(&owner) {
                list.retain(|&q| q != p);
            }
        }
        self.orphans.retain(|&q| q != p);
        Some(partial)
    }

    /// Piece `p` hashed correctly and is stored.
    pub fn piece_verified(&mut self, p: u32) {
        if self.drop_partial(p).is_some() {
            self.state[p as usize] = PieceState::Have;
            self.have_count += 1;
        }
    }

    /// Piece `p` failed its hash check: it starts over. Returns the peers that sent
    /// its blocks, for the engine's ban accounting.
    pub fn piece_failed(&mut self, p: u32) -> Vec<PeerSlot> {
        match self.drop_partial(p) {
            Some(partial) => {
                self.state[p as usize] = PieceState::Missing;
                if !self.is_pad_only(p) {
                    self.untouched.insert(p);
                }
                partial.contributors
            }
            None => Vec::new(),
        }
    }

    /// A request to `peer` will not be answered (rejected, cancelled, timed out).
    pub fn request_dropped(&mut self, peer: PeerSlot, req: BlockRequest) {
        let piece = req.piece.get();
        let b = (req.offset.get() / BLOCK_SIZE) as usize;
        let Some(partial) = self.partials.get_mut(&piece) else {
            return;
        };
        if let Some(Block::Requested(by)) = partial.blocks.get_mut(b) {
            by.retain(|&q| q != peer);
            if by.is_empty() {
                partial.blocks[b] = Block::Missing;
                partial.unrequested += 1;
                self.unrequested_blocks += 1;
                if partial.owner.is_none() && !self.orphans.contains(&piece) {
                    self.orphans.push(piece);
                }
            }
        }
    }

    /// `peer` choked us without the fast extension, or stopped being useful:
    /// every outstanding request to it is void and its pieces become orphans.
    pub fn peer_released(&mut self, peer: PeerSlot) {
        self.peer_choked(peer);
        let pieces: Vec<u32> = self.partials.keys().copied().collect();
        for p in pieces {
            let Some(partial) = self.partials.get_mut(&p) else {
                continue;
            };
            let mut freed = 0;
            for block in &mut partial.blocks {
                if let Block::Requested(by) = block {
                    by.retain(|&q| q != peer);
                    if by.is_empty() {
                        *block = Block::Missing;
                        freed += 1;
                    }
                }
            }
            partial.unrequested += freed;
            self.unrequested_blocks += u64::from(freed);
            if partial.owner.is_none() && partial.unrequested > 0 && !self.orphans.contains(&p) {
                self.orphans.push(p);
            }
        }
    }

    /// `peer` choked us with the fast extension: its requests stay out until
    /// it answers or rejects them, but its pieces lose their owner, so other
    /// peers finish them. (Owned, a piece was left to a peer that might not
    /// serve us again for long: in a fleet of 32 whose upload slots go
    /// round, every agent stopped at about 93 %, each missing piece owned by
    /// a peer that choked it, and no endgame, as those blocks were never
    /// requested.)
    pub fn peer_choked(&mut self, peer: PeerSlot) {
        for p in self.owned.remove(&peer).unwrap_or_default() {
            if let Some(partial) = self.partials.get_mut(&p) {
                partial.owner = None;
                if partial.unrequested > 0 && !self.orphans.contains(&p) {
                    self.orphans.push(p);
                }
            }
        }
    }

    /// `peer` disconnected: its requests are void and its pieces no longer count.
    pub fn peer_gone(&mut self, peer: PeerSlot, had: impl Fn(u32) -> bool) {
        self.peer_released(peer);
        for (i, a) in self.availability.iter_mut().enumerate() {
            if had(i as u32) {
                *a = a.saturating_sub(1);
            }
        }
    }

    /// Every block in `Requested`, with its requesters: (piece, block, peers).
    #[cfg(test)]
    pub(crate) fn requested_blocks(&self) -> Vec<(u32, u32, Vec<PeerSlot>)> {
        let mut out = Vec::new();
        for (p, partial) in &self.partials {
            for (b, block) in partial.blocks.iter().enumerate() {
                if let Block::Requested(peers) = block {
                    out.push((*p, b as u32, peers.clone()));
                }
            }
        }
        out
    }

    /// Consistency check used by tests: the counters match the block states.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut unreq = 0u64;
        for (p, partial) in &self.partials {
            assert_eq!(self.state[*p as usize], PieceState::Partial);
            let m = partial
                .blocks
                .iter()
                .filter(|b| **b != Block::Received)
                .count() as u32;
            let u = partial
                .blocks
                .iter()
                .filter(|b| **b == Block::Missing)
                .count() as u32;
            assert_eq!(partial.missing, m, "missing count of piece {p}");
            assert_eq!(partial.unrequested, u, "unrequested count of piece {p}");
            unreq += u64::from(u);
            if let Some(o) = partial.owner {
                assert!(self.owned.get(&o).is_some_and(|l| l.contains(p)));
            }
        }
        assert_eq!(unreq, self.unrequested_blocks);
        let have = self
            .state
            .iter()
            .filter(|s| **s == PieceState::Have)
            .count() as u32;
        assert_eq!(have, self.have_count);
        for (i, s) in self.state.iter().enumerate() {
            let p = i as u32;
            let listed = *s == PieceState::Missing && !self.is_pad_only(p);
            assert_eq!(self.untouched.contains(p), listed, "piece {p}");
        }
        for (j, &p) in self.untouched.items.iter().enumerate() {
            assert_eq!(self.untouched.at[p as usize], j as u32);
        }
        for (o, list) in &self.owned {
            for p in list {
                assert_eq!(self.partials.get(p).and_then(|x| x.owner), Some(*o));
            }
        }
    }
}
