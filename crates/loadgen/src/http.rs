//! HTTP announce load: `concurrency` clients, each opening a connection
//! per announce (as most BitTorrent clients do) and reading the response
//! to the end, spread over `threads` single-threaded runtimes.

use crate::{Report, Workload};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How long to measure.
    pub duration: Duration,
    /// Concurrent clients (over all threads).
    pub concurrency: usize,
    /// Load threads. A client pays more kernel time per connection than a
    /// tracker does, so one load thread cannot keep one tracker core busy.
    pub threads: usize,
    /// `numwant` of each announce.
    pub numwant: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            concurrency: 32,
            threads: 1,
            numwant: 50,
        }
    }
}

async fn one(target: SocketAddr, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut s = tokio::net::TcpStream::connect(target).await?;
    s.set_nodelay(true)?;
    s.write_all(req).await?;
    buf.clear();
    loop {
        let n = s.read_buf(buf).await?;
        if n == 0 || buf.len() > 1 << 20 {
            break;
        }
    }
    let status_ok = buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.0 200");
    let body_start = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    let body = &buf[body_start..];
    Ok(status_ok
        && matches!(
            tracker_proto::http::decode_announce(body),
            Ok(tracker_proto::http::Reply::Ok(_))
        ))
}

/// Runs the HTTP load on `opts.threads` threads, each with a
/// single-threaded runtime and its share of the clients.
pub fn run(target: SocketAddr, wl: &Workload, opts: &HttpOptions) -> anyhow::Result<Report> {
    let threads = opts.threads.clamp(1, opts.concurrency.max(1));
    let deadline = Instant::now() + opts.duration;
    let start = Instant::now();
    let mut total = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                // Clients are dealt out as evenly as possible.
                let clients = opts.concurrency.max(1) / threads
                    + usize::from(t < opts.concurrency.max(1) % threads);
                scope.spawn(move || run_thread(target, wl, opts.numwant, clients, deadline))
            })
            .collect();
        let mut total = Report::default();
        for h in handles {
            match h.join() {
                Ok(r) => total.merge(r?),
                Err(_) => anyhow::bail!("an http load thread panicked"),
            }
        }
        Ok::<_, anyhow::Error>(total)
    })?;
    total.elapsed = start.elapsed();
    Ok(total)
}

fn run_thread(
    target: SocketAddr,
    wl: &Workload,
    numwant: u32,
    clients: usize,
    deadline: Instant,
) -> anyhow::Result<Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let wl = wl.clone();
            set.spawn(async move {
                let mut r = Report::default();
                let mut buf = Vec::with_capacity(4096);
                let mut req = Vec::with_capacity(512);
                while Instant::now() < deadline {
                    let i = fastrand::usize(..wl.peers.len().max(1));
                    req.clear();
                    req.extend_from_slice(b"GET ");
                    req.extend_from_slice(wl.announce_path(i, numwant).as_bytes());
                    req.extend_from_slice(
                        b" HTTP/1.1\r\nHost: tracker\r\nConnection: close\r\n\r\n",
                    );
                    let t0 = Instant::now();
                    match tokio::time::timeout(Duration::from_secs(5), one(target, &req, &mut buf))
                        .await
                    {
                        Ok(Ok(true)) => {
                            r.ok += 1;
                            r.latencies_us
                                .push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                        }
                        Ok(Ok(false)) => r.errors += 1,
                        _ => r.lost += 1,
                    }
                }
                r
            });
        }
        let mut total = Report::default();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                total.merge(r);
            }
        }
        total
    }))
}
