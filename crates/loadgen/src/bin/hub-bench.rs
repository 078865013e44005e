//! A fleet's load on a hub: N simulated agents each hold the event stream
//! (`/api/events`) open and report (`POST /api/agents/report`) every
//! interval, at spread-out times as a real fleet does. Prints report
//! latency (p50, p99, max), how long a publish takes to reach every stream,
//! and the hub's resident memory, against the targets (10 000 agents: under
//! 300 MB, report p99 under 50 ms). Run through `scripts/bench-hub`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Simulated agents against a real `anthill hub`.
#[derive(Debug, Parser)]
struct Args {
    /// The anthill binary.
    #[arg(long, default_value = "target/release/anthill")]
    anthill: PathBuf,
    /// Simulated agents (each one event stream and one report per interval).
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Seconds between two reports of one agent.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Seconds of reporting after every stream is open.
    #[arg(long, default_value_t = 75)]
    duration: u64,
}

struct Stats {
    latencies_us: std::sync::Mutex<Vec<u64>>,
    errors: AtomicU64,
    published_seen: AtomicU64,
    last_published_us: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Each side needs a file descriptor per stream (the hub inherits this).
    let want = args.agents as u64 + 1024;
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let max = lim.maximum.unwrap_or(u64::MAX).max(want);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(want),
            maximum: Some(max),
        },
    )
    .context("cannot raise the open-file limit (run as root or raise `ulimit -n`)")?;

    let dir = tempfile::tempdir()?;
    let mut child = Command::new(&args.anthill)
        .args([
            "hub",
            "--listen",
            "127.0.0.1:0",
            "--peer-listen",
            "127.0.0.1:0",
            "--settle",
            "200ms",
            "--dir",
        ])
        .arg(dir.path().join("hub"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", args.anthill.display()))?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().context("no stderr")?).lines();
    let addr: SocketAddr = loop {
        let Some(line) = lines.next() else {
            bail!("the hub exited before it ran")
        };
        let line = line?;
        if let Some(rest) = line.split("hub running url=http://").nth(1) {
            break rest.split_whitespace().next().unwrap_or("").parse()?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let rss_idle = rss_kb(pid);

    let stats = Arc::new(Stats {
        latencies_us: std::sync::Mutex::new(Vec::new()),
        errors: AtomicU64::new(0),
        published_seen: AtomicU64::new(0),
        last_published_us: AtomicU64::new(0),
    });
    let epoch = Instant::now();
    // Open every stream (a few hundred at a time, as a fleet restarting would).
    let opened = Arc::new(AtomicU64::new(0));
    let mut streams = tokio::task::JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    for _ in 0..args.agents {
        let (stats, opened, sem) = (Arc::clone(&stats), Arc::clone(&opened), Arc::clone(&sem));
        streams.spawn(async move {
            let mut permit = sem.acquire_owned().await.ok();
            let Ok(mut s) = TcpStream::connect(addr).await else {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            if s.write_all(b"GET /api/events HTTP/1.1\r\nHost: hub\r\n\r\n")
                .await
                .is_err()
            {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut r = tokio::io::BufReader::new(s).lines();
            let mut hello = false;
            while let Ok(Some(line)) = r.next_line().await {
                if !hello && line.starts_with("event: hello") {
                    hello = true;
                    opened.fetch_add(1, Ordering::Relaxed);
                    drop(permit.take());
                } else if line.starts_with("event: published") {
                    stats.published_seen.fetch_add(1, Ordering::Relaxed);
                    stats
                        .last_published_us
                        .fetch_max(epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
            }
        });
    }
    let open_started = Instant::now();
    while opened.load(Ordering::Relaxed) + stats.errors.load(Ordering::Relaxed) < args.agents as u64
    {
        if open_started.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {} streams opened in 120 s",
                opened.load(Ordering::Relaxed),
                args.agents
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_secs = open_started.elapsed().as_secs_f64();
    let rss_streams = rss_kb(pid);

    // Reports: each agent at its own offset within the interval.
    let interval = Duration::from_secs(args.interval.max(1));
    let run = Duration::from_secs(args.duration);
    let start = Instant::now();
    let mut reporters = tokio::task::JoinSet::new();
    for i in 0..args.agents {
        let stats = Arc::clone(&stats);
        let offset = interval.mul_f64(i as f64 / args.agents as f64);
        reporters.spawn(async move {
            let mut next = start + offset;
            while next < start + run {
                tokio::time::sleep_until(next.into()).await;
                let t = Instant::now();
                match report(addr, i).await {
                    Ok(()) => stats
                        .latencies_us
                        .lock()
                        .unwrap()
                        .push(t.elapsed().as_micros() as u64),
                    Err(_) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                next += interval;
            }
        });
    }
    // Halfway through, publish a release and time its fan-out to every stream.
    tokio::time::sleep(run / 2).await;
    let rel = dir.path().join("hub/incoming/bench-1");
    std::fs::create_dir_all(&rel)?;
    std::fs::write(rel.join("f"), vec![1u8; 100_000])?;
    let dropped = epoch.elapsed().as_micros() as u64;
    std::fs::write(dir.path().join("hub/incoming/.bench-1.ready"), b"")?;
    while reporters.join_next().await.is_some() {}
    let rss_end = rss_kb(pid);
    let hwm = hwm_kb(pid);

    let mut lat = std::mem::take(&mut *stats.latencies_us.lock().unwrap());
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let p99_ms = pct(0.99) as f64 / 1000.0;
    let seen = stats.published_seen.load(Ordering::Relaxed);
    let fanout_ms = stats
        .last_published_us
        .load(Ordering::Relaxed)
        .saturating_sub(dropped) as f64
        / 1000.0;
    println!(
        "hub-bench: {} agents, report every {} s, {} s of reports",
        args.agents, args.interval, args.duration
    );
    println!(
        "  streams opened        {} in {open_secs:.1} s ({} errors)",
        opened.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed)
    );
    println!(
        "  reports               {} ({:.0}/s)",
        lat.len(),
        lat.len() as f64 / run.as_secs_f64()
    );
    println!(
        "  report latency        p50 {:.2} ms, p99 {p99_ms:.2} ms, max {:.2} ms   (target p99 < 50 ms: {:.2}x of it)",
        pct(0.5) as f64 / 1000.0,
        lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        p99_ms / 50.0
    );
    println!(
        "  publish reached       {seen} of {} streams; last {fanout_ms:.0} ms after the drop (includes hashing and publishing)",
        args.agents
    );
    println!(
        "  hub RSS               idle {:.1} MB, {} streams open {:.1} MB, end {:.1} MB, peak {:.1} MB   (target < 300 MB: {:.2}x of it)",
        rss_idle as f64 / 1024.0,
        args.agents,
        rss_streams as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        hwm as f64 / 1024.0,
        hwm as f64 / 1024.0 / 300.0
    );
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    streams.abort_all();
    Ok(())
}

async fn report(addr: SocketAddr, i: usize) -> std::io::Result<()> {
    let body = format!(
        "{{\"name\":\"agent-{i:05}\",\"current\":\"app-1\",\"releases\":[{{\"infohash\":\"{}\",\"name\":\"app-1\",\"state\":\"installed\",\"progress\":1.0,\"from_peers\":1000000,\"from_hub\":1000,\"hook\":{{\"exit_code\":0,\"output_tail\":\"ok\"}}}}]}}",
        "ab".repeat(20)
    );
    let mut s = TcpStream::connect(addr).await?;
    let req = format!(
        "POST /api/agents/report HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(256);
    s.read_to_end(&mut buf).await?;
    if buf.starts_with(b"HTTP/1.1 204") {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&buf).into_owned(),
        ))
    }
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

fn hwm_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}
