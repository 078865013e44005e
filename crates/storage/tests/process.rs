//! Process-level tests that need a child process of their own:
//!
//! - `kill_during_writes`: a child downloads (writes pieces, saves resume
//!   state often) and is SIGKILLed at a random moment, over and over, each
//!   child resuming from what the last one left. After every kill the state
//!   file must be readable (atomic saves) and every piece it claims must hash
//!   correctly; in the end the download completes.
//! - `disk_full`: a child in a private mount namespace fills a 256 KiB tmpfs;
//!   `write_piece` must fail with `StorageError::DiskFull`, and the pieces and
//!   resume state already on disk must survive intact. Needs root (as CI and
//!   the dev machines are) and `unshare(1)`; without them it fails, loudly.
//!
//! The binary re-executes itself with `ANTHILL_STORAGE_CHILD` set, so it has
//! its own `main` (`harness = false`).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metainfo::{FileEntry, Info, Infohash};
use sha1::{Digest, Sha1};
use storage::{
    FileStorage, FileStorageOptions, OpenMode, PieceIndex, ResumeError, ResumeOptions, ResumeState,
    ResumeWriter, Storage, StorageError, check_existing, check_resume, verify_piece,
};

const CHILD: &str = "ANTHILL_STORAGE_CHILD";
const DIR: &str = "ANTHILL_STORAGE_DIR";
const SEED: &str = "ANTHILL_STORAGE_SEED";
const IH: Infohash = Infohash([0x42; 20]);

fn main() -> ExitCode {
    match std::env::var(CHILD).as_deref() {
        Ok("writer") => return child_writer(),
        Ok("diskfull") => return child_disk_full(),
        _ => {}
    }
    let tests: [(&str, fn()); 2] = [
        ("kill_during_writes", kill_during_writes),
        ("disk_full", disk_full),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = Instant::now();
        let ok = std::panic::catch_unwind(test).is_ok();
        println!(
            "test {name} ... {} ({:.1}s)",
            if ok { "ok" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        if ok { passed += 1 } else { failed += 1 }
    }
    println!(
        "test result: {}. {passed} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---- shared torrent ----------------------------------------------------------

struct Torrent {
    info: Arc<Info>,
    data: Vec<u8>,
}

/// A deterministic torrent, identical in parent and child.
fn torrent(sizes: &[u64], piece_length: u64) -> Torrent {
    let mut files = Vec::new();
    let mut data = Vec::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for (i, &len) in sizes.iter().enumerate() {
        // every 7th entry is a BEP 47 pad file
        let pad = i % 7 == 6;
        files.push(if pad {
            FileEntry::pad(len)
        } else {
            FileEntry::new(vec![format!("d{}", i % 3), format!("f{i}")], len)
        });
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(if pad { 0 } else { x.to_le_bytes()[3] });
        }
    }
    let pieces = data
        .chunks(usize::try_from(piece_length).unwrap())
        .map(|c| Sha1::digest(c).into())
        .collect();
    let info = Info::multi("kill", piece_length, pieces, files);
    info.validate().unwrap();
    Torrent {
        info: Arc::new(info),
        data,
    }
}

impl Torrent {
    fn piece(&self, i: usize) -> &[u8] {
        let pl = usize::try_from(self.info.piece_length()).unwrap();
        &self.data[i * pl..((i + 1) * pl).min(self.data.len())]
    }
}

fn kill_torrent() -> Torrent {
    let sizes: Vec<u64> = (0..30u64)
        .map(|i| match i % 5 {
            0 => 0,
            1 => 1000 + i * 37,
            2 => 300_000 + i * 1111,
            _ => 40_000 + i * 997,
        })
        .collect();
    torrent(&sizes, 16384)
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("{name} not set")))
}

/// Small xorshift for shuffles and delays (no rand dependency needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---- kill -9 -------------------------------------------------------------------

fn child_writer() -> ExitCode {
    let t = kill_torrent();
    let dir = env_path(DIR);
    let state = dir.join("state");
    let seed: u64 = std::env::var(SEED).unwrap().parse().unwrap();
    let opts = FileStorageOptions {
        max_open_files: 4,
        ..Default::default()
    };
    let store = Arc::new(
        FileStorage::open(
            Arc::clone(&t.info),
            dir.join("data"),
            OpenMode::Download,
            opts,
        )
        .unwrap(),
    );
    let saved = ResumeState::load(&state, IH, &t.info);
    let verified = check_resume(&*store, saved.as_ref(), 2, |_| {});
    let writer = ResumeWriter::new(
        &state,
        IH,
        store.clone(),
        verified.clone(),
        ResumeOptions {
            interval: Duration::from_millis(1),
            max_pending: 3,
        },
    );
    writer.save_now().unwrap();
    println!("ready {}", verified.count());
    let mut todo: Vec<usize> = (0..t.info.num_pieces())
        .filter(|&i| !verified.contains(PieceIndex::from_usize(i).unwrap()))
        .collect();
    let mut rng = Rng(seed | 1);
    for i in (1..todo.len()).rev() {
        let j = usize::try_from(rng.below(u64::try_from(i).unwrap() + 1)).unwrap();
        todo.swap(i, j);
    }
    for i in todo {
        let p = PieceIndex::from_usize(i).unwrap();
        assert!(verify_piece(&t.info, p, t.piece(i)));
        store.write_piece(p, t.piece(i)).unwrap();
        writer.piece_written(p);
        writer.maybe_save().unwrap();
    }
    writer.save_now().unwrap();
    println!("done");
    ExitCode::SUCCESS
}

fn kill_during_writes() {
    let t = kill_torrent();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(u64::from(std::process::id()) * 0x9e37_79b9 + 7);
    let (mut kills, mut max_claimed) = (0, 0);
    for round in 0..60 {
        let mut child = Command::new(&exe)
            .env(CHILD, "writer")
            .env(DIR, tmp.path())
            .env(SEED, rng.next().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // Kill somewhere in the write phase, except in late rounds, which
        // must finish so the test ends.
        let finishing = round >= 50;
        if !finishing && line.starts_with("ready") {
            std::thread::sleep(Duration::from_micros(rng.below(120_000)));
            child.kill().unwrap(); // SIGKILL
        }
        let status = child.wait().unwrap();
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        let done = rest.contains("done");
        if !done {
            // Anything but our SIGKILL (a panic, an error exit) is a failure.
            assert!(
                !finishing && status.signal() == Some(9),
                "child failed without being killed: {status:?}\n{line}{rest}"
            );
            kills += 1;
        }
        max_claimed = max_claimed.max(check_claims(&t, tmp.path(), &state));
        if done && kills < 3 && !finishing {
            // The child outran our kills (timing depends on machine load):
            // start the download over so the test still proves something.
            std::fs::remove_dir_all(tmp.path().join("data")).unwrap();
            std::fs::remove_file(&state).unwrap();
            continue;
        }
        if done {
            println!(
                "    kill_during_writes: {kills} SIGKILLs, finished in round {round}, up to {max_claimed} claimed pieces checked after a kill"
            );
            let st = ResumeState::read_for(&state, IH, &t.info).unwrap();
            assert!(st.verified.is_complete(), "finished but state incomplete");
            let seed = FileStorage::open(
                Arc::clone(&t.info),
                tmp.path().join("data"),
                OpenMode::Seed,
                FileStorageOptions::default(),
            )
            .unwrap();
            assert!(check_existing(&seed, 2, |_| {}).is_complete());
            assert!(
                kills >= 3,
                "too few kills landed mid-run ({kills}); the test proved little"
            );
            return;
        }
    }
    panic!("download never finished");
}

/// Every piece the state file claims must hash correctly; returns how many it claims.
fn check_claims(t: &Torrent, dir: &Path, state: &Path) -> usize {
    let st = match ResumeState::read_for(state, IH, &t.info) {
        Ok(st) => st,
        Err(ResumeError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return 0;
        }
        Err(e) => panic!("state file damaged by SIGKILL: {e}"),
    };
    // A saved state implies the storage finished opening, so every file exists.
    let s = FileStorage::open(
        Arc::clone(&t.info),
        dir.join("data"),
        OpenMode::Seed,
        FileStorageOptions::default(),
    )
    .unwrap_or_else(|e| panic!("state exists but data is not complete on disk: {e}"));
    let mut buf = vec![0u8; 16384];
    for p in st.verified.iter() {
        let len = t.piece(p.as_usize()).len();
        s.read_block(p, 0, &mut buf[..len]).unwrap();
        assert!(
            verify_piece(&t.info, p, &buf[..len]),
            "state claims piece {p} but its bytes are wrong"
        );
    }
    st.verified.count()
}

// ---- disk full -----------------------------------------------------------------

fn child_disk_full() -> ExitCode {
    let mnt = env_path(DIR);
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "anthill-test"])
        .arg(&mnt)
        .status()
        .expect("run mount(8)");
    assert!(st.success(), "mount tmpfs failed: {st:?}");

    let t = torrent(&[200_000, 200_000, 100_000], 16384);
    let store = Arc::new(
        FileStorage::open(
            Arc::clone(&t.info),
            mnt.join("data"),
            OpenMode::Download,
            FileStorageOptions::default(),
        )
        .unwrap(),
    );
    let state = mnt.join("state");
    let writer = ResumeWriter::new(
        &state,
        IH,
        store.clone(),
        storage::PieceSet::new(t.info.num_pieces()),
        ResumeOptions {
            interval: Duration::ZERO,
            max_pending: 1,
        },
    );
    let mut written = Vec::new();
    let mut full = None;
    for i in 0..t.info.num_pieces() {
        let p = PieceIndex::from_usize(i).unwrap();
        match store.write_piece(p, t.piece(i)) {
            Ok(()) => {
                written.push(p);
                writer.piece_written(p);
                // The state save may itself hit the full disk: an error, not a crash.
                let _ = writer.maybe_save();
            }
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let err = full.expect("a 500 kB torrent cannot fit a 256 KiB tmpfs");
    println!("error: {err}");
    match &err {
        StorageError::DiskFull { path } => assert!(path.starts_with(&mnt), "{path:?}"),
        other => panic!("expected DiskFull, got {other:?}"),
    }
    assert!(err.to_string().starts_with("disk full writing "));
    assert!(written.len() >= 4, "only {} pieces fit", written.len());
    assert!(
        writer.save_now().is_err(),
        "no room left for a new state file"
    );
    // Earlier pieces and the last good state survive.
    let mut buf = vec![0u8; 16384];
    for &p in &written {
        let len = t.piece(p.as_usize()).len();
        store.read_block(p, 0, &mut buf[..len]).unwrap();
        assert!(verify_piece(&t.info, p, &buf[..len]), "piece {p} damaged");
    }
    let st = ResumeState::read_for(&state, IH, &t.info).expect("previous state intact");
    assert!(st.verified.count() >= 1);
    assert!(st.verified.iter().all(|p| written.contains(&p)));
    println!(
        "ok: {} pieces written, {} claimed by the state",
        written.len(),
        st.verified.count()
    );
    ExitCode::SUCCESS
}

fn disk_full() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(std::env::current_exe().unwrap())
        .env(CHILD, "diskfull")
        .env(DIR, &mnt)
        .output()
        .unwrap_or_else(|e| panic!("disk_full needs unshare(1) from util-linux: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "disk_full child failed ({}); it needs root to mount a private tmpfs\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("ok: "),
        "child did not finish:\n{stdout}\n{stderr}"
    );
    for l in stdout.lines() {
        println!("    disk_full: {l}");
    }
}
