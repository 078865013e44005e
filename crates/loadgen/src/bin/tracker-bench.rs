//! `tracker-bench`: anthill's tracker against Debian's opentracker, same
//! machine, same workload, same run. Prints announces/s, p99 latency and
//! the tracker's CPU time per announce of both over UDP and HTTP, the
//! ratios, and the resident memory of both holding one million peers.
//!
//! Run it through `scripts/bench-tracker`, which builds release binaries
//! first. opentracker is whitelist-only on Debian, so the workload's
//! infohashes are written to a whitelist inside its chroot directory.

use anyhow::{Context, bail};
use clap::Parser;
use loadgen::{Report, Workload, http, udp};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Benchmark anthill's tracker against opentracker.
#[derive(Debug, Parser)]
struct Args {
    /// The anthill binary [default: `anthill` next to this program].
    #[arg(long)]
    anthill: Option<PathBuf>,
    /// The opentracker binary.
    #[arg(long, default_value = "opentracker")]
    opentracker: PathBuf,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Torrents in the workload.
    #[arg(long, default_value_t = 1000)]
    torrents: usize,
    /// Agents in the workload (all announced once before measuring).
    #[arg(long, default_value_t = 100_000)]
    peers: usize,
    /// Runs per tracker and protocol, alternating trackers. The table shows
    /// means; the ratios are medians of the per-round ratios (each round
    /// measures both trackers back to back, so a noisy neighbour on the
    /// machine hits both alike).
    #[arg(long, default_value_t = 4)]
    rounds: u32,
    /// UDP load threads.
    #[arg(long, default_value_t = 1)]
    udp_threads: usize,
    /// UDP requests in flight per load thread.
    #[arg(long, default_value_t = 128)]
    window: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    http_concurrency: usize,
    /// HTTP load threads. A client spends more kernel time per connection
    /// than a tracker, so one load thread leaves the tracker idle part of
    /// the time and measures the load generator instead.
    #[arg(long, default_value_t = 2)]
    http_threads: usize,
    /// HTTP and UDP worker threads of anthill's tracker. opentracker serves
    /// from one event loop, and on a small machine the load generator needs
    /// the other cores, so the default compares one thread with one thread.
    #[arg(long, default_value_t = 1)]
    anthill_workers: usize,
    /// Peers stored for the memory measurement (0: skip it).
    #[arg(long, default_value_t = 1_000_000)]
    memory_peers: usize,
}

struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// CPU time (user + system, all threads) the server has used so far.
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name, which may itself hold spaces.
        let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 here.
        let ticks: f64 = f
            .get(11..13)
            .context("short /proc stat")?
            .iter()
            .map(|v| v.parse::<f64>().unwrap_or(0.0))
            .sum();
        Ok(ticks / clock_ticks())
    }

    fn rss_mb(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        Ok(kb / 1024.0)
    }
}

/// Kernel clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn free_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let t = TcpListener::bind("127.0.0.1:0")?;
        let port = t.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port")
}

fn wait_ready(s: &mut Server) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = s.child.try_wait()? {
            bail!("{} exited at start: {status}", s.name);
        }
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.connect(s.addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        if udp::connect(&sock).is_ok() && std::net::TcpStream::connect(s.addr).is_ok() {
            return Ok(());
        }
    }
    bail!("{} did not start listening on {}", s.name, s.addr)
}

fn start_anthill(bin: &Path, workers: usize) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = std::fs::File::create(dir.path().join("anthill.log"))?;
    let child = Command::new(bin)
        .args([
            "tracker",
            "--http",
            &addr.to_string(),
            "--udp",
            &addr.to_string(),
        ])
        .args([
            "--http-workers",
            &workers.to_string(),
            "--udp-workers",
            &workers.to_string(),
        ])
        // The limiter stays on (its cost is measured) but high enough for one source address.
        .args([
            "--rate-limit",
            "1000000000",
            "--max-peers",
            "3000000",
            "--interval",
            "30m",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let mut s = Server {
        name: "anthill",
        child,
        addr,
        _dir: dir,
    };
    wait_ready(&mut s)?;
    Ok(s)
}

fn start_opentracker(bin: &Path, wl: &Workload) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("whitelist"), wl.whitelist())?;
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = std::fs::File::create(dir.path().join("opentracker.log"))?;
    let child = Command::new(bin)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-P",
            &port.to_string(),
        ])
        .args(["-w", "whitelist", "-u", "nobody", "-d"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot run {} (apt install opentracker)", bin.display()))?;
    let mut s = Server {
        name: "opentracker",
        child,
        addr,
        _dir: dir,
    };
    wait_ready(&mut s)?;
    Ok(s)
}

fn mean(reports: &mut [Report]) -> (f64, f64, u64, u64) {
    let n = f64::from(u32::try_from(reports.len()).unwrap_or(1).max(1));
    let rate = reports.iter().map(Report::rate).sum::<f64>() / n;
    let p99 = reports
        .iter_mut()
        .map(|r| f64::from(r.percentile_us(0.99)))
        .sum::<f64>()
        / n;
    let errors = reports.iter().map(|r| r.errors).sum();
    let lost = reports.iter().map(|r| r.lost).sum();
    (rate, p99, errors, lost)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let anthill = match &a.anthill {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("anthill"),
    };
    let wl = Workload::new(a.torrents, a.peers, 7);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "tracker-bench: {} torrents, {} peers, {} s x {} rounds per cell, {} cores shared by trackers and load, \
         anthill with {} HTTP + {} UDP worker thread(s)",
        a.torrents, a.peers, a.duration, a.rounds, cores, a.anthill_workers, a.anthill_workers
    );
    let dur = Duration::from_secs(a.duration);
    let mut rows = Vec::new();
    for proto in ["udp", "http"] {
        let mut servers = [
            start_anthill(&anthill, a.anthill_workers)?,
            start_opentracker(&a.opentracker, &wl)?,
        ];
        for s in &servers {
            let r = udp::fill(s.addr, &wl, 2, 256)?;
            if r.errors > 0 {
                bail!("{} refused {} fill announces", s.name, r.errors);
            }
        }
        let mut results: [Vec<Report>; 2] = [Vec::new(), Vec::new()];
        // Tracker CPU microseconds per answered announce, per run.
        let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for round in 0..a.rounds {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let s = &mut servers[i];
                let cpu0 = s.cpu_seconds()?;
                let r = match proto {
                    "udp" => udp::run(
                        s.addr,
                        &wl,
                        &udp::UdpOptions {
                            duration: dur,
                            threads: a.udp_threads,
                            window: a.window,
                            numwant: 50,
                            scrape_every: 0,
                        },
                    )?,
                    _ => http::run(
                        s.addr,
                        &wl,
                        &http::HttpOptions {
                            duration: dur,
                            concurrency: a.http_concurrency,
                            threads: a.http_threads,
                            numwant: 50,
                        },
                    )?,
                };
                cpu[i].push((s.cpu_seconds()? - cpu0) / (r.ok.max(1) as f64) * 1e6);
                results[i].push(r);
            }
        }
        let mut rate_ratios: Vec<f64> = results[0]
            .iter()
            .zip(&results[1])
            .map(|(a, b)| a.rate() / b.rate().max(1e-9))
            .collect();
        let [ours_runs, theirs_runs] = &mut results;
        let mut p99_ratios: Vec<f64> = ours_runs
            .iter_mut()
            .zip(theirs_runs.iter_mut())
            .map(|(a, b)| {
                f64::from(a.percentile_us(0.99)) / f64::from(b.percentile_us(0.99).max(1))
            })
            .collect();
        // Announces per tracker CPU-second, ours over theirs.
        let mut cpu_ratios: Vec<f64> = cpu[0]
            .iter()
            .zip(&cpu[1])
            .map(|(a, b)| b / a.max(1e-9))
            .collect();
        let ratios = (
            median(&mut rate_ratios),
            median(&mut p99_ratios),
            median(&mut cpu_ratios),
        );
        let ours = (mean(&mut results[0]), median(&mut cpu[0]));
        let theirs = (mean(&mut results[1]), median(&mut cpu[1]));
        rows.push((proto, ours, theirs, ratios));
        drop(servers);
    }
    println!();
    println!(
        "{:<6} {:<12} {:>13} {:>10} {:>14} {:>8} {:>8}",
        "proto", "tracker", "announces/s", "p99 us", "cpu us/announce", "errors", "lost"
    );
    for (proto, ours, theirs, _) in &rows {
        for (name, (r, cpu)) in [("anthill", ours), ("opentracker", theirs)] {
            println!(
                "{:<6} {:<12} {:>13.0} {:>10.0} {:>15.2} {:>8} {:>8}",
                proto, name, r.0, r.1, cpu, r.2, r.3
            );
        }
    }
    println!();
    for (proto, _, _, (rate, p99, per_cpu)) in &rows {
        println!(
            "ratio {proto}: anthill/opentracker announces/s {rate:.2}x, announces per tracker CPU-second {per_cpu:.2}x, \
             p99 latency {p99:.2}x (lower is better; medians of {} paired rounds)",
            a.rounds
        );
    }
    println!(
        "(tracker and load share {cores} cores: when the load generator saturates them, announces/s is bounded by the \
         load and announces per tracker CPU-second is the figure that says how the trackers themselves compare)"
    );
    if a.memory_peers > 0 {
        let big = Workload::new(a.memory_peers / 1000, a.memory_peers, 11);
        println!();
        for which in ["anthill", "opentracker"] {
            let s = if which == "anthill" {
                start_anthill(&anthill, a.anthill_workers)?
            } else {
                start_opentracker(&a.opentracker, &big)?
            };
            let idle = s.rss_mb()?;
            let t0 = Instant::now();
            let r = udp::fill(s.addr, &big, 2, 256)?;
            let rss = s.rss_mb()?;
            println!(
                "memory {which}: {:.1} MB RSS with {} peers in {} torrents (idle {:.1} MB; filled in {:.1} s, {} errors, {} resent)",
                rss,
                a.memory_peers,
                big.torrents.len(),
                idle,
                t0.elapsed().as_secs_f64(),
                r.errors,
                r.lost
            );
        }
    }
    Ok(())
}
