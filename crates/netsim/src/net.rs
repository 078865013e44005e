use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::host::{Host, HostOptions};
use crate::process::{Proc, Registry};
use crate::{NetsimError, Rate, cmd};

/// The subnet every network uses. Networks are separate L2 domains in separate
/// namespaces, so two networks running side by side may reuse it.
const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);
const PREFIX_LEN: u8 = 16;
/// Most hosts per network (bridge ports are named `p0`..`p999`).
const MAX_HOSTS: usize = 1000;
/// How long stopped processes get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);
const BRIDGE: &str = "br0";
/// Queueing delay a full queue in front of a shaped link adds (see [`queue_limit`]).
const QUEUE_TIME: Duration = Duration::from_millis(50);

/// Distinguishes networks of one process (tests run in parallel threads).
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// Options for [`Net::with_options`].
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// Where hosts keep their logs and data. Unset: a fresh temporary directory,
    /// removed when the network is dropped. Set: created if missing and kept.
    pub run_dir: Option<PathBuf>,
}

#[derive(Debug)]
enum RunDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

/// A test network: hosts in their own network namespaces, joined by a bridge
/// that lives in a namespace of its own (the root namespace never gets an address).
///
/// Names are `<prefix>-<pid>-<n>-<host>`, so parallel runs never collide. Dropping
/// the network stops every process spawned in it (by process group) and deletes
/// every namespace it created; [`Net::new`] also deletes namespaces of earlier
/// runs with the same prefix whose process is gone (crashed runs).
#[derive(Debug)]
pub struct Net {
    /// `<prefix>-<pid>-<n>`; every namespace name starts with it.
    prefix: String,
    bridge_ns: String,
    /// Namespaces created so far, bridge first; deleted in reverse on drop.
    namespaces: Vec<String>,
    hosts: Vec<Host>,
    registry: Arc<Mutex<Registry>>,
    run_dir: RunDir,
}

impl Net {
    /// A new, empty network whose namespaces start with `prefix` (1-16 characters `[a-z0-9]`).
    pub fn new(prefix: &str) -> Result<Net, NetsimError> {
        Self::with_options(prefix, NetOptions::default())
    }

    /// Like [`Net::new`], with options.
    pub fn with_options(prefix: &str, options: NetOptions) -> Result<Net, NetsimError> {
        validate_name(prefix, 16, false)?;
        check_root()?;
        sweep_stale(prefix)?;
        let run_dir = match options.run_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| NetsimError::io(&dir, e))?;
                RunDir::Kept(dir)
            }
            None => RunDir::Temp(
                tempfile::Builder::new()
                    .prefix(&format!("{prefix}-"))
                    .tempdir()
                    .map_err(|e| NetsimError::io(std::env::temp_dir(), e))?,
            ),
        };
        let unique = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT_NET.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            bridge_ns: format!("{unique}-br"),
            prefix: unique,
            namespaces: Vec::new(),
            hosts: Vec::new(),
            registry: Arc::default(),
            run_dir,
        };
        let br = net.bridge_ns.clone();
        cmd::ip(["netns", "add", &br])?;
        net.namespaces.push(br.clone());
        cmd::ip(["-n", &br, "link", "set", "lo", "up"])?;
        cmd::ip(["-n", &br, "link", "add", BRIDGE, "type", "bridge"])?;
        cmd::ip(["-n", &br, "link", "set", BRIDGE, "up"])?;
        Ok(net)
    }

    /// Adds a host named `name` (1-32 characters `[a-z0-9-]`) with its own
    /// namespace, `lo` up and `eth0` on the bridge, shaped as `options` says.
    pub fn add_host(&mut self, name: &str, options: HostOptions) -> Result<Host, NetsimError> {
        validate_name(name, 32, true)?;
        if self.hosts.iter().any(|h| h.name == name) {
            return Err(NetsimError::DuplicateHost {
                name: name.to_owned(),
            });
        }
        let index = self.hosts.len();
        if index >= MAX_HOSTS {
            return Err(NetsimError::TooManyHosts { max: MAX_HOSTS });
        }
        let ns = format!("{}-{name}", self.prefix);
        let port = format!("p{index}");
        let ip = host_ip(index);
        let dir = self.run_dir().join("hosts").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| NetsimError::io(&dir, e))?;

        cmd::ip(["netns", "add", &ns])?;
        if let Err(e) = self.wire_host(name, &ns, &port, index, &options) {
            // Deleting the namespace also deletes both ends of its veth pair.
            let _ = cmd::ip(["netns", "del", &ns]);
            return Err(e);
        }
        self.namespaces.push(ns.clone());
        let host = Host {
            name: name.to_owned(),
            ns,
            ip,
            dir,
            prefix: self.prefix.clone(),
            registry: Arc::clone(&self.registry),
        };
        self.hosts.push(host.clone());
        Ok(host)
    }

    fn wire_host(
        &self,
        name: &str,
        ns: &str,
        port: &str,
        index: usize,
        options: &HostOptions,
    ) -> Result<(), NetsimError> {
        let br = self.bridge_ns.as_str();
        let ip = host_ip(index);
        let mac = host_mac(index);
        cmd::ip([
            "link", "add", "eth0", "netns", ns, "address", &mac, "type", "veth", "peer", "name",
            port, "netns", br,
        ])?;
        cmd::ip(["-n", br, "link", "set", port, "master", BRIDGE])?;
        cmd::ip(["-n", br, "link", "set", port, "up"])?;
        cmd::ip(["-n", ns, "link", "set", "lo", "up"])?;
        let cidr = format!("{ip}/{PREFIX_LEN}");
        cmd::ip(["-n", ns, "addr", "add", &cidr, "dev", "eth0"])?;
        cmd::ip(["-n", ns, "link", "set", "eth0", "up"])?;
        let delay = options.delay.filter(|d| !d.is_zero());
        shape(ns, "eth0", options.upload, delay).map_err(|e| match e {
            NetsimError::Command { stderr, .. }
                if delay.is_some() && stderr.contains("unknown") =>
            {
                NetsimError::DelayUnsupported {
                    host: name.to_owned(),
                }
            }
            other => other,
        })?;
        shape(br, port, options.download, None)?;
        self.pin_neighbours(ns, index)
    }

    /// Gives the new host (at `index`) and every host before it permanent
    /// neighbour entries for each other, so no ARP crosses the shaped links.
    ///
    /// Between sites, the bottleneck queues carry IP only; address resolution
    /// happens on each LAN. Here the hosts share one L2 segment, so ARP
    /// requests and replies would wait in the same full drop-tail queues as
    /// the data: a host that joins a busy swarm then lost most of its ARP
    /// exchanges and could not reach most peers for tens of seconds.
    fn pin_neighbours(&self, ns: &str, index: usize) -> Result<(), NetsimError> {
        let (ip, mac) = (host_ip(index).to_string(), host_mac(index));
        let mut batch = String::new();
        for (i, other) in self.hosts.iter().enumerate() {
            let other_ip = host_ip(i).to_string();
            let other_mac = host_mac(i);
            batch.push_str(&format!(
                "neigh replace {other_ip} lladdr {other_mac} dev eth0 nud permanent\n"
            ));
            cmd::ip([
                "-n",
                &other.ns,
                "neigh",
                "replace",
                &ip,
                "lladdr",
                &mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ])?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        cmd::run_with_stdin(
            std::process::Command::new("ip").args(["-n", ns, "-batch", "-"]),
            batch.as_bytes(),
        )
        .map(drop)
    }

    /// The hosts, in the order they were added.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The unique prefix of every namespace of this network.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace that holds the bridge.
    pub fn bridge_netns(&self) -> &str {
        &self.bridge_ns
    }

    /// Every namespace this network created (bridge first).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// The directory with every host's logs and data.
    pub fn run_dir(&self) -> &Path {
        match &self.run_dir {
            RunDir::Temp(t) => t.path(),
            RunDir::Kept(p) => p,
        }
    }

    /// Every process spawned in any host so far.
    pub fn procs(&self) -> Vec<Proc> {
        self.lock().procs()
    }

    /// The exit status of `proc` if it has exited.
    pub fn try_wait(&self, proc: &Proc) -> Option<ExitStatus> {
        self.lock().try_wait(proc.pid)
    }

    /// Every spawned process that has exited so far.
    pub fn exited(&self) -> Vec<(Proc, ExitStatus)> {
        self.lock().exited()
    }

    /// Stops one process (its whole process group): SIGTERM, then SIGKILL.
    pub fn stop(&self, proc: &Proc) {
        self.lock().stop(proc.pid, STOP_GRACE);
    }

    /// Stops every spawned process; the namespaces and files stay until drop.
    pub fn stop_all(&self) {
        self.lock().stop_everything(STOP_GRACE);
    }

    /// The last `lines` lines of every process log, each under a header naming
    /// host and label: what to print when a scenario fails.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for p in self.procs() {
            out.push_str(&format!(
                "==> {} {} ({}) <==\n",
                p.host,
                p.label,
                p.log.display()
            ));
            match std::fs::read(&p.log) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let all: Vec<&str> = text.lines().collect();
                    for l in &all[all.len().saturating_sub(lines)..] {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
                Err(e) => out.push_str(&format!("(cannot read log: {e})\n")),
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        {
            let mut reg = self.lock();
            reg.closed = true;
            reg.stop_everything(STOP_GRACE);
        }
        for ns in self.namespaces.iter().rev() {
            // Nothing useful to do with an error during drop; a later Net::new sweeps leftovers.
            let _ = cmd::ip(["netns", "del", ns]);
        }
    }
}

/// `10.77.0.0 + index + 1`: index 0 is 10.77.0.1, index 255 is 10.77.1.0.
fn host_ip(index: usize) -> Ipv4Addr {
    let offset = u32::try_from(index + 1).unwrap_or(u32::MAX);
    Ipv4Addr::from(u32::from(SUBNET).saturating_add(offset))
}

/// `02:77:00:00:hh:ll` for host `index`: locally administered, unique per
/// network, so neighbour entries can be pinned without asking the kernel.
fn host_mac(index: usize) -> String {
    format!(
        "02:77:00:00:{:02x}:{:02x}",
        (index >> 8) & 0xff,
        index & 0xff
    )
}

/// Shapes what leaves `dev`: one HTB class at `rate` (if any) with a byte-limited
/// fifo below it, or a netem delay in place of the fifo (or as root qdisc when
/// there is no rate).
fn shape(
    ns: &str,
    dev: &str,
    rate: Option<Rate>,
    delay: Option<Duration>,
) -> Result<(), NetsimError> {
    let netem = delay.map(|d| format!("{}us", d.as_micros()));
    let leaf_parent: &[&str] = match rate {
        None if netem.is_none() => return Ok(()),
        None => &["root", "handle", "10:"],
        Some(_) => &["parent", "1:1", "handle", "10:"],
    };
    if let Some(rate) = rate {
        let bits = rate.tc_arg();
        cmd::tc([
            "-n", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1",
        ])?;
        // The quantum only matters between sibling classes; setting it keeps HTB from
        // warning that the one computed from a high rate is too big.
        cmd::tc([
            "-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate",
            &bits, "ceil", &bits, "quantum", "60000",
        ])?;
    }
    let limit = rate.map(queue_limit).unwrap_or(0).to_string();
    let mut c = std::process::Command::new("tc");
    c.args(["-n", ns, "qdisc", "add", "dev", dev])
        .args(leaf_parent);
    match &netem {
        Some(d) => c.args(["netem", "delay", d, "limit", "100000"]),
        None => c.args(["bfifo", "limit", &limit]),
    };
    cmd::run(&mut c).map(drop)
}

/// Bytes the queue in front of a shaped link may hold: [`QUEUE_TIME`] at the
/// link's rate, but at least two full-size GSO packets.
///
/// The default leaf queue counts packets (1000), and veth hands HTB GSO packets
/// of up to 64 KiB, so it would buffer seconds of traffic; TCP then sees RTTs of
/// seconds and BitTorrent clients time out requests. A byte limit keeps the
/// queueing delay like a switch port's.
fn queue_limit(rate: Rate) -> u64 {
    let bytes = u128::from(rate.bits_per_sec()) * QUEUE_TIME.as_micros() / 8 / 1_000_000;
    u64::try_from(bytes).unwrap_or(u64::MAX).max(2 * 65_536)
}

fn validate_name(name: &str, max: usize, allow_dash: bool) -> Result<(), NetsimError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || (allow_dash && b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(NetsimError::InvalidName {
            name: name.to_owned(),
            max,
        })
    }
}

fn check_root() -> Result<(), NetsimError> {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        Ok(())
    } else {
        Err(NetsimError::NotRoot {
            euid: euid.as_raw(),
        })
    }
}

/// Deletes namespaces `<prefix>-<pid>-...` whose process no longer exists:
/// leftovers of runs that were killed before they could clean up.
fn sweep_stale(prefix: &str) -> Result<(), NetsimError> {
    let list = cmd::ip(["netns", "list"])?;
    for ns in stale_namespaces(&list, prefix, |pid| {
        Path::new(&format!("/proc/{pid}")).exists()
    }) {
        let _ = cmd::ip(["netns", "del", &ns]);
    }
    Ok(())
}

/// The names in `ip netns list` output that belong to dead runs with this prefix.
fn stale_namespaces(list: &str, prefix: &str, alive: impl Fn(u32) -> bool) -> Vec<String> {
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
                return false;
            };
            let mut parts = rest.split('-');
            let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
            let run = parts.next().and_then(|p| p.parse::<u32>().ok());
            matches!((pid, run), (Some(pid), Some(_)) if !alive(pid))
        })
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_fill_the_subnet_in_order() {
        assert_eq!(host_ip(0), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(host_ip(254), Ipv4Addr::new(10, 77, 0, 255));
        assert_eq!(host_ip(255), Ipv4Addr::new(10, 77, 1, 0));
        assert_eq!(host_ip(MAX_HOSTS - 1), Ipv4Addr::new(10, 77, 3, 232));
    }

    #[test]
    fn queue_holds_50_ms_but_at_least_two_gso_packets() {
        assert_eq!(queue_limit(Rate::from_mbit(100)), 625_000);
        assert_eq!(queue_limit(Rate::from_mbit(1)), 131_072);
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("agent-1", 32, true).is_ok());
        assert!(matches!(
            validate_name("agent-1", 16, false),
            Err(NetsimError::InvalidName { max: 16, .. })
        ));
        assert!(validate_name("", 16, false).is_err());
        assert!(validate_name("Agent", 16, true).is_err());
        assert!(validate_name(&"a".repeat(17), 16, false).is_err());
    }

    #[test]
    fn sweep_only_touches_dead_runs_of_our_prefix() {
        let list = "ahfleet-100-0-br (id: 3)\n\
                    ahfleet-100-0-agent1 (id: 4)\n\
                    ahfleet-200-1-br\n\
                    ahfleetx-100-0-br\n\
                    other-100-0-br\n\
                    ahfleet-notapid-0-br\n\
                    ahfleet-100\n";
        let stale = stale_namespaces(list, "ahfleet", |pid| pid == 200);
        assert_eq!(stale, ["ahfleet-100-0-br", "ahfleet-100-0-agent1"]);
    }
}
