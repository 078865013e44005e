//! A hub and eight agents as separate `anthill` processes, each on its own
//! host in network namespaces (100 Mbit/s links): a signed release reaches
//! every agent and each runs its hook once; a second release costs each
//! agent only what changed (measured from its interface counters); the hub
//! killed mid-rollout does not stop the fleet (a slow agent finishes from
//! its peers), and the agents report to it again once it is back.
//!
//! Needs root (network namespaces), as CI has; without it the test fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netsim::{Host, HostOptions, Net, Rate};

use crate::util::{anthill, bytes};

const AGENTS: usize = 8;
const MBIT: u32 = 100;
const HUB_PORT: u16 = 8080;
const PEER_PORT: u16 = 6881;
const STATUS_PORT: u16 = 7070;
const BOUND: Duration = Duration::from_secs(120);
/// One agent downloads slowly (an engine limit, bytes/s), so that it is
/// still downloading when the others are done and the hub goes away.
const SLOW: usize = AGENTS - 1;
const SLOW_RATE: u64 = 2 << 20;

/// GETs `url` from inside `host`'s namespace and parses the JSON answer.
fn curl_json(host: &Host, url: &str) -> Option<serde_json::Value> {
    let mut c = host.command("curl");
    c.args(["-sf", "-m", "5", url]);
    let out = host.output(c).ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// A release tree: one big file, an executable, an empty file and small
/// files of mixed sizes; `variant` changes the small files named in `changed`.
fn write_release(dir: &Path, seed: u8, big: &[u8], changed: &[usize], variant: u8) -> u64 {
    let mut total = big.len() as u64;
    std::fs::create_dir_all(dir.join("small")).unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    let run = dir.join("bin/run.sh");
    let script = b"#!/bin/sh\necho running\n";
    std::fs::write(&run, script).unwrap();
    total += script.len() as u64;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for i in 0..120usize {
        let len = small_len(i);
        let s = if changed.contains(&i) {
            seed ^ variant
        } else {
            seed
        };
        std::fs::write(
            dir.join(format!("small/f{i:03}")),
            bytes(len, s.wrapping_add(i as u8)),
        )
        .unwrap();
        total += len as u64;
    }
    total
}

/// The size of small file `i` of a release tree (200 B to 40 KB).
fn small_len(i: usize) -> usize {
    200 + (i * 7919) % 40_000
}

fn current_name(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join("current")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn hook_runs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("hook.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

struct Fleet {
    net: Net,
    hub: Host,
    agents: Vec<Host>,
    root: PathBuf,
}

impl Fleet {
    /// Waits (bounded) until `f` returns `Some`; on timeout, fails with the
    /// logs' tails and, last (what a truncated CI log keeps), one line per
    /// agent of what it runs and what its engine has.
    fn until<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            if start.elapsed() >= BOUND {
                panic!(
                    "never happened: {what}\n{}{}",
                    self.net.log_tails(12),
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One line per agent: `current`, its hook runs, and its engine's
    /// torrents (state, pieces, peers) from `/status`.
    fn report(&self) -> String {
        let mut out = String::from("agents:\n");
        for (i, host) in self.agents.iter().enumerate() {
            let d = self.agent_dir(i);
            let url = format!("http://{}:{STATUS_PORT}/status", host.ip());
            let torrents = match curl_json(host, &url) {
                Some(s) => s["torrents"]
                    .as_array()
                    .map(|ts| {
                        ts.iter()
                            .map(|t| {
                                format!(
                                    "{} {} {}/{} pieces, {} peers{}",
                                    t["name"].as_str().unwrap_or("?"),
                                    t["state"].as_str().unwrap_or("?"),
                                    t["pieces_have"],
                                    t["pieces_total"],
                                    t["peers"],
                                    t["error"]
                                        .as_str()
                                        .map(|e| format!(" ({e})"))
                                        .unwrap_or_default()
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .unwrap_or_default(),
                None => "no status".into(),
            };
            out.push_str(&format!(
                "  agent-{i}: current {:?}, hooks {:?}, torrents: {torrents}\n",
                current_name(&d),
                hook_runs(&d)
            ));
        }
        out
    }

    fn hub_url(&self) -> String {
        format!("http://{}:{HUB_PORT}", self.hub.ip())
    }

    fn hub_dir(&self) -> PathBuf {
        self.root.join("hub")
    }

    fn agent_dir(&self, i: usize) -> PathBuf {
        self.root.join(format!("agent-{i}"))
    }

    fn start_hub(&self) -> netsim::Proc {
        let hc = hub::HubConfig {
            dir: self.hub_dir(),
            listen: SocketAddr::new(self.hub.ip().into(), HUB_PORT),
            public_url: Some(self.hub_url()),
            peer_listen: vec![SocketAddr::new(self.hub.ip().into(), PEER_PORT)],
            settle: tracker::HumanDuration(Duration::from_millis(200)),
            announce_interval: tracker::HumanDuration::secs(5),
            ..hub::HubConfig::default()
        };
        let cfg = self.root.join("hub.toml");
        std::fs::write(&cfg, hc.to_toml()).unwrap();
        let mut c = self.hub.command(env!("CARGO_BIN_EXE_anthill"));
        c.arg("hub").arg("--config").arg(&cfg);
        let p = self.hub.spawn("hub", c).unwrap();
        let url = format!("{}/api/releases", self.hub_url());
        self.until("the hub answers", || curl_json(&self.hub, &url));
        p
    }

    fn start_agent(&self, i: usize) -> netsim::Proc {
        let host = &self.agents[i];
        let dir = self.agent_dir(i);
        let ac = agent::AgentConfig {
            feeds: vec![format!("{}/feed.xml", self.hub_url())],
            dir: dir.clone(),
            trust: vec![self.hub_dir().join("keys/hub.pub").display().to_string()],
            name: Some(format!("agent-{i}")),
            hook: Some(format!(
                "test -f \"$ANTHILL_RELEASE_PATH/big.bin\" && echo \"$ANTHILL_RELEASE\" >> {}",
                dir.join("hook.log").display()
            )),
            listen: Some(SocketAddr::new(host.ip().into(), STATUS_PORT)),
            peer_listen: vec![SocketAddr::new(host.ip().into(), PEER_PORT)],
            metadata_timeout_secs: 3.0,
            max_backoff_secs: 2.0,
            max_download_rate: if i == SLOW { SLOW_RATE } else { 0 },
            ..agent::AgentConfig::default()
        };
        let cfg = self.root.join(format!("agent-{i}.toml"));
        std::fs::write(&cfg, ac.to_toml()).unwrap();
        let mut c = host.command(env!("CARGO_BIN_EXE_anthill"));
        c.arg("agent").arg("--config").arg(&cfg);
        host.spawn("agent", c).unwrap()
    }

    fn publish(&self, src: &Path) {
        anthill(
            &self.root,
            [
                "publish".as_ref(),
                src.as_os_str(),
                "--hub".as_ref(),
                self.hub_dir().as_os_str(),
            ],
        )
        .expect(0);
    }

    /// Waits until every agent's `current` names `name` and its hook ran.
    fn wait_rollout(&self, name: &str) {
        self.until(&format!("{name} on every agent"), || {
            (0..AGENTS)
                .all(|i| {
                    let d = self.agent_dir(i);
                    current_name(&d).as_deref() == Some(name)
                        && hook_runs(&d).last().map(String::as_str) == Some(name)
                })
                .then_some(())
        });
    }

    fn rx(&self) -> Vec<u64> {
        self.agents.iter().map(|h| h.rx_bytes().unwrap()).collect()
    }

    /// Whether agent `i`'s engine has release `name`'s metadata: it knows
    /// every piece to fetch.
    fn has_metadata(&self, i: usize, name: &str) -> bool {
        let url = format!("http://{}:{STATUS_PORT}/status", self.agents[i].ip());
        curl_json(&self.agents[i], &url).is_some_and(|s| {
            s["torrents"].as_array().is_some_and(|ts| {
                ts.iter()
                    .any(|t| t["name"] == name && t["pieces_total"].as_u64().is_some_and(|n| n > 0))
            })
        })
    }

    /// An agent's `/status` record of release `name`.
    fn status_of(&self, i: usize, name: &str) -> serde_json::Value {
        let url = format!("http://{}:{STATUS_PORT}/status", self.agents[i].ip());
        let s = curl_json(&self.agents[i], &url).expect("agent status");
        s["releases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("agent-{i} has no record of {name}: {s}"))
    }
}

#[test]
fn a_fleet_in_namespaces_installs_each_release_once_fetches_only_the_delta_and_outlives_a_hub_restart()
 {
    let tmp = tempfile::tempdir().unwrap();
    let mut net = Net::new("afleet").expect("network namespaces (run as root)");
    let link = HostOptions {
        upload: Some(Rate::from_mbit(MBIT)),
        download: Some(Rate::from_mbit(MBIT)),
        delay: None,
    };
    let hub = net.add_host("hub", link.clone()).unwrap();
    let agents: Vec<Host> = (0..AGENTS)
        .map(|i| net.add_host(&format!("a{i}"), link.clone()).unwrap())
        .collect();
    let fleet = Fleet {
        net,
        hub,
        agents,
        root: tmp.path().to_path_buf(),
    };
    let hub_proc = fleet.start_hub();
    let agent_procs: Vec<netsim::Proc> = (0..AGENTS).map(|i| fleet.start_agent(i)).collect();
    let agents_url = format!("{}/api/agents", fleet.hub_url());
    fleet.until("every agent reports to the hub", || {
        let v = curl_json(&fleet.hub, &agents_url)?;
        (v["agents"].as_array()?.len() == AGENTS).then_some(())
    });

    // 1. A signed release reaches all eight; each runs its hook once.
    let src = tmp.path().join("src");
    let big1 = bytes(12 << 20, 1);
    let size = write_release(&src.join("rel-1"), 1, &big1, &[], 0);
    fleet.publish(&src.join("rel-1"));
    fleet.wait_rollout("rel-1");
    for i in 0..AGENTS {
        let d = fleet.agent_dir(i);
        assert_eq!(hook_runs(&d), ["rel-1"], "agent-{i}");
        assert_eq!(std::fs::read(d.join("current/big.bin")).unwrap(), big1);
    }

    // 2. A change of 3 small files and 256 KiB in place of the big file:
    // each agent receives about that, not the release.
    let mut big2 = big1;
    big2[5 << 20..(5 << 20) + (256 << 10)].copy_from_slice(&bytes(256 << 10, 99));
    let changed_files = [7usize, 50, 51];
    write_release(&src.join("rel-2"), 1, &big2, &changed_files, 0x5a);
    let changed: u64 = (256 << 10)
        + changed_files
            .iter()
            .map(|&i| small_len(i) as u64)
            .sum::<u64>();
    let before = fleet.rx();
    fleet.publish(&src.join("rel-2"));
    fleet.wait_rollout("rel-2");
    let after = fleet.rx();
    for i in 0..AGENTS {
        let got = after[i] - before[i];
        let rec = fleet.status_of(i, "rel-2");
        eprintln!(
            "agent-{i}: received {got} bytes for a change of {changed} ({:.2}x) in a release of {size}; {rec}",
            got as f64 / changed as f64
        );
        assert!(
            got < size / 8,
            "agent-{i} received {got} bytes for a {changed}-byte change of a {size}-byte release"
        );
        let reused = rec["reused_bytes"].as_u64().unwrap();
        assert!(
            reused >= size - size / 8,
            "agent-{i} reused only {reused} of {size} bytes: {rec}"
        );
        assert_eq!(
            std::fs::read(fleet.agent_dir(i).join("current/big.bin")).unwrap(),
            big2
        );
    }

    // 3. A new release; the hub is killed as soon as one agent has all of
    // it (so the data is in the fleet) and every other one is downloading
    // it (an agent learns of a release, its signature and its metadata from
    // the hub: one that has not by then waits for the hub) while the slow
    // agent has not got all of it: the slow one finishes from its peers
    // alone, and once the hub is back every agent reports to it again.
    let big3 = bytes(12 << 20, 3);
    write_release(&src.join("rel-3"), 3, &big3, &[], 0);
    fleet.publish(&src.join("rel-3"));
    fleet.until(
        "one agent runs rel-3 and every other has its metadata",
        || {
            let runs = |i| current_name(&fleet.agent_dir(i)).as_deref() == Some("rel-3");
            ((0..AGENTS).any(runs)
                && (0..AGENTS).all(|i| runs(i) || fleet.has_metadata(i, "rel-3")))
            .then_some(())
        },
    );
    let killed = hub_proc.pid();
    let pid = rustix::process::Pid::from_raw(killed as i32).unwrap();
    rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).unwrap();
    fleet.until("the hub is gone", || fleet.net.try_wait(&hub_proc));
    let slow_rx = fleet.agents[SLOW].rx_bytes().unwrap();
    assert_ne!(
        current_name(&fleet.agent_dir(SLOW)).as_deref(),
        Some("rel-3"),
        "the slow agent was done before the hub went away"
    );
    fleet.wait_rollout("rel-3");
    let from_peers = fleet.agents[SLOW].rx_bytes().unwrap() - slow_rx;
    eprintln!("with the hub away the slow agent received {from_peers} bytes from its peers");
    assert!(
        from_peers > size / 4,
        "the slow agent got only {from_peers} bytes after the hub went away"
    );
    fleet.start_hub();
    fleet.until("every agent reports rel-3 to the restarted hub", || {
        let v = curl_json(&fleet.hub, &agents_url)?;
        let a = v["agents"].as_array()?;
        (a.len() == AGENTS && a.iter().all(|r| r["current"] == "rel-3")).then_some(())
    });
    for i in 0..AGENTS {
        let d = fleet.agent_dir(i);
        assert_eq!(
            hook_runs(&d),
            ["rel-1", "rel-2", "rel-3"],
            "agent-{i}: each hook once"
        );
        assert_eq!(std::fs::read(d.join("current/big.bin")).unwrap(), big3);
    }
    // Agents first, while the hub still answers their last announces.
    for p in &agent_procs {
        fleet.net.stop(p);
    }
    fleet.net.stop_all();
    let early: Vec<_> = fleet
        .net
        .exited()
        .into_iter()
        .filter(|(p, s)| p.pid() != killed && !s.success())
        .map(|(p, s)| format!("{} {}: {s}", p.host(), p.label()))
        .collect();
    assert!(early.is_empty(), "unclean exits on SIGTERM: {early:?}");
}
