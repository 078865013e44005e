//! Tracker interop with Transmission. Transmission 3.00 drops tracker-supplied peers on 127.0.0.0/8, so its
//! interop test needs real addresses: this test builds a small network of
//! namespaces (a bridge in its own namespace, veth pairs into one namespace
//! per host, 10.77.1.0/24 only inside them, never in the root namespace),
//! runs `anthill tracker` in one, a seeding and a leeching `transmission-cli`
//! in two others, and checks the leecher gets the file through peers from
//! our tracker, over HTTP and over UDP. Everything is torn down on drop.
//!
//! Needs root (for `ip netns`). A missing prerequisite is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::require;

const DEADLINE: Duration = Duration::from_secs(55);

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Namespaces and processes of one test; removed on drop.
struct Netns {
    names: Vec<String>,
    children: Vec<(String, Child, PathBuf)>,
}

impl Netns {
    /// A bridge namespace and one namespace per host, `hosts[i]` getting
    /// 10.77.1.(i+1)/24.
    fn build(tag: &str, hosts: usize) -> Self {
        let uid = run(Command::new("id").arg("-u"));
        assert_eq!(
            uid.trim(),
            "0",
            "the netns interop test needs root (ip netns add)"
        );
        let pid = std::process::id();
        let bridge = format!("ah{pid}{tag}br");
        let mut me = Self {
            names: vec![bridge.clone()],
            children: Vec::new(),
        };
        ip(&["netns", "add", &bridge]);
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        for i in 1..=hosts {
            let ns = format!("ah{pid}{tag}h{i}");
            ip(&["netns", "add", &ns]);
            me.names.push(ns.clone());
            let veth = format!("v{i}");
            ip(&[
                "-n", &bridge, "link", "add", &veth, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            ip(&["-n", &bridge, "link", "set", &veth, "master", "br0", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.77.1.{i}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        me
    }

    /// Namespace of host `i` (1-based, address 10.77.1.i).
    fn host(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Starts `program args` inside host `i`, logging to `log`.
    fn spawn(&mut self, i: usize, name: &str, program: &str, args: &[&str], log: PathBuf) {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        // `ip netns exec` execs the program, so the child's pid is the program's.
        let child = Command::new("ip")
            .args(["netns", "exec", self.host(i), program])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.children.push((name.to_owned(), child, log));
    }

    fn exec(&self, i: usize, program: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", self.host(i), program])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn logs(&self) -> String {
        self.children
            .iter()
            .map(|(n, _, log)| {
                format!(
                    "--- {n} ---\n{}\n",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the bridge namespace also removes the veth pairs.
        for ns in self.names.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn transmission_config(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir).unwrap();
    let settings = serde_json::json!({
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "port-forwarding-enabled": false,
        "peer-port": port,
        "peer-port-random-on-start": false,
        "incomplete-dir-enabled": false,
        "rename-partial-files": true,
        "speed-limit-up-enabled": false,
        "speed-limit-down-enabled": false,
        "message-level": 2,
    });
    std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
}

fn stats(net: &Netns) -> Option<serde_json::Value> {
    let body = net.exec(
        3,
        "curl",
        &["-sf", "--max-time", "2", "http://10.77.1.1:6969/stats"],
    )?;
    serde_json::from_str(&body).ok()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn transfer(tag: &str, announce: &str) {
    for p in ["ip", "transmission-cli", "transmission-create", "curl"] {
        require(p);
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mut net = Netns::build(tag, 3);

    let config = w.join("tracker.toml");
    std::fs::write(
        &config,
        "[announce]\ninterval = \"2s\"\nmin_interval = \"1s\"\n",
    )
    .unwrap();
    net.spawn(
        1,
        "anthill tracker",
        env!("CARGO_BIN_EXE_anthill"),
        &[
            "tracker",
            "--config",
            config.to_str().unwrap(),
            "--http",
            "10.77.1.1:6969",
            "--udp",
            "10.77.1.1:6969",
        ],
        w.join("tracker.log"),
    );
    assert!(
        wait_until(Duration::from_secs(10), || stats(&net).is_some()),
        "tracker did not come up\n{}",
        net.logs()
    );

    let (seed, leech) = (w.join("seed"), w.join("leech"));
    std::fs::create_dir_all(&seed).unwrap();
    std::fs::create_dir_all(&leech).unwrap();
    let mut state = 0x2545_f491_u32;
    let data: Vec<u8> = (0..(2 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[1]
        })
        .collect();
    std::fs::write(seed.join("payload"), &data).unwrap();
    let torrent = w.join("payload.torrent");
    run(Command::new("transmission-create")
        .arg("-t")
        .arg(announce)
        .arg("-o")
        .arg(&torrent)
        .arg(seed.join("payload")));

    transmission_config(&w.join("tr-seed"), 51413);
    transmission_config(&w.join("tr-leech"), 51414);
    let t = torrent.to_str().unwrap();
    net.spawn(
        2,
        "transmission seeder",
        "transmission-cli",
        &[
            "-g",
            w.join("tr-seed").to_str().unwrap(),
            "-w",
            seed.to_str().unwrap(),
            "-p",
            "51413",
            "-v",
            t,
        ],
        w.join("seed.log"),
    );
    let seeded = wait_until(Duration::from_secs(20), || {
        stats(&net).is_some_and(|s| s["seeders"].as_u64() == Some(1))
    });
    assert!(
        seeded,
        "seeder never announced as a seeder: {:?}\n{}",
        stats(&net),
        net.logs()
    );
    net.spawn(
        3,
        "transmission leecher",
        "transmission-cli",
        &[
            "-g",
            w.join("tr-leech").to_str().unwrap(),
            "-w",
            leech.to_str().unwrap(),
            "-p",
            "51414",
            t,
        ],
        w.join("leech.log"),
    );
    let done = wait_until(DEADLINE, || {
        std::fs::read(leech.join("payload")).is_ok_and(|d| d == data)
    });
    assert!(
        done,
        "leecher did not get the file: {:?}\n{}",
        stats(&net),
        net.logs()
    );
    // The leecher's completed event reaches the tracker and shows in /stats.
    let counted = wait_until(Duration::from_secs(10), || {
        stats(&net).is_some_and(|s| s["completed"].as_u64() >= Some(1))
    });
    assert!(
        counted,
        "completed not counted: {:?}\n{}",
        stats(&net),
        net.logs()
    );
    let s = stats(&net).unwrap_or_default();
    let proto = if announce.starts_with("udp") {
        "udp_announces"
    } else {
        "http_announces"
    };
    assert!(s["requests"][proto].as_u64() >= Some(2), "{s}");
}

#[test]
fn transmission_transfer_over_http_tracker_in_netns() {
    transfer("h", "http://10.77.1.1:6969/announce");
}

#[test]
fn transmission_transfer_over_udp_tracker_in_netns() {
    transfer("u", "udp://10.77.1.1:6969/announce");
}
