//! Where the demo's processes run: each on its own host in network
//! namespaces with a per-host rate (as root), or on loopback addresses
//! with the engines' own rate limits (otherwise). Either way the hub and
//! every agent are separate `anthill` processes, each with its log file,
//! stopped (SIGTERM, then SIGKILL) when the fleet is dropped.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A process's resource use so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) ticks: u64,
    pub(crate) rss_kib: u64,
    pub(crate) peak_kib: u64,
}

/// One started process.
pub(crate) struct Started {
    pub(crate) label: String,
    pub(crate) log: PathBuf,
    pid: u32,
}

enum Kind {
    /// Network namespaces: host 0 is the hub.
    Netns {
        net: netsim::Net,
        hosts: Vec<netsim::Host>,
    },
    /// Loopback: the hub on 127.0.0.1, agent i on 127.0.0.(10 + i).
    /// Children in the order of `Fleet::started`.
    Loopback { children: Vec<Child> },
}

/// The demo's hosts and processes.
pub(crate) struct Fleet {
    kind: Kind,
    started: Vec<Started>,
    logs: PathBuf,
}

/// The processes' log filter: the demo's `ANTHILL_DEMO_LOG`, else `info`.
fn log_filter() -> String {
    std::env::var("ANTHILL_DEMO_LOG").unwrap_or_else(|_| "info".into())
}

/// Whether network namespaces can be used here (root, `ip` and `tc`).
pub(crate) fn netns_possible() -> bool {
    rustix::process::geteuid().is_root()
        && ["ip", "tc"].iter().all(|p| {
            Command::new(p)
                .arg("-V")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

impl Fleet {
    /// Hosts for a hub and `agents` agents in network namespaces, each
    /// link shaped to `mbit` Mbit/s both ways.
    pub(crate) fn netns(agents: usize, mbit: u32, logs: &Path) -> anyhow::Result<Self> {
        let prefix = format!("ahd{}", std::process::id() % 100_000);
        // Each host's logs under `<logs>/hosts/<host>/`, kept with the demo's directory.
        let mut net = netsim::Net::with_options(
            &prefix,
            netsim::NetOptions {
                run_dir: Some(logs.to_path_buf()),
            },
        )
        .context("cannot set up network namespaces (run without root for loopback)")?;
        let shaped = netsim::HostOptions {
            upload: Some(netsim::Rate::from_mbit(mbit)),
            download: Some(netsim::Rate::from_mbit(mbit)),
            ..netsim::HostOptions::default()
        };
        let mut hosts = vec![net.add_host("hub", shaped.clone())?];
        for i in 1..=agents {
            hosts.push(net.add_host(&format!("a{i}"), shaped.clone())?);
        }
        Ok(Self {
            kind: Kind::Netns { net, hosts },
            started: Vec::new(),
            logs: logs.to_path_buf(),
        })
    }

    /// Loopback addresses for a hub and agents.
    pub(crate) fn loopback(logs: &Path) -> Self {
        Self {
            kind: Kind::Loopback {
                children: Vec::new(),
            },
            started: Vec::new(),
            logs: logs.to_path_buf(),
        }
    }

    /// True on network namespaces.
    pub(crate) fn is_netns(&self) -> bool {
        matches!(self.kind, Kind::Netns { .. })
    }

    /// The hub's host address.
    pub(crate) fn hub_ip(&self) -> IpAddr {
        self.ip(0)
    }

    /// Host `i`'s address (0: the hub, 1..: agents).
    pub(crate) fn ip(&self, i: usize) -> IpAddr {
        match &self.kind {
            Kind::Netns { hosts, .. } => IpAddr::V4(hosts[i].ip()),
            Kind::Loopback { .. } if i == 0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Kind::Loopback { .. } => IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + i as u8)),
        }
    }

    /// The hub host's network namespace, if any.
    pub(crate) fn hub_netns(&self) -> Option<String> {
        match &self.kind {
            Kind::Netns { hosts, .. } => Some(hosts[0].netns().to_string()),
            Kind::Loopback { .. } => None,
        }
    }

    /// Starts `anthill ARGS` on host `i`, its output in `<logs>/<label>.log`.
    pub(crate) fn spawn(&mut self, i: usize, label: &str, args: &[String]) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find the anthill binary")?;
        let log = self.logs.join(format!("{label}.log"));
        match &mut self.kind {
            Kind::Netns { hosts, .. } => {
                let mut cmd = hosts[i].command(&exe);
                cmd.args(args).env("RUST_LOG", log_filter());
                let p = hosts[i]
                    .spawn(label, cmd)
                    .with_context(|| format!("cannot start {label}"))?;
                self.started.push(Started {
                    label: label.to_string(),
                    log: p.log().to_path_buf(),
                    pid: p.pid(),
                });
            }
            Kind::Loopback { children } => {
                let out = std::fs::File::create(&log)
                    .with_context(|| format!("cannot create {}", log.display()))?;
                let err = out.try_clone()?;
                let mut cmd = Command::new(&exe);
                cmd.args(args)
                    .env("RUST_LOG", log_filter())
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err);
                // Its own process group: a ctrl-c at the terminal reaches the
                // demo, which then stops the fleet in order.
                std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
                let child = cmd
                    .spawn()
                    .with_context(|| format!("cannot start {}", exe.display()))?;
                self.started.push(Started {
                    label: label.to_string(),
                    log,
                    pid: child.id(),
                });
                children.push(child);
            }
        }
        Ok(())
    }

    /// A process that exited, with how.
    pub(crate) fn exited(&mut self) -> Option<(String, String)> {
        match &mut self.kind {
            Kind::Netns { net, .. } => net
                .exited()
                .into_iter()
                .next()
                .map(|(p, st)| (p.label().to_string(), st.to_string())),
            Kind::Loopback { children } => {
                children.iter_mut().zip(&self.started).find_map(|(c, s)| {
                    c.try_wait()
                        .ok()
                        .flatten()
                        .map(|st| (s.label.clone(), st.to_string()))
                })
            }
        }
    }

    /// The last lines of a process's log.
    pub(crate) fn log_tail(&self, label: &str, lines: usize) -> String {
        let Some(s) = self.started.iter().find(|s| s.label == label) else {
            return String::new();
        };
        let text = std::fs::read_to_string(&s.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// CPU time (clock ticks), resident and peak resident memory (KiB) of
    /// the process started as `label`, from /proc.
    pub(crate) fn usage(&self, label: &str) -> Option<Usage> {
        let s = self.started.iter().find(|s| s.label == label)?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", s.pid)).ok()?;
        // Fields after the command name (which may hold spaces) in parentheses.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid)).ok()?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        };
        Some(Usage {
            ticks,
            rss_kib: kib("VmRSS:")?,
            peak_kib: kib("VmHWM:")?,
        })
    }

    /// Bytes sent and received by host `i` so far (network namespaces only).
    pub(crate) fn counters(&self, i: usize) -> Option<(u64, u64)> {
        match &self.kind {
            Kind::Netns { hosts, .. } => hosts[i].counters().ok().map(|c| (c.tx_bytes, c.rx_bytes)),
            Kind::Loopback { .. } => None,
        }
    }

    /// Stops every process: SIGTERM, then SIGKILL after a grace period.
    pub(crate) fn stop(&mut self) {
        match &mut self.kind {
            Kind::Netns { net, .. } => net.stop_all(),
            Kind::Loopback { children } => {
                for c in children.iter() {
                    if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                    }
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                for c in children.iter_mut() {
                    while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if c.try_wait().ok().flatten().is_none() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                }
                children.clear();
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Moves the calling thread into network namespace `ns` (named by `ip
/// netns`), so that its sockets live on that host's network.
pub(crate) fn enter_netns(ns: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .map_err(std::io::Error::from)
}
