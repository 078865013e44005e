//! `anthill demo`: the main job on embedded defaults, with nothing to set up.
//!
//! It starts a hub and a fleet of agents as separate `anthill` processes
//! (as root each on its own host in network namespaces with a per-host
//! rate; otherwise on loopback addresses with the engines' own limits),
//! publishes a generated release by dropping it into the hub's
//! `incoming/`, follows the rollout through the hub's own API
//! (`/api/agents`, what the agents report) with one progress bar per agent,
//! then publishes a small change of it to show the delta, and prints what
//! it measured: time until the whole fleet runs each release against the
//! time the origin needs to send one copy, what the origin sent against what
//! the fleet received, what HTTP fan-out would have sent and what the delta
//! saved.

mod fleet;
mod tree;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::bytes::Bytes;
use fleet::Fleet;

/// Arguments of `anthill demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Work in this directory (created if needed, kept afterwards) instead of a
    /// temporary one that is removed at the end. The demo refuses a non-empty
    /// directory that an earlier demo did not make, and replaces what an
    /// earlier demo left there.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Agents in the fleet.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=200))]
    agents: u16,
    /// Size of the generated release, e.g. 256MiB, 8M, 1G.
    #[arg(long, value_name = "BYTES", default_value = "256MiB", value_parser = parse_size)]
    size: u64,
    /// Per-host link rate in Mbit/s, both ways (network namespaces), or the
    /// engines' rate limits (loopback).
    #[arg(long, value_name = "MBIT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: u32,
    /// Leave the fleet running after the summary, to look at the dashboard;
    /// ctrl-c tears it down.
    #[arg(long)]
    keep_running: bool,
    /// Use loopback addresses even when network namespaces are possible.
    #[arg(long)]
    loopback: bool,
    /// The release is one file of --size instead of a tree (benchmarks).
    #[arg(long)]
    single_file: bool,
    /// Publish only the first release.
    #[arg(long)]
    no_delta: bool,
    /// Also write the measurements as JSON to FILE (benchmarks).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Left in `--dir` by a demo: what is there was made by a demo and may be replaced.
const MARKER: &str = ".anthill-demo";
const HUB_PORT: u16 = 6880;
const PEER_PORT: u16 = 6881;

fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = metainfo::parse_size(s).map_err(|e| e.to_string())?;
    if !(1 << 20..=64 << 30).contains(&bytes) {
        return Err(format!("size {s:?}: between 1 MiB and 64 GiB"));
    }
    Ok(bytes)
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut out = crate::output::stdout()?;
        let netns = !self.loopback && fleet::netns_possible();
        writeln!(
            out,
            "anthill demo: a hub and {} agents, a {} release, then a small change of it",
            self.agents,
            Bytes(self.size)
        )?;
        out.flush()?;

        let temp;
        let dir = match &self.dir {
            Some(d) => {
                prepare_dir(d)?;
                std::path::absolute(d).with_context(|| format!("cannot resolve {}", d.display()))?
            }
            None => {
                temp = tempfile::Builder::new()
                    .prefix("anthill-demo-")
                    .tempdir()
                    .context("cannot create a temporary directory")?;
                temp.path().to_path_buf()
            }
        };
        check_space(&dir, self.size, usize::from(self.agents))?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create {}", logs.display()))?;

        let n = usize::from(self.agents);
        let fleet = if netns {
            let f = Fleet::netns(n, self.rate, &logs)?;
            writeln!(
                out,
                "network: the hub and each agent on its own host (network namespaces), every link {} Mbit/s",
                self.rate
            )?;
            f
        } else {
            writeln!(
                out,
                "network: loopback addresses ({}); each host's rate of {} Mbit/s is the engines' own limit",
                if rustix::process::geteuid().is_root() {
                    "--loopback"
                } else {
                    "not root, so no network namespaces"
                },
                self.rate
            )?;
            Fleet::loopback(&logs)
        };
        out.flush()?;

        // In network namespaces the demo's own HTTP requests go from the hub's
        // host: every runtime thread enters its namespace. A ctrl-c listener
        // and the dashboard forwarder stay in the root namespace (loopback).
        let hub_ns = fleet.hub_netns();
        let forward = if self.keep_running && hub_ns.is_some() {
            Some(
                std::net::TcpListener::bind("127.0.0.1:0")
                    .context("cannot listen on 127.0.0.1 for the dashboard")?,
            )
        } else {
            None
        };
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        rt.enable_all().worker_threads(2);
        if let Some(ns) = hub_ns {
            rt.on_thread_start(move || {
                if let Err(e) = fleet::enter_netns(&ns) {
                    eprintln!("cannot enter network namespace {ns}: {e}");
                    std::process::abort();
                }
            });
        }
        let rt = rt.build().context("cannot start the runtime")?;
        let demo = Demo {
            args: self,
            dir,
            fleet,
            out: std::io::stdout(),
        };
        drop(out);
        let result = rt.block_on(async move {
            tokio::spawn(demo.run(forward))
                .await
                .map_err(|e| anyhow::anyhow!("the demo failed: {e}"))?
        });
        rt.shutdown_timeout(Duration::from_secs(5));
        result
    }
}

/// Refuses a non-empty directory no demo made; clears one a demo made.
fn prepare_dir(d: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    let entries: Vec<_> = std::fs::read_dir(d)
        .with_context(|| format!("cannot list {}", d.display()))?
        .filter_map(Result::ok)
        .collect();
    if !entries.is_empty() && !d.join(MARKER).is_file() {
        anyhow::bail!(
            "refusing to use {}: it is not empty and not made by anthill demo (remove it, or pick another --dir)",
            crate::shown::path(d)
        );
    }
    for e in entries {
        let p = e.path();
        if e.file_name() == MARKER {
            continue;
        }
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.with_context(|| format!("cannot clear {}", crate::shown::path(&p)))?;
    }
    std::fs::write(
        d.join(MARKER),
        "written by `anthill demo`: everything in this directory is its own\n",
    )
    .with_context(|| format!("cannot write {}", d.join(MARKER).display()))?;
    Ok(())
}

/// The demo holds about (agents + 1) copies of two releases, plus sources.
fn check_space(dir: &Path, size: u64, agents: usize) -> anyhow::Result<()> {
    let need = size * (agents as u64 + 2) * 2 + (64 << 20);
    if let Ok(st) = rustix::fs::statvfs(dir) {
        let free = st.f_bavail * st.f_frsize;
        anyhow::ensure!(
            free >= need,
            "{} has {} free; this demo needs about {} (use a smaller --size or fewer --agents)",
            crate::shown::path(dir),
            Bytes(free),
            Bytes(need)
        );
    }
    Ok(())
}

struct Demo {
    args: Args,
    dir: PathBuf,
    fleet: Fleet,
    out: std::io::Stdout,
}

/// What the demo measured for one release.
struct Measured {
    name: String,
    bytes: u64,
    files: usize,
    /// Drop into incoming/ to the last agent running it.
    fleet_time: Duration,
    /// The hub's publish (drop to served).
    publish_time: Duration,
    /// What the origin sent: its interface (netns) or its seeder's count.
    origin_sent: u64,
    /// Content bytes the agents received (their reports).
    received: Vec<u64>,
    /// Bytes the agents' interfaces received (netns).
    received_wire: Vec<u64>,
    /// What the release's metadata cost the hub: info-dictionary bytes
    /// its seeder sent to peers (BEP 9) and `.torrent` bytes it served.
    metadata_sent: (u64, u64),
}

impl Demo {
    fn hub_port(&self) -> u16 {
        if self.fleet.is_netns() {
            HUB_PORT
        } else {
            free_port(self.fleet.hub_ip()).unwrap_or(HUB_PORT)
        }
    }

    fn say(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{line}")?;
        self.out.flush()?;
        Ok(())
    }

    async fn run(mut self, forward: Option<std::net::TcpListener>) -> anyhow::Result<ExitCode> {
        let mut shutdown = crate::signals::Shutdown::install()?;
        let r = {
            let work = self.work(forward);
            tokio::pin!(work);
            tokio::select! {
                r = &mut work => r,
                () = shutdown.recv() => {
                    crate::progress::say("interrupted: stopping the fleet");
                    Ok(ExitCode::from(130))
                }
            }
        };
        self.fleet.stop();
        r
    }

    async fn work(&mut self, forward: Option<std::net::TcpListener>) -> anyhow::Result<ExitCode> {
        let n = usize::from(self.args.agents);
        let rate_bytes = u64::from(self.args.rate) * 1_000_000 / 8;
        let hub_dir = self.dir.join("hub");
        let port = self.hub_port();
        let hub_addr = SocketAddr::new(self.fleet.hub_ip(), port);
        let hub_url = format!("http://{hub_addr}");
        let feed = format!("{hub_url}/feed.xml");
        let client = agent::http::Client::new(Duration::from_secs(10))?;

        // The hub.
        let mut hc = hub::HubConfig {
            dir: hub_dir.clone(),
            listen: hub_addr,
            public_url: Some(hub_url.clone()),
            peer_listen: vec![SocketAddr::new(self.fleet.hub_ip(), PEER_PORT)],
            settle: tracker::HumanDuration(Duration::from_millis(300)),
            title: "anthill demo".into(),
            announce_interval: tracker::HumanDuration::secs(10),
            agent_stale_after: tracker::HumanDuration::secs(30),
            ..hub::HubConfig::default()
        };
        if !self.fleet.is_netns() {
            hc.max_upload_rate = rate_bytes;
        }
        let cfg = self.dir.join("hub.toml");
        storage::write_atomic(&cfg, hc.to_toml().as_bytes())?;
        self.fleet.spawn(
            0,
            "hub",
            &["hub".into(), "--config".into(), cfg.display().to_string()],
        )?;
        let t = Instant::now();
        self.wait_for("the hub to start", Duration::from_secs(60), || async {
            client
                .get_body(&format!("{hub_url}/api/releases"), 1 << 20)
                .await
                .is_ok()
        })
        .await?;
        let key = hub::Layout::new(&hub_dir).public_key();
        self.say(&format!(
            "hub:   {hub_url} (feed {feed}), up in {:.1} s; key {}",
            t.elapsed().as_secs_f64(),
            crate::shown::path(&key)
        ))?;

        // The agents.
        for i in 1..=n {
            let name = agent_name(i);
            let ip = self.fleet.ip(i);
            let mut ac = agent::AgentConfig {
                feeds: vec![feed.clone()],
                dir: self.dir.join("agents").join(&name),
                trust: vec![key.display().to_string()],
                name: Some(name.clone()),
                hook: Some(
                    "test -e \"$ANTHILL_RELEASE_PATH\" && echo \"$ANTHILL_RELEASE is live (was ${ANTHILL_PREVIOUS_RELEASE:-nothing})\""
                        .into(),
                ),
                // Loopback hosts share the port space of one machine.
                peer_listen: vec![SocketAddr::new(
                    ip,
                    if self.fleet.is_netns() { PEER_PORT } else { PEER_PORT + i as u16 },
                )],
                metadata_timeout_secs: 3.0,
                max_backoff_secs: 5.0,
                ..agent::AgentConfig::default()
            };
            if !self.fleet.is_netns() {
                ac.max_download_rate = rate_bytes;
                ac.max_upload_rate = rate_bytes;
            }
            let cfg = self.dir.join(format!("{name}.toml"));
            storage::write_atomic(&cfg, ac.to_toml().as_bytes())?;
            self.fleet.spawn(
                i,
                &name,
                &["agent".into(), "--config".into(), cfg.display().to_string()],
            )?;
        }
        let agents_url = format!("{hub_url}/api/agents");
        self.wait_for("every agent to report", Duration::from_secs(60), || async {
            fetch_agents(&client, &agents_url).await.len() >= n
        })
        .await?;
        self.say(&format!(
            "fleet: {n} agents following the feed and reporting to the hub; dashboard {hub_url}/"
        ))?;

        let idle_from = (Instant::now(), self.usages(n));

        // Release 1, then a small change of it.
        let src = self.dir.join("src");
        let r1 = src.join("demo-1");
        let t = Instant::now();
        let stats = if self.args.single_file {
            tree::generate_file(&r1, self.args.size)?
        } else {
            tree::generate(&r1, self.args.size)?
        };
        let what = if self.args.single_file {
            "one file".to_string()
        } else {
            format!(
                "{} files (an executable, empty files, a {} file)",
                stats.files,
                Bytes(self.args.size / 4)
            )
        };
        self.say(&format!(
            "generated demo-1: {} in {what} in {:.1} s",
            Bytes(stats.bytes),
            t.elapsed().as_secs_f64()
        ))?;
        let r2 = src.join("demo-2");
        let change = if self.args.no_delta {
            None
        } else {
            Some(tree::change(&r1, &r2, stats)?)
        };
        // The agents idle for a few seconds before the first drop: their CPU
        // use and memory then are what they cost beside production services.
        let idle_for = Duration::from_secs(3).saturating_sub(idle_from.0.elapsed());
        tokio::time::sleep(idle_for).await;
        let idle = self.idle_line(n, &idle_from);
        self.say(&idle)?;
        let mut measured = vec![
            self.rollout(&client, &hub_dir, &hub_url, &r1, stats)
                .await?,
        ];
        if let Some(change) = change {
            self.say(&format!(
                "changed for demo-2: {} files rewritten and 1 MiB overwritten in place ({} differ)",
                change.files,
                Bytes(change.bytes)
            ))?;
            measured.push(
                self.rollout(&client, &hub_dir, &hub_url, &r2, stats)
                    .await?,
            );
        }
        self.summary(&measured, change.map_or(0, |c| c.bytes), &hub_url)?;
        let peaks: Vec<u64> = self
            .usages(n)
            .iter()
            .flatten()
            .map(|u| u.peak_kib)
            .collect();
        if let Some(max) = peaks.iter().max() {
            self.say(&format!(
                "- agents' peak resident memory while downloading: {} at most, {} on average\n",
                Bytes(max * 1024),
                Bytes(peaks.iter().sum::<u64>() * 1024 / peaks.len() as u64)
            ))?;
        }
        if let Some(path) = &self.args.json {
            let json = serde_json::json!({
                "agents": n,
                "rate_mbit": self.args.rate,
                "netns": self.fleet.is_netns(),
                "changed_bytes": change.map(|c| c.bytes),
                "releases": measured.iter().map(|m| serde_json::json!({
                    "name": m.name,
                    "bytes": m.bytes,
                    "files": m.files,
                    "fleet_secs": m.fleet_time.as_secs_f64(),
                    "t_min_secs": self.t_min(m.bytes).as_secs_f64(),
                    "publish_secs": m.publish_time.as_secs_f64(),
                    "origin_sent": m.origin_sent,
                    "received": m.received,
                    "received_wire": m.received_wire,
                    "hub_metadata_bep9": m.metadata_sent.0,
                    "hub_metadata_torrent_files": m.metadata_sent.1,
                })).collect::<Vec<_>>(),
            });
            storage::write_atomic(path, format!("{json:#}\n").as_bytes())?;
        }
        if self.args.keep_running {
            let url = match forward {
                Some(l) => {
                    let url = format!("http://{}/", l.local_addr()?);
                    tokio::spawn(forward_to(l, hub_addr));
                    url
                }
                None => format!("{hub_url}/"),
            };
            self.say(&format!(
                "the fleet keeps running: dashboard {url} ; logs in {}; ctrl-c stops it",
                crate::shown::path(&self.dir.join("logs"))
            ))?;
            std::future::pending::<()>().await;
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Drops `src` into the hub's incoming/ and follows it until every agent
    /// runs it.
    async fn rollout(
        &mut self,
        client: &agent::http::Client,
        hub_dir: &Path,
        hub_url: &str,
        src: &Path,
        stats: tree::TreeStats,
    ) -> anyhow::Result<Measured> {
        let n = usize::from(self.args.agents);
        let name = src
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("demo")
            .to_string();
        let bytes = dir_size(src);
        let before_hub = self.fleet.counters(0);
        let metrics_url = format!("{hub_url}/metrics");
        let torrent_files_before = hub_metric(
            client,
            &metrics_url,
            "anthill_hub_torrent_file_bytes_total ",
        )
        .await
        .unwrap_or(0);
        let before: Vec<Option<(u64, u64)>> = (1..=n).map(|i| self.fleet.counters(i)).collect();
        let release_url = format!("{hub_url}/api/releases/{name}");

        let layout = hub::Layout::new(hub_dir);
        // The generated data goes to disk first, as a release uploaded a
        // while ago would be: the hub's durability sync must not be
        // charged with writing back the demo's own generator.
        let flushed = tokio::task::spawn_blocking(rustix::fs::sync).await;
        if flushed.is_err() {
            crate::progress::say(
                "cannot sync the generated release; timings include its write-back",
            );
        }
        let dropped = Instant::now();
        let dropped_at = std::time::SystemTime::now();
        std::fs::rename(src, layout.incoming().join(&name))
            .with_context(|| format!("cannot move {} into the hub's incoming/", src.display()))?;
        storage::write_atomic(&layout.ready_marker(&name), b"")?;
        self.say(&format!(
            "\n== {name}: dropped into {} at {}",
            crate::shown::path(&layout.incoming()),
            hub_url
        ))?;

        let bars = Bars::new(n, bytes);
        let limit = Duration::from_secs(120)
            + Duration::from_secs_f64(self.t_min(bytes).as_secs_f64() * 20.0);
        let mut published = None;
        let mut done_at: Vec<Option<Duration>> = vec![None; n];
        let agents_url = format!("{hub_url}/api/agents");
        let mut reports;
        loop {
            if dropped.elapsed() > limit {
                bars.clear();
                let late: Vec<String> = (1..=n)
                    .filter(|i| done_at[i - 1].is_none())
                    .map(agent_name)
                    .collect();
                let tails: String = late
                    .iter()
                    .take(2)
                    .map(|l| format!("\n--- {l}.log\n{}", self.fleet.log_tail(l, 15)))
                    .collect();
                anyhow::bail!(
                    "{name} did not reach {} within {limit:?}{tails}",
                    late.join(", ")
                );
            }
            if let Some((label, how)) = self.fleet.exited() {
                bars.clear();
                anyhow::bail!(
                    "{label} stopped ({how}):\n{}",
                    self.fleet.log_tail(&label, 20)
                );
            }
            if published.is_none() && client.get_body(&release_url, 1 << 20).await.is_ok() {
                published = Some(dropped.elapsed());
                bars.println(&format!(
                    "   published and seeded by the hub after {:.2} s (signed, in the feed)",
                    dropped.elapsed().as_secs_f64()
                ));
            }
            reports = fetch_agents(client, &agents_url).await;
            for (i, slot) in done_at.iter_mut().enumerate() {
                let label = agent_name(i + 1);
                let Some(a) = reports.iter().find(|a| a.name == label) else {
                    continue;
                };
                let r = a.releases.iter().find(|r| r.name.as_deref() == Some(&name));
                let live = a.current.as_deref() == Some(name.as_str())
                    && r.is_some_and(|r| r.state == "active");
                if let Some(r) = r {
                    if r.state == "failed" || r.state == "refused" {
                        bars.clear();
                        anyhow::bail!(
                            "{label}: {name} {}: {}",
                            r.state,
                            r.error.clone().unwrap_or_default()
                        );
                    }
                    bars.update(i, r, live);
                }
                if live && slot.is_none() {
                    // The agent's own clock (the same machine's) says when
                    // it switched `current`; the report arrives later.
                    let seen = dropped.elapsed();
                    let switched = r
                        .and_then(|r| r.switched_at_ms)
                        .map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms))
                        .and_then(|t| t.duration_since(dropped_at).ok())
                        .filter(|d| *d <= seen);
                    *slot = Some(switched.unwrap_or(seen));
                    let hook = r
                        .and_then(|r| r.hook.as_ref())
                        .map(|h| h.output_tail.trim().to_string())
                        .unwrap_or_default();
                    bars.println(&format!(
                        "   {label} runs {name} after {:.2} s; hook: {hook}",
                        slot.unwrap_or(seen).as_secs_f64()
                    ));
                }
            }
            if done_at.iter().all(Option::is_some) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bars.clear();
        let fleet_time = done_at.iter().flatten().max().copied().unwrap_or_default();
        let origin_sent = match (before_hub, self.fleet.counters(0)) {
            (Some(b), Some(a)) => a.0.saturating_sub(b.0),
            _ => {
                let v = client.get_body(&release_url, 1 << 20).await.ok();
                v.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v["seeding"]["uploaded"].as_u64())
                    .unwrap_or(0)
            }
        };
        let received = (1..=n)
            .map(|i| {
                reports
                    .iter()
                    .find(|a| a.name == agent_name(i))
                    .and_then(|a| a.releases.iter().find(|r| r.name.as_deref() == Some(&name)))
                    .map_or(0, |r| r.from_peers + r.from_hub)
            })
            .collect();
        let received_wire = (1..=n)
            .filter_map(|i| {
                let b = before[i - 1]?;
                let a = self.fleet.counters(i)?;
                Some(a.1.saturating_sub(b.1))
            })
            .collect();
        let bep9 = hub_metric(
            client,
            &metrics_url,
            &format!("anthill_hub_metadata_bytes{{release=\"{name}\"}} "),
        )
        .await
        .unwrap_or(0);
        let torrent_files = hub_metric(
            client,
            &metrics_url,
            "anthill_hub_torrent_file_bytes_total ",
        )
        .await
        .unwrap_or(0)
        .saturating_sub(torrent_files_before);
        Ok(Measured {
            metadata_sent: (bep9, torrent_files),
            name,
            bytes,
            files: stats.files,
            fleet_time,
            publish_time: published.unwrap_or_default(),
            origin_sent,
            received,
            received_wire,
        })
    }

    fn usages(&self, n: usize) -> Vec<Option<fleet::Usage>> {
        (1..=n).map(|i| self.fleet.usage(&agent_name(i))).collect()
    }

    /// The agents' CPU share and memory over an idle window.
    fn idle_line(&self, n: usize, from: &(Instant, Vec<Option<fleet::Usage>>)) -> String {
        let secs = from.0.elapsed().as_secs_f64();
        let now = self.usages(n);
        let tick = rustix::param::clock_ticks_per_second() as f64;
        let mut cpu = Vec::new();
        let mut rss = Vec::new();
        for (a, b) in from.1.iter().zip(&now) {
            if let (Some(a), Some(b)) = (a, b) {
                cpu.push((b.ticks.saturating_sub(a.ticks)) as f64 / tick / secs * 100.0);
                rss.push(b.rss_kib);
            }
        }
        if cpu.is_empty() {
            return "idle: no /proc figures for the agents".into();
        }
        format!(
            "idle agents over {secs:.1} s: CPU {:.2}% each at most, resident memory {} at most",
            cpu.iter().copied().fold(0.0, f64::max),
            Bytes(rss.iter().max().copied().unwrap_or(0) * 1024)
        )
    }

    /// The time the origin needs to send one copy at the per-host rate.
    fn t_min(&self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / (f64::from(self.args.rate) * 1e6))
    }

    fn summary(&mut self, m: &[Measured], changed: u64, hub_url: &str) -> anyhow::Result<()> {
        let n = usize::from(self.args.agents);
        let mut s = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(
            s,
            "\n== summary: {n} agents, {} Mbit/s per host, {}",
            self.args.rate,
            if self.fleet.is_netns() {
                "network namespaces"
            } else {
                "loopback"
            }
        );
        let _ = writeln!(
            s,
            "{:<8} {:>10} {:>6} {:>9} {:>9} {:>7} {:>13} {:>9} {:>14}",
            "release",
            "size",
            "files",
            "fleet",
            "T_min",
            "ratio",
            "origin sent",
            "copies",
            "recv/agent"
        );
        for r in m {
            let tmin = self.t_min(r.bytes);
            let per_agent = if r.received_wire.is_empty() {
                r.received.iter().sum::<u64>() / n as u64
            } else {
                r.received_wire.iter().sum::<u64>() / n as u64
            };
            let _ = writeln!(
                s,
                "{:<8} {:>10} {:>6} {:>8.1}s {:>8.1}s {:>6.2}x {:>13} {:>9.2} {:>14}",
                r.name,
                Bytes(r.bytes).to_string(),
                r.files,
                r.fleet_time.as_secs_f64(),
                tmin.as_secs_f64(),
                r.fleet_time.as_secs_f64() / tmin.as_secs_f64(),
                Bytes(r.origin_sent).to_string(),
                r.origin_sent as f64 / r.bytes as f64,
                Bytes(per_agent).to_string(),
            );
        }
        let first = &m[0];
        let _ = writeln!(
            s,
            "- fleet: time from the drop into incoming/ until the last agent runs the release (hook done); \
             T_min: the time the origin needs to send one copy at {} Mbit/s; the hub published each in {}",
            self.args.rate,
            m.iter()
                .map(|r| format!("{:.2} s", r.publish_time.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" and ")
        );
        let _ = writeln!(
            s,
            "- origin sent {} ({:.2} copies) for {} delivered to {n} agents; HTTP fan-out would have sent {} ({n} copies) and taken about {:.0} s",
            Bytes(first.origin_sent),
            first.origin_sent as f64 / first.bytes as f64,
            Bytes(first.bytes * n as u64),
            Bytes(first.bytes * n as u64),
            self.t_min(first.bytes).as_secs_f64() * n as f64,
        );
        let _ = writeln!(
            s,
            "- metadata: the hub sent {} (agents took the info dictionary from peers, BEP 9; the hub's share: {}, .torrent files: {})",
            m.iter()
                .map(|r| format!(
                    "{} for {}",
                    Bytes(r.metadata_sent.0 + r.metadata_sent.1),
                    r.name
                ))
                .collect::<Vec<_>>()
                .join(", "),
            m.iter()
                .map(|r| Bytes(r.metadata_sent.0).to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            m.iter()
                .map(|r| Bytes(r.metadata_sent.1).to_string())
                .collect::<Vec<_>>()
                .join(" / "),
        );
        if let Some(second) = m.get(1) {
            let got: u64 = second.received.iter().sum();
            let full = second.bytes * n as u64;
            let _ = writeln!(
                s,
                "- delta: {} changed; the agents received {} for {} in all, {} per agent ({:.2}x the change); the delta saved {}",
                Bytes(changed),
                Bytes(got),
                second.name,
                Bytes(got / n as u64),
                (got / n as u64) as f64 / changed.max(1) as f64,
                Bytes(full.saturating_sub(got)),
            );
        }
        if self.fleet.is_netns() && !self.args.keep_running {
            let _ = writeln!(
                s,
                "- dashboard: {hub_url}/ on the hub's host; run with --keep-running to look at it (forwarded to 127.0.0.1)"
            );
        } else {
            let _ = writeln!(
                s,
                "- dashboard: {hub_url}/ ; API: {hub_url}/api/agents, {hub_url}/api/releases"
            );
        }
        self.say(&s)
    }

    async fn wait_for<F, Fut>(&mut self, what: &str, limit: Duration, f: F) -> anyhow::Result<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let t = Instant::now();
        while !f().await {
            if let Some((label, how)) = self.fleet.exited() {
                anyhow::bail!(
                    "{label} stopped ({how}) while waiting for {what}:\n{}",
                    self.fleet.log_tail(&label, 20)
                );
            }
            if t.elapsed() > limit {
                anyhow::bail!(
                    "timed out after {limit:?} waiting for {what}; hub log:\n{}",
                    self.fleet.log_tail("hub", 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

fn agent_name(i: usize) -> String {
    format!("agent-{i:02}")
}

fn free_port(ip: IpAddr) -> Option<u16> {
    std::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .ok()?
        .local_addr()
        .ok()
        .map(|a| a.port())
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return std::fs::metadata(p).map_or(0, |m| m.len());
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// One agent as `/api/agents` lists it (the fields the demo reads).
#[derive(Debug, serde::Deserialize)]
struct AgentRow {
    name: String,
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    releases: Vec<release::ReleaseReport>,
}

/// The value of the hub's metric line starting with `prefix`.
async fn hub_metric(client: &agent::http::Client, url: &str, prefix: &str) -> Option<u64> {
    let body = client.get_body(url, 4 << 20).await.ok()?;
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn fetch_agents(client: &agent::http::Client, url: &str) -> Vec<AgentRow> {
    #[derive(serde::Deserialize)]
    struct List {
        agents: Vec<AgentRow>,
    }
    let Ok(body) = client.get_body(url, 16 << 20).await else {
        return Vec::new();
    };
    serde_json::from_slice::<List>(&body)
        .map(|l| l.agents)
        .unwrap_or_default()
}

/// One progress bar per agent (on a terminal only).
struct Bars {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
}

impl Bars {
    fn new(n: usize, bytes: u64) -> Self {
        use std::io::IsTerminal;
        let multi = if std::io::stderr().is_terminal() {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        };
        let style = ProgressStyle::with_template(
            "{prefix:>9} [{bar:32.cyan/blue}] {percent:>3}% {bytes:>10} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bars = (1..=n)
            .map(|i| {
                let b = multi.add(ProgressBar::new(bytes));
                b.set_style(style.clone());
                b.set_prefix(agent_name(i));
                b.set_message("waiting");
                b
            })
            .collect();
        Self { multi, bars }
    }

    fn update(&self, i: usize, r: &release::ReleaseReport, live: bool) {
        let b = &self.bars[i];
        let len = b.length().unwrap_or(0);
        b.set_position((r.progress * len as f64) as u64);
        let peers = if r.from_peers + r.from_hub > 0 {
            format!(
                ", {:.0}% from peers",
                100.0 * r.from_peers as f64 / (r.from_peers + r.from_hub) as f64
            )
        } else {
            String::new()
        };
        let msg = if live {
            format!("running{peers}")
        } else if r.download_rate > 0 {
            format!("{} {}/s{peers}", r.state, Bytes(r.download_rate))
        } else {
            r.state.clone()
        };
        b.set_message(msg);
    }

    fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}

/// Forwards connections to `127.0.0.1:P` (the root namespace) to the hub
/// (sockets made by the runtime's threads live in the hub's namespace).
async fn forward_to(listener: std::net::TcpListener, hub: SocketAddr) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(l) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    while let Ok((mut inbound, _)) = l.accept().await {
        tokio::spawn(async move {
            if let Ok(mut up) = tokio::net::TcpStream::connect(hub).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut up).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units_and_bounds() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5MiB").unwrap(), 3 << 19);
        assert!(parse_size("12").is_err(), "under 1 MiB");
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}
