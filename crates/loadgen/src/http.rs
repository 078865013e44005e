//! HTTP announce load: `concurrency` clients, each opening a connection
//! per announce (as most BitTorrent clients do) and reading the response
//! to the end.

use crate::{Report, Workload};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// How long to measure.
    pub duration: Duration,
    /// Concurrent clients.
    pub concurrency: usize,
    /// `numwant` of each announce.
    pub numwant: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            concurrency: 32,
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
    Ok(status_ok && body.starts_with(b"d") && !body.windows(14).any(|w| w == b"failure reason"))
}

/// Runs the HTTP load on a single-threaded runtime (so it takes one core).
pub fn run(target: SocketAddr, wl: &Workload, opts: &HttpOptions) -> anyhow::Result<Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let deadline = Instant::now() + opts.duration;
    let start = Instant::now();
    let mut total = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..opts.concurrency.max(1) {
            let wl = wl.clone();
            let numwant = opts.numwant;
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
    });
    total.elapsed = start.elapsed();
    Ok(total)
}
