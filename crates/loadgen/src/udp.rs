//! BEP 15 load: connect once per socket, then keep `window` announces in
//! flight per thread.

use crate::{Report, Workload};
use anyhow::{Context, bail};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use tracker_proto::AnnounceEvent;
use tracker_proto::udp::{
    AnnounceRequest, ConnectRequest, ConnectionId, Request, Response, ScrapeRequest, TransactionId,
};

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct UdpOptions {
    /// How long to measure.
    pub duration: Duration,
    /// Sending threads (each with its own socket).
    pub threads: usize,
    /// Requests in flight per thread.
    pub window: usize,
    /// `numwant` of each announce.
    pub numwant: u32,
    /// Every n-th request is a scrape (0: never).
    pub scrape_every: u32,
}

impl Default for UdpOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            threads: 1,
            window: 64,
            numwant: 50,
            scrape_every: 0,
        }
    }
}

const RESEND_AFTER: Duration = Duration::from_millis(500);

fn socket_for(target: SocketAddr) -> anyhow::Result<UdpSocket> {
    let bind: SocketAddr = if target.is_ipv4() {
        "127.0.0.1:0".parse()?
    } else {
        "[::1]:0".parse()?
    };
    let s = UdpSocket::bind(bind).context("cannot bind udp socket")?;
    s.connect(target).context("cannot connect udp socket")?;
    s.set_read_timeout(Some(Duration::from_millis(20)))?;
    Ok(s)
}

/// Performs a BEP 15 connect.
pub fn connect(sock: &UdpSocket) -> anyhow::Result<ConnectionId> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    for attempt in 0..50u32 {
        out.clear();
        Request::Connect(ConnectRequest {
            transaction_id: TransactionId(0xffff_0000 | attempt),
        })
        .write_into(&mut out);
        sock.send(&out)?;
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                if let Some(Response::Connect { connection_id, .. }) =
                    Response::parse(&buf[..n], false)
                {
                    return Ok(connection_id);
                }
            }
        }
    }
    bail!("tracker did not answer connect requests")
}

#[derive(Clone, Copy)]
struct Slot {
    sent: Instant,
    peer: usize,
    generation: u16,
    busy: bool,
}

/// What each slot sends next.
enum Next<'a> {
    /// Random peers until the deadline.
    Random {
        scrape_every: u32,
        counter: &'a mut u32,
    },
    /// Peers `next..end` once each, with `event=started` and `numwant=0`.
    Sequential { next: &'a mut usize, end: usize },
}

struct Worker<'w> {
    sock: UdpSocket,
    wl: &'w Workload,
    cid: ConnectionId,
    cid_at: Instant,
    numwant: u32,
    out: Vec<u8>,
}

impl Worker<'_> {
    fn send(
        &mut self,
        slot_idx: usize,
        slot: &mut Slot,
        scrape: bool,
        event: AnnounceEvent,
        numwant: u32,
    ) {
        if self.cid_at.elapsed() > Duration::from_secs(50) {
            if let Ok(c) = connect(&self.sock) {
                self.cid = c;
                self.cid_at = Instant::now();
            }
        }
        slot.generation = slot.generation.wrapping_add(1);
        let tid = TransactionId(
            u32::try_from(slot_idx & 0xffff).unwrap_or(0) | (u32::from(slot.generation) << 16),
        );
        self.out.clear();
        if scrape {
            let t = self.wl.peers[slot.peer % self.wl.peers.len()].torrent;
            Request::Scrape(ScrapeRequest {
                connection_id: self.cid,
                transaction_id: tid,
                info_hashes: vec![self.wl.torrents[t]],
            })
            .write_into(&mut self.out);
        } else {
            Request::Announce(AnnounceRequest {
                connection_id: self.cid,
                transaction_id: tid,
                announce: self.wl.announce(slot.peer, event, Some(numwant)),
            })
            .write_into(&mut self.out);
        }
        slot.sent = Instant::now();
        slot.busy = true;
        let _ = self.sock.send(&self.out);
    }
}

fn worker(
    target: SocketAddr,
    wl: &Workload,
    window: usize,
    numwant: u32,
    deadline: Instant,
    mut next: Next<'_>,
) -> anyhow::Result<Report> {
    let sock = socket_for(target)?;
    let cid = connect(&sock)?;
    let mut w = Worker {
        sock,
        wl,
        cid,
        cid_at: Instant::now(),
        numwant,
        out: Vec::with_capacity(128),
    };
    let mut rng = fastrand::Rng::new();
    let mut slots = vec![
        Slot {
            sent: Instant::now(),
            peer: 0,
            generation: 0,
            busy: false
        };
        window.clamp(1, 0xffff)
    ];
    let mut report = Report::default();
    let start = Instant::now();
    let sequential = matches!(next, Next::Sequential { .. });
    // Picks the next request for a slot; false when there is nothing left.
    let mut assign =
        |slot: &mut Slot, rng: &mut fastrand::Rng| -> Option<(bool, AnnounceEvent, u32)> {
            match &mut next {
                Next::Random {
                    scrape_every,
                    counter,
                } => {
                    slot.peer = rng.usize(..wl.peers.len().max(1));
                    **counter = counter.wrapping_add(1);
                    let scrape = *scrape_every > 0 && **counter % *scrape_every == 0;
                    Some((scrape, AnnounceEvent::None, numwant))
                }
                Next::Sequential { next, end } => {
                    if **next >= *end {
                        return None;
                    }
                    slot.peer = **next;
                    **next += 1;
                    Some((false, AnnounceEvent::Started, 0))
                }
            }
        };
    for (i, s) in slots.iter_mut().enumerate() {
        if let Some((scrape, ev, nw)) = assign(s, &mut rng) {
            w.send(i, s, scrape, ev, nw);
        }
    }
    let mut buf = [0u8; 4096];
    let mut last_sweep = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline || slots.iter().all(|s| !s.busy) {
            break;
        }
        match w.sock.recv(&mut buf) {
            Ok(n) if n >= 8 => {
                let action = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let tid = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
                let idx = usize::try_from(tid & 0xffff).unwrap_or(usize::MAX);
                let Some(slot) = slots.get_mut(idx) else {
                    continue;
                };
                if !slot.busy || u32::from(slot.generation) != tid >> 16 {
                    continue;
                }
                let us = slot.sent.elapsed().as_micros();
                report
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
                if action == 3 {
                    report.errors += 1;
                } else {
                    report.ok += 1;
                }
                slot.busy = false;
                let mut s = *slot;
                if let Some((scrape, ev, nw)) = assign(&mut s, &mut rng) {
                    w.send(idx, &mut s, scrape, ev, nw);
                }
                slots[idx] = s;
            }
            _ => {}
        }
        if last_sweep.elapsed() > Duration::from_millis(50) {
            last_sweep = Instant::now();
            for (i, s) in slots.iter_mut().enumerate() {
                if s.busy && s.sent.elapsed() > RESEND_AFTER {
                    report.lost += 1;
                    // Resend the same peer so sequential fills store everyone.
                    let scrape = false;
                    let (ev, nw) = if sequential {
                        (AnnounceEvent::Started, 0)
                    } else {
                        (AnnounceEvent::None, w.numwant)
                    };
                    w.send(i, s, scrape, ev, nw);
                }
            }
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Announces random peers of `wl` for `opts.duration`.
pub fn run(target: SocketAddr, wl: &Workload, opts: &UdpOptions) -> anyhow::Result<Report> {
    let deadline = Instant::now() + opts.duration;
    let mut total = Report::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..opts.threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut counter = 0u32;
                    worker(
                        target,
                        wl,
                        opts.window,
                        opts.numwant,
                        deadline,
                        Next::Random {
                            scrape_every: opts.scrape_every,
                            counter: &mut counter,
                        },
                    )
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(Ok(r)) => total.merge(r),
                Ok(Err(e)) => return Err(e),
                Err(_) => bail!("load thread panicked"),
            }
        }
        Ok(())
    })?;
    Ok(total)
}

/// Announces every peer of `wl` once (`started`, `numwant=0`), split over
/// `threads`, so the tracker holds the whole fleet. Lost packets are resent.
pub fn fill(
    target: SocketAddr,
    wl: &Workload,
    threads: usize,
    window: usize,
) -> anyhow::Result<Report> {
    let threads = threads.max(1);
    let per = wl.peers.len().div_ceil(threads);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut total = Report::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut next = t * per;
                    let end = ((t + 1) * per).min(wl.peers.len());
                    worker(
                        target,
                        wl,
                        window,
                        0,
                        deadline,
                        Next::Sequential {
                            next: &mut next,
                            end,
                        },
                    )
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(Ok(r)) => total.merge(r),
                Ok(Err(e)) => return Err(e),
                Err(_) => bail!("fill thread panicked"),
            }
        }
        Ok(())
    })?;
    Ok(total)
}
