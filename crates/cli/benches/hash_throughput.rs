//! Hashing throughput of `anthill torrent create` against the machine's
//! limits and against `mktorrent -t 2`, all measured in the same run.
//!
//! Run with `scripts/bench-hash` (= `cargo bench -p anthill --bench
//! hash_throughput`). It writes a tree of 64 files (2 GiB by default) under
//! `$ANTHILL_BENCH_DIR` (default `/tmp/anthill-bench-hash`), reads it once so
//! it sits in the page cache, then runs `$ANTHILL_BENCH_ROUNDS` (default 3)
//! interleaved rounds of: single-core SHA-1 over memory (the same `sha1`
//! crate), a single-threaded read of the tree, our release binary, and
//! `mktorrent -t 2` with the same piece length. The machine is shared and
//! noisy, so each figure is the best of its rounds. Nothing here asserts a
//! speed: it prints numbers and ratios.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only says how
//! to run it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha1::{Digest, Sha1};

const FILES: u64 = 64;
const GIB: f64 = (1u64 << 30) as f64;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("hash_throughput: a benchmark; run it with scripts/bench-hash");
        return;
    }
    let dir = PathBuf::from(
        std::env::var("ANTHILL_BENCH_DIR").unwrap_or_else(|_| "/tmp/anthill-bench-hash".into()),
    );
    let gib: u64 = env_num("ANTHILL_BENCH_GIB", 2);
    let rounds: u64 = env_num("ANTHILL_BENCH_ROUNDS", 3);
    let total = gib << 30;
    let tree = dir.join("tree");
    let files = make_tree(&tree, total);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let piece_length = metainfo::PieceLength::auto(total).get();
    let anthill = env!("CARGO_BIN_EXE_anthill");
    let have_mktorrent = Command::new("mktorrent").arg("-h").output().is_ok();

    read_all(&files); // into the page cache
    let load_before = loadavg();
    // Best wall time and best CPU time (user+sys, self or children) per measure.
    let mut sha = Best::default();
    let mut read = Best::default();
    let mut ours = Best::default();
    let mut mk = Best::default();
    for round in 1..=rounds {
        sha.add(measure(sha1_one_gib));
        read.add(measure(|| read_all(&files)));
        let out = dir.join("anthill.torrent");
        ours.add(measure(|| {
            run(Command::new(anthill)
                .args(["torrent", "create", "--no-date", "--force", "-o"])
                .arg(&out)
                .arg(&tree))
        }));
        if have_mktorrent {
            let out = dir.join("mktorrent.torrent");
            let _ = std::fs::remove_file(&out);
            mk.add(measure(|| {
                run(Command::new("mktorrent")
                    .args(["-t", "2", "-a", "http://127.0.0.1:1/announce", "-l"])
                    .arg(piece_length.trailing_zeros().to_string())
                    .arg("-o")
                    .arg(&out)
                    .arg(&tree))
            }));
        }
        eprintln!("round {round}/{rounds} done");
    }
    let load_after = loadavg();

    let g = gib as f64;
    // The machine's capability: rates per CPU-second, which other load on a
    // shared machine does not lower (wall-clock rates would flatter us).
    let sha_rate = 1.0 / sha.cpu.max(0.01); // sha1_one_gib hashes 1 GiB
    let read_rate = g / read.cpu.max(0.01);
    let limit = read_rate.min(sha_rate * cores as f64);
    let ours_rate = g / ours.wall;
    println!(
        "data:                 {gib} GiB in {FILES} files, page cache, {cores} cores, piece length {} KiB, best of {rounds} rounds",
        piece_length >> 10
    );
    println!(
        "load average:         {load_before} before, {load_after} after; nice {}",
        niceness()
    );
    println!(
        "sha1 crate, 1 core:   {sha_rate:.2} GiB/s per CPU-second ({:.2} GiB/s wall)",
        1.0 / sha.wall
    );
    let openssl = openssl_sha1();
    if let Some(o) = openssl {
        println!("openssl sha1, 1 core: {o:.2} GiB/s (openssl speed -evp sha1, CPU time)");
    }
    println!(
        "read, 1 thread:       {read_rate:.2} GiB/s per CPU-second ({:.2} GiB/s wall)",
        g / read.wall
    );
    println!(
        "limit:                {limit:.2} GiB/s = min(read {read_rate:.2}, {cores} cores x sha1 {sha_rate:.2})"
    );
    println!(
        "anthill create:       {ours_rate:.2} GiB/s ({:.3} s wall, {:.3} CPU-s/GiB) = {:.1} % of the limit",
        ours.wall,
        ours.cpu / g,
        100.0 * ours_rate / limit
    );
    if let Some(o) = openssl {
        let limit = read_rate.min(o * cores as f64);
        println!(
            "                      = {:.1} % of min(read, {cores} cores x openssl sha1) = {limit:.2} GiB/s",
            100.0 * ours_rate / limit
        );
    }
    if have_mktorrent {
        let mk_rate = g / mk.wall;
        println!(
            "mktorrent -t 2:       {mk_rate:.2} GiB/s ({:.3} s wall, {:.3} CPU-s/GiB)",
            mk.wall,
            mk.cpu / g
        );
        println!("anthill / mktorrent:  {:.2}x", ours_rate / mk_rate);
    } else {
        println!("mktorrent -t 2:       not installed (run scripts/setup)");
    }
    check_same_infohash(&dir, have_mktorrent);
}

/// Smallest wall and CPU seconds seen.
struct Best {
    wall: f64,
    cpu: f64,
}

impl Default for Best {
    fn default() -> Self {
        Self {
            wall: f64::MAX,
            cpu: f64::MAX,
        }
    }
}

impl Best {
    fn add(&mut self, (wall, cpu): (f64, f64)) {
        self.wall = self.wall.min(wall);
        self.cpu = self.cpu.min(cpu);
    }
}

/// Wall seconds and CPU seconds (this thread, plus waited-for children) of `f`.
fn measure(f: impl FnOnce()) -> (f64, f64) {
    let (c, own) = (children_cpu_seconds(), thread_cpu_seconds());
    let t = Instant::now();
    f();
    let wall = t.elapsed().as_secs_f64();
    let children = children_cpu_seconds() - c;
    (wall, children + (thread_cpu_seconds() - own))
}

/// Nanosecond-precise CPU time of this thread (first field of schedstat).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

/// CPU time of waited-for children (cutime+cstime, 10 ms ticks).
fn children_cpu_seconds() -> f64 {
    proc_stat_ticks(13, 2)
}

/// Sum of `count` tick fields of /proc/self/stat starting `skip` fields after
/// the state field (USER_HZ = 100): 13, 2 = cutime, cstime.
fn proc_stat_ticks(skip: usize, count: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let ticks: u64 = after
        .split_whitespace()
        .skip(skip)
        .take(count)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// This process's nice value (field 19 of /proc/self/stat).
fn niceness() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    after.split_whitespace().nth(16).unwrap_or("?").to_string()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

/// Writes `FILES` files of pseudo-random bytes totalling `total`, unless they exist.
fn make_tree(tree: &Path, total: u64) -> Vec<PathBuf> {
    std::fs::create_dir_all(tree).expect("create bench dir");
    let each = total / FILES;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut block = vec![0u8; 1 << 20];
    (0..FILES)
        .map(|i| {
            let p = tree.join(format!("part-{i:03}.bin"));
            if std::fs::metadata(&p).map(|m| m.len()).ok() != Some(each) {
                let mut f = std::fs::File::create(&p).expect("create bench file");
                let mut left = each;
                while left > 0 {
                    for c in block.chunks_exact_mut(8) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        c.copy_from_slice(&x.to_le_bytes());
                    }
                    let n = left.min(block.len() as u64) as usize;
                    std::io::Write::write_all(&mut f, &block[..n]).expect("write bench file");
                    left -= n as u64;
                }
            }
            p
        })
        .collect()
}

fn read_all(files: &[PathBuf]) {
    let mut buf = vec![0u8; 1 << 20];
    for p in files {
        let mut f = std::fs::File::open(p).expect("open bench file");
        while f.read(&mut buf).expect("read bench file") > 0 {}
    }
}

/// SHA-1 over 1 GiB from memory on one core (a 64 MiB buffer, 16 times).
fn sha1_one_gib() {
    let buf = vec![0x5au8; 64 << 20];
    let mut h = Sha1::new();
    for _ in 0..16 {
        h.update(std::hint::black_box(&buf));
    }
    std::hint::black_box(h.finalize());
}

/// Single-core SHA-1 speed from `openssl speed`, in GiB/s.
fn openssl_sha1() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed", "-evp", "sha1", "-bytes", "1048576", "-seconds", "2",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // last line: "sha1   2301624.32k" (thousands of bytes per second)
    let kb: f64 = text
        .lines()
        .rev()
        .find(|l| l.starts_with("sha1"))?
        .split_whitespace()
        .nth(1)?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(kb * 1000.0 / GIB)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run benchmark command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Both torrents describe the same tree: the infohashes must agree (no pads:
/// every file is a multiple of the piece length).
fn check_same_infohash(dir: &Path, have_mktorrent: bool) {
    if !have_mktorrent {
        return;
    }
    let load = |name: &str| {
        let bytes = std::fs::read(dir.join(name)).expect("read torrent");
        let m = metainfo::Metainfo::from_bytes(&bytes).expect("parse torrent");
        m.info().pieces().to_vec()
    };
    let same = load("anthill.torrent") == load("mktorrent.torrent");
    println!(
        "piece hashes:         {}",
        if same {
            "identical to mktorrent's"
        } else {
            "DIFFER from mktorrent's"
        }
    );
}
