//! The netsim primitives on real namespaces (needs root): addressing, shaping
//! setup, processes, byte counters and cleanup. No assertion here depends on
//! speed; the fleet benchmark measures that.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netsim::{HostOptions, Net, NetsimError, Rate};

fn net(prefix: &str) -> Net {
    Net::new(prefix)
        .unwrap_or_else(|e| panic!("cannot build a test network (needs root and iproute2): {e}"))
}

fn shaped(mbit: u32) -> HostOptions {
    HostOptions {
        upload: Some(Rate::from_mbit(mbit)),
        download: Some(Rate::from_mbit(mbit)),
        ..HostOptions::default()
    }
}

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; count it as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

const SERVER: &str = r#"
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 5001)); s.listen(1)
c, _ = s.accept(); n = 0
while True:
    d = c.recv(1 << 16)
    if not d: break
    n += len(d)
open(sys.argv[2] + ".tmp", "w").write(str(n)); __import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
"#;

const CLIENT: &str = r#"
import socket, sys, time
for _ in range(200):
    try: s = socket.create_connection((sys.argv[1], 5001)); break
    except OSError: time.sleep(0.05)
s.sendall(b"x" * int(sys.argv[2])); s.close()
"#;

#[test]
fn hosts_exchange_data_counters_grow_and_drop_removes_everything() {
    const BYTES: u64 = 4 << 20;
    let mut net = net("nstest");
    let a = net.add_host("a", shaped(200)).unwrap();
    let b = net.add_host("b", shaped(200)).unwrap();
    assert_ne!(a.ip(), b.ip());
    assert!(a.netns().starts_with(net.prefix()));

    // Both directions of each host are shaped with HTB and a byte-limited queue.
    for (ns, dev) in [
        (a.netns(), "eth0"),
        (net.bridge_netns(), "p0"),
        (net.bridge_netns(), "p1"),
    ] {
        let out = Command::new("tc")
            .args(["-n", ns, "qdisc", "show", "dev", dev])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("qdisc htb 1:") && text.contains("qdisc bfifo 10:"),
            "{ns} {dev}: {text}"
        );
    }

    let a0 = a.counters().unwrap();
    let b0 = b.counters().unwrap();
    let result = b.dir().join("received");
    let mut server = b.command("/usr/bin/python3");
    server
        .args(["-c", SERVER, &b.ip().to_string()])
        .arg(&result);
    let server = b.spawn("server", server).unwrap();
    let mut client = a.command("/usr/bin/python3");
    client.args(["-c", CLIENT, &b.ip().to_string(), &BYTES.to_string()]);
    let client = a.spawn("client", client).unwrap();

    wait_until("the server to report", || result.exists());
    assert_eq!(std::fs::read_to_string(&result).unwrap(), BYTES.to_string());
    wait_until("the client to exit", || net.try_wait(&client).is_some());
    assert!(net.try_wait(&client).unwrap().success());
    assert!(server.log().starts_with(b.dir()));

    let a1 = a.counters().unwrap();
    let b1 = b.counters().unwrap();
    assert!(a1.tx_bytes - a0.tx_bytes >= BYTES, "{a0:?} -> {a1:?}");
    assert!(b1.rx_bytes - b0.rx_bytes >= BYTES, "{b0:?} -> {b1:?}");
    // Acks flow back, so the receiver sent something and the sender received something.
    assert!(b1.tx_bytes > b0.tx_bytes && a1.rx_bytes > a0.rx_bytes);

    let namespaces = net.namespaces().to_vec();
    assert_eq!(namespaces.len(), 3);
    let listed = netns_list();
    for ns in &namespaces {
        assert!(listed.contains(ns.as_str()), "{ns} missing from {listed}");
    }
    let run_dir = net.run_dir().to_path_buf();
    drop(net);
    let listed = netns_list();
    for ns in &namespaces {
        assert!(
            !listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "{ns} left behind"
        );
    }
    assert!(!run_dir.exists(), "temporary run dir left behind");
}

/// The permanent neighbour entries of `host`'s `eth0`: (ip, lladdr).
fn pinned_neighbours(host: &netsim::Host) -> Vec<(String, String)> {
    let out = Command::new("ip")
        .args([
            "-n",
            host.netns(),
            "neigh",
            "show",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let mac = w.iter().position(|x| *x == "lladdr").map(|i| w[i + 1]);
            Some((w.first()?.to_string(), mac?.to_string()))
        })
        .collect()
}

fn eth0_mac(host: &netsim::Host) -> String {
    let out = Command::new("ip")
        .args(["-n", host.netns(), "-br", "link", "show", "eth0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn every_host_knows_every_other_hosts_address_without_arp() {
    // ARP would cross the shaped queues; the hosts are told each other's
    // link addresses instead, whichever order they were added in.
    let mut net = net("nsneigh");
    let hosts: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|n| net.add_host(n, shaped(100)).unwrap())
        .collect();
    for h in &hosts {
        let mut pinned = pinned_neighbours(h);
        pinned.sort();
        let mut want: Vec<(String, String)> = hosts
            .iter()
            .filter(|o| o.ip() != h.ip())
            .map(|o| (o.ip().to_string(), eth0_mac(o)))
            .collect();
        want.sort();
        assert_eq!(pinned, want, "{}", h.netns());
    }
}

#[test]
fn drop_stops_whole_process_groups() {
    let mut net = net("nstest");
    let h = net.add_host("h", HostOptions::default()).unwrap();
    let pidfile = h.dir().join("bg.pid");
    // The shell forks a background sleep: a grandchild we only reach through the group.
    let mut c = h.command("sh");
    c.arg("-c")
        .arg(format!("sleep 300 & echo $! > {}; wait", pidfile.display()));
    let sh = h.spawn("sleepers", c).unwrap();
    wait_until("the pid file", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    });
    let bg: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_alive(sh.pid()) && pid_alive(bg));
    drop(net);
    assert!(!pid_alive(sh.pid()), "shell still running");
    wait_until("the background sleep to die", || !pid_alive(bg));
}

#[test]
fn exited_processes_are_reported_with_their_status() {
    let mut net = net("nstest");
    let h = net.add_host("h", HostOptions::default()).unwrap();
    let mut c = h.command("sh");
    c.args(["-c", "echo bye; exit 3"]);
    let p = h.spawn("short", c).unwrap();
    wait_until("the process to exit", || net.try_wait(&p).is_some());
    assert_eq!(net.try_wait(&p).unwrap().code(), Some(3));
    let exited = net.exited();
    assert_eq!(exited.len(), 1);
    assert_eq!(exited[0].0, p);
    assert!(net.log_tails(5).contains("bye"));
}

#[test]
fn delay_is_refused_without_netem_and_leaves_no_namespace() {
    let mut net = net("nstest");
    let opts = HostOptions {
        delay: Some(Duration::from_millis(10)),
        ..shaped(10)
    };
    match net.add_host("slow", opts) {
        Err(NetsimError::DelayUnsupported { host }) => {
            assert_eq!(host, "slow");
            assert!(net.hosts().is_empty());
            assert_eq!(net.namespaces().len(), 1, "only the bridge namespace");
            assert!(!netns_list().contains(&format!("{}-slow", net.prefix())));
        }
        Ok(h) => {
            // A kernel with netem: the delay sits below the HTB class.
            let out = Command::new("tc")
                .args(["-n", h.netns(), "qdisc", "show", "dev", "eth0"])
                .output()
                .unwrap();
            assert!(String::from_utf8_lossy(&out.stdout).contains("netem"));
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn bad_names_are_rejected() {
    assert!(matches!(
        Net::new("Bad!"),
        Err(NetsimError::InvalidName { .. })
    ));
    let mut net = net("nstest");
    net.add_host("x", HostOptions::default()).unwrap();
    assert!(matches!(
        net.add_host("x", HostOptions::default()),
        Err(NetsimError::DuplicateHost { .. })
    ));
    assert!(matches!(
        net.add_host("under_score", HostOptions::default()),
        Err(NetsimError::InvalidName { .. })
    ));
    assert!(Path::new(net.run_dir()).join("hosts/x").is_dir());
}
