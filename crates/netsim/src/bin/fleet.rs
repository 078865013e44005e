//! `fleet`: the fleet benchmark. Runs the fleet scenario of `netsim::fleet` for
//! every client and agent count given and prints one table row per run: time
//! until every agent had the verified file, T_min, their ratio, and how many
//! copies of the file the origin uploaded (raw link bytes / file size).
//!
//! `scripts/bench-fleet` builds and runs it with the numbers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netsim::Rate;
use netsim::fleet::{Client, FleetOptions, FleetReport, Links, Payload, TrackerKind, run_fleet};

/// Run the fleet scenario (origin + N agents + tracker in network namespaces)
/// for each client and N, and print a comparison table. Needs root.
#[derive(Debug, Parser)]
#[command(name = "fleet")]
struct Args {
    /// Clients to measure, comma-separated: libtorrent, aria2, anthill.
    #[arg(long, value_delimiter = ',', default_value = "libtorrent,aria2")]
    clients: Vec<Client>,
    /// Agent counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,16")]
    agents: Vec<u32>,
    /// Upload and download limit of the origin and every agent, in Mbit/s.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    rate_mbit: u32,
    /// The origin's upload, Mbit/s (default: --rate-mbit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    origin_up_mbit: Option<u32>,
    /// The origin's download, Mbit/s (default: --rate-mbit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    origin_down_mbit: Option<u32>,
    /// Each agent's upload, Mbit/s (default: --rate-mbit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    agent_up_mbit: Option<u32>,
    /// Each agent's download, Mbit/s (default: --rate-mbit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    agent_down_mbit: Option<u32>,
    /// Size of the content, in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    size_mib: u64,
    /// Distribute a directory of this many files of mixed sizes (log-normal,
    /// median 35 KiB, p90 230 KiB, scaled to --size-mib) instead of one file.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    tree: Option<u32>,
    /// With --tree: make the torrent aligned (BEP 47 pad files, with
    /// `anthill torrent create`), as the hub does; default: mktorrent, unaligned.
    #[arg(long, requires = "tree")]
    aligned: bool,
    /// Piece length as a power of two (18 = 256 KiB).
    #[arg(long, default_value_t = 18)]
    piece_length_log2: u8,
    /// Seconds the agents of one run may take before it counts as failed.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    /// Keep every run's logs and data below this directory (`<client>-n<N>/`).
    /// Default: temporary directories, removed after each run.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// The anthill binary (default: $ANTHILL_BIN, else target/{release,debug}/anthill).
    #[arg(long)]
    anthill_bin: Option<PathBuf>,
    /// Use `anthill tracker` instead of opentracker.
    #[arg(long)]
    anthill_tracker: bool,
    /// Also print per-host byte counters and completion times.
    #[arg(long)]
    hosts: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut rows: Vec<Result<FleetReport, String>> = Vec::new();
    println!("{}", FleetReport::table_header());
    for &n in &args.agents {
        for &client in &args.clients {
            let options = FleetOptions {
                client,
                tracker: if args.anthill_tracker {
                    TrackerKind::Anthill
                } else {
                    TrackerKind::Opentracker
                },
                agents: n,
                size: args.size_mib << 20,
                rate: Rate::from_mbit(args.rate_mbit),
                links: Some(Links {
                    origin_up: Rate::from_mbit(args.origin_up_mbit.unwrap_or(args.rate_mbit)),
                    origin_down: Rate::from_mbit(args.origin_down_mbit.unwrap_or(args.rate_mbit)),
                    agent_up: Rate::from_mbit(args.agent_up_mbit.unwrap_or(args.rate_mbit)),
                    agent_down: Rate::from_mbit(args.agent_down_mbit.unwrap_or(args.rate_mbit)),
                }),
                payload: match args.tree {
                    None => Payload::File,
                    Some(files) => Payload::Tree {
                        files,
                        aligned: args.aligned,
                    },
                },
                piece_length_log2: args.piece_length_log2,
                deadline: Duration::from_secs(args.deadline_secs),
                run_dir: args
                    .run_dir
                    .as_ref()
                    .map(|d| d.join(format!("{client}-n{n}"))),
                anthill_bin: args.anthill_bin.clone(),
                ..FleetOptions::default()
            };
            match run_fleet(&options) {
                Ok(report) => {
                    println!("{}", report.table_row());
                    if args.hosts {
                        print!("{}", report.host_table());
                    }
                    rows.push(Ok(report));
                }
                Err(err) => {
                    println!("{:<11} {:>6}   FAILED (see stderr)", client.name(), n);
                    eprintln!("fleet: {client} with {n} agents failed: {err:#}");
                    rows.push(Err(format!("{client} n={n}")));
                }
            }
        }
    }
    println!();
    println!(
        "summary (time: flash-crowd start to the last agent done; origin copies: raw eth0 tx bytes / file size)"
    );
    println!("{}", FleetReport::table_header());
    for row in &rows {
        match row {
            Ok(r) => println!("{}", r.table_row()),
            Err(what) => println!("{what}: FAILED"),
        }
    }
    if rows.iter().all(Result::is_ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
