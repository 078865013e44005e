//! Running the binary and building file trees.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a finished `anthill` run left behind.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) raw_stdout: Vec<u8>,
}

impl Output {
    /// Asserts the exit code, showing all output on failure.
    #[track_caller]
    pub(crate) fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `anthill args…` in `cwd`.
pub(crate) fn anthill<I, S>(cwd: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("cannot run anthill");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

/// Writes `files` (relative path, contents) under `root`.
pub(crate) fn tree(root: &Path, files: &[(&str, &[u8])]) {
    for (p, data) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// `n` deterministic bytes.
pub(crate) fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u64::from(seed) | 0x1234_5678_0000_0000;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A temp dir holding `rel/` with a mix of files: nested, empty (also last),
/// sizes around the 16 KiB piece length.
pub(crate) fn sample(dir: &Path) -> PathBuf {
    let root = dir.join("rel");
    tree(
        &root,
        &[
            ("a.bin", &bytes(40_000, 1)),
            ("b/c.bin", &bytes(16_384, 2)),
            ("b/d/e.txt", b"hello"),
            ("empty", b""),
            ("z/last-empty", b""),
        ],
    );
    root
}

/// The Python that has the Debian `python3-libtorrent` module.
pub(crate) const PYTHON: &str = "/usr/bin/python3";

/// Panics with a clear message if `program` is not installed. This is the
/// one check for a test's prerequisites: a missing program (aria2c,
/// transmission, qbittorrent-nox, python3…) fails the test, it never skips
/// it, in CI or anywhere else.
#[track_caller]
pub(crate) fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
        || Path::new(program).is_file();
    assert!(
        found,
        "this test needs `{program}`, which is not installed; run scripts/setup"
    );
}

/// [`require`] for python3-libtorrent: [`PYTHON`] must import it.
#[track_caller]
pub(crate) fn require_libtorrent() {
    require(PYTHON);
    let ok = Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "this test needs python3-libtorrent for {PYTHON}; run scripts/setup"
    );
}

/// Runs an external program, asserting success; returns stdout.
#[track_caller]
pub(crate) fn run_ok(cwd: &Path, program: &str, args: &[&OsStr]) -> String {
    require(program);
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The built binary with quiet logs, for commands that keep running.
pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anthill"));
    c.env("RUST_LOG", "warn");
    c
}

/// A child process killed (and reaped) when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `anthill seed` on a free loopback port and returns it with its
/// address (read from its first line of output).
pub(crate) fn start_seeder<S: AsRef<OsStr>>(
    torrent: &Path,
    dir: &Path,
    extra: &[S],
) -> (Proc, String) {
    let (p, addr, _) = start_seeder_logged(torrent, dir, extra);
    (p, addr)
}

/// [`start_seeder`] with the swarm's peer events logged and kept, for a
/// failure message.
pub(crate) fn start_seeder_logged<S: AsRef<OsStr>>(
    torrent: &Path,
    dir: &Path,
    extra: &[S],
) -> (Proc, String, Log) {
    let mut child = bin()
        .env("RUST_LOG", "info,swarm=debug")
        .arg("seed")
        .arg(torrent)
        .arg("--path")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Log::default();
    // Peer events of `--peer` dials may come before the "seeding … on ADDR"
    // line.
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("seeder ended before it was listening:\n{}", log.text()))
            .unwrap();
        let addr = line
            .strip_prefix("seeding ")
            .and_then(|l| l.rsplit(" on ").next())
            .map(|a| a.trim().to_string());
        log.push(line);
        if let Some(addr) = addr {
            break addr;
        }
    };
    log.collect(lines);
    (Proc(child), addr, log)
}

/// The lines a child process wrote, gathered by a thread, to show when a
/// test fails.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// At most this many lines are kept: the first ones and the last ones.
    const KEEP: usize = 400;

    fn push(&self, line: String) {
        let mut v = self.0.lock().unwrap();
        if v.len() == Self::KEEP {
            v.remove(Self::KEEP / 2);
        }
        v.push(line);
    }

    /// Gathers `lines` on a thread of its own until they end.
    pub(crate) fn collect<R: BufRead + Send + 'static>(&self, lines: std::io::Lines<R>) {
        let log = self.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log.push(line);
            }
        });
    }

    /// A log of `r`, read on a thread of its own.
    pub(crate) fn of<R: Read + Send + 'static>(r: R) -> Self {
        let log = Self::default();
        log.collect(BufReader::new(r).lines());
        log
    }

    pub(crate) fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// How long the process tests wait for anything.
pub(crate) const BOUND: Duration = Duration::from_secs(120);

/// A loopback TCP port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET on loopback; `None` if nothing answers.
pub(crate) fn get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = buf[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
    out
}

/// Waits (bounded) until `f` returns `Some`.
pub(crate) fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < BOUND, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An agent's `/status` JSON; `None` until it answers.
pub(crate) fn status(addr: SocketAddr) -> Option<serde_json::Value> {
    let (code, body) = get(addr, "/status")?;
    (code == 200)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
}

/// An `anthill hub` process on loopback and what an agent needs to follow it.
pub(crate) struct Hub {
    pub(crate) _proc: Proc,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: PathBuf,
    /// The public key, base64.
    pub(crate) key: String,
}

/// Starts `anthill hub --dir TMP/hub` on a free port (`extra`: more flags)
/// and waits until it serves its feed.
pub(crate) fn start_hub(tmp: &Path, extra: &[&str]) -> Hub {
    let dir = tmp.join("hub");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let proc = Proc(
        bin()
            .arg("hub")
            .arg("--dir")
            .arg(&dir)
            .args(["--listen", &addr.to_string()])
            .args(["--peer-listen", "127.0.0.1:0", "--settle", "200ms"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    until("the hub answers", || {
        get(addr, "/feed.xml").filter(|(c, _)| *c == 200)
    });
    let key = std::fs::read_to_string(dir.join("keys/hub.pub")).unwrap();
    let key = key.lines().last().unwrap().to_string();
    Hub {
        _proc: proc,
        addr,
        dir,
        key,
    }
}
