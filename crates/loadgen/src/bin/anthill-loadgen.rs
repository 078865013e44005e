//! `anthill-loadgen`: simulate a fleet announcing to any tracker.

use clap::Parser;
use loadgen::{Workload, http, udp};
use std::net::SocketAddr;
use std::time::Duration;

/// Simulate many agents announcing to a BitTorrent tracker and report
/// requests per second and latency.
#[derive(Debug, Parser)]
struct Args {
    /// UDP tracker address (BEP 15).
    #[arg(long, required_unless_present_any = ["http", "print_whitelist"])]
    udp: Option<SocketAddr>,
    /// HTTP tracker address (announce at /announce).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Torrents in the simulated fleet.
    #[arg(long, default_value_t = 1000)]
    torrents: usize,
    /// Agents in the simulated fleet.
    #[arg(long, default_value_t = 100_000)]
    peers: usize,
    /// Announce every agent once before measuring.
    #[arg(long)]
    fill: bool,
    /// Load threads (UDP senders; HTTP client runtimes).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// UDP requests in flight per thread.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Every n-th UDP request is a scrape (0: never).
    #[arg(long, default_value_t = 0)]
    scrape_every: u32,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Peers asked for per announce.
    #[arg(long, default_value_t = 50)]
    numwant: u32,
    /// Print the workload's infohashes (an opentracker whitelist) and exit.
    #[arg(long)]
    print_whitelist: bool,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let wl = Workload::new(a.torrents, a.peers, 1);
    if a.print_whitelist {
        print!("{}", wl.whitelist());
        return Ok(());
    }
    if let Some(target) = a.udp {
        if a.fill {
            let mut r = udp::fill(target, &wl, a.threads, a.window)?;
            println!("udp fill  {}", r.summary());
        }
        let mut r = udp::run(
            target,
            &wl,
            &udp::UdpOptions {
                duration: Duration::from_secs(a.duration),
                threads: a.threads,
                window: a.window,
                numwant: a.numwant,
                scrape_every: a.scrape_every,
            },
        )?;
        println!("udp       {}", r.summary());
    }
    if let Some(target) = a.http {
        let mut r = http::run(
            target,
            &wl,
            &http::HttpOptions {
                duration: Duration::from_secs(a.duration),
                concurrency: a.concurrency,
                threads: a.threads,
                numwant: a.numwant,
            },
        )?;
        println!("http      {}", r.summary());
    }
    Ok(())
}
