//! Issue 13: every command safe and clear on bad input. Nothing is
//! overwritten, every read is bounded, each error cause is said once, names
//! from torrents are escaped, output errors are reported, and a download
//! with no way to get peers says so.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Output, Proc, anthill, bin, bytes, sample, tree};

/// Runs `anthill args…` in `cwd` with `stdout` as its standard output.
fn with_stdout<I, S>(cwd: &Path, args: I, stdout: Stdio) -> (i32, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `anthill args…` with extra environment variables.
fn with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

/// Asserts no `: `-separated part of any line of `stderr` is repeated.
#[track_caller]
fn each_cause_once(stderr: &str) {
    for line in stderr.lines() {
        let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(!parts[i + 1..].contains(p), "{p:?} said twice in {line:?}");
        }
    }
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

/// A bencoded string.
fn bstr(s: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", s.len()).into_bytes();
    v.extend_from_slice(s);
    v
}

/// A torrent whose names and comment carry terminal escape sequences and a
/// newline (the piece hash is wrong, which `show` does not care about).
fn hostile_torrent(path: &Path) {
    let name = b"evil\x1b]0;pwned\x07\x1b[2J";
    let mut info = b"d5:filesld6:lengthi5e4:pathl".to_vec();
    info.extend(bstr(b"two\nlines"));
    info.extend(b"eed6:lengthi1e4:pathl");
    info.extend(bstr(b"b"));
    info.extend(b"eee4:name");
    info.extend(bstr(name));
    info.extend(b"12:piece lengthi16384e6:pieces");
    info.extend(bstr(&[7; 20]));
    info.push(b'e');
    let mut t = b"d7:comment".to_vec();
    t.extend(bstr(b"c\x1b[31m"));
    t.extend(b"4:info");
    t.extend(info);
    t.push(b'e');
    std::fs::write(path, t).unwrap();
}

// ---- data loss ---------------------------------------------------------

#[test]
fn issue13_create_never_overwrites_the_file_it_shares() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("notes.txt"), b"my notes").unwrap();
    std::os::unix::fs::symlink("notes.txt", p.join("link")).unwrap();
    std::fs::hard_link(p.join("notes.txt"), p.join("hard")).unwrap();
    for out in ["notes.txt", "./notes.txt", "link", "hard"] {
        for force in [false, true] {
            let mut args = vec!["torrent", "create", "notes.txt", "-o", out];
            if force {
                args.push("--force");
            }
            let r = anthill(p, &args).expect(1);
            assert!(r.stderr.contains("the file being shared"), "{}", r.stderr);
            assert!(
                !r.stderr.contains("--force"),
                "never steer into --force: {}",
                r.stderr
            );
        }
    }
    assert_eq!(std::fs::read(p.join("notes.txt")).unwrap(), b"my notes");
    // An ordinary existing output still needs --force, and is then replaced.
    std::fs::write(p.join("old.torrent"), b"old").unwrap();
    let r = anthill(p, ["torrent", "create", "notes.txt", "-o", "old.torrent"]).expect(1);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    anthill(
        p,
        ["torrent", "create", "notes.txt", "-o", "old.torrent", "-f"],
    )
    .expect(0);
    metainfo::Metainfo::from_bytes(&std::fs::read(p.join("old.torrent")).unwrap()).unwrap();
    // Output inside a shared directory, however spelled.
    let root = sample(p);
    std::fs::create_dir(root.join("sub")).unwrap();
    for out in [
        "rel/x.torrent",
        "rel/sub/../x.torrent",
        "./rel/sub/x.torrent",
    ] {
        let r = anthill(p, ["torrent", "create", "rel", "-o", out, "--force"]).expect(1);
        assert!(r.stderr.contains("the tree being shared"), "{}", r.stderr);
    }
}

#[test]
fn issue13_demo_never_replaces_what_it_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("D");
    tree(&d, &[("sample-release/mine.txt", b"precious")]);
    let r = anthill(dir.path(), ["demo", "--dir", "D"]).expect(1);
    assert!(
        r.stderr.contains("not made by anthill demo"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(d.join("sample-release/mine.txt")).unwrap(),
        b"precious"
    );
    // Likewise a single file.
    let e = dir.path().join("E");
    tree(&e, &[("notes.txt", b"mine")]);
    anthill(dir.path(), ["demo", "--dir", "E"]).expect(1);
    assert_eq!(std::fs::read(e.join("notes.txt")).unwrap(), b"mine");
    // Bad sizes and counts are usage errors, before anything starts.
    anthill(dir.path(), ["demo", "--size", "12", "--dir", "F"]).expect(2);
    anthill(dir.path(), ["demo", "--agents", "0", "--dir", "F"]).expect(2);
    assert!(!dir.path().join("F").exists());
    let help = anthill(dir.path(), ["demo", "--help"]).expect(0);
    assert!(help.stdout.contains("refuses"), "{}", help.stdout);
}

// ---- wrong results -----------------------------------------------------

#[test]
fn issue13_stdout_errors_are_reported_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    anthill(dir.path(), ["torrent", "create", "rel", "--no-date"]).expect(0);
    for args in [
        &["torrent", "create", "rel", "-o", "-"][..],
        &["torrent", "show", "rel.torrent"],
        &["torrent", "show", "--json", "rel.torrent"],
        &["torrent", "magnet", "rel.torrent"],
        &["torrent", "verify", "rel.torrent"],
        &["completions", "bash"],
        &["tracker", "--print-config"],
        &["demo"],
    ] {
        let (code, stderr) = with_stdout(dir.path(), args, dev_full());
        assert_eq!(code, 1, "{args:?} > /dev/full: {stderr}");
        assert!(
            stderr.contains("No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("created <stdout>"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // A closed stdout is an error too (Rust would quietly write to /dev/null).
    let out = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" torrent create rel -o - >&-")
        .arg(env!("CARGO_BIN_EXE_anthill"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("standard output"), "{stderr}");
    assert!(!stderr.contains("created"), "{stderr}");
    // A device named with -o is written to, not replaced, and the summary
    // keeps out of the way.
    let r = anthill(
        dir.path(),
        ["torrent", "create", "rel", "-o", "/dev/stdout"],
    )
    .expect(0);
    metainfo::Metainfo::from_bytes(&r.raw_stdout).unwrap();
    assert!(r.stderr.contains("created /dev/stdout"), "{}", r.stderr);
    // …while an explicit > /dev/null is what the user asked for.
    let (code, stderr) = with_stdout(
        dir.path(),
        ["torrent", "create", "rel", "-o", "-"],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn issue13_every_read_of_a_user_file_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let listen = ["--listen", "127.0.0.1:0"];
    let quiet_tracker = ["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"];
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["torrent", "show", "/dev/zero"],
        vec!["torrent", "magnet", "/dev/zero"],
        vec!["torrent", "verify", "/dev/zero"],
        vec!["seed", "/dev/zero", "--path", "."],
        vec!["get", "/dev/zero", "-o", "dl"],
        vec!["tracker", "-c", "/dev/zero"],
        vec!["tracker", "--mode", "closed", "--allow-list", "/dev/zero"],
    ];
    cases[3].extend(listen);
    cases[4].extend(listen);
    cases[5].extend(quiet_tracker);
    cases[6].extend(quiet_tracker);
    for args in &cases {
        let r = anthill(p, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("limit of"), "{args:?}: {}", r.stderr);
        each_cause_once(&r.stderr);
    }
    // stdin and a FIFO fed without end are cut off at the same limit.
    let mut child = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args(["torrent", "show", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 16];
        while stdin.write_all(&chunk).is_ok() {}
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot read <stdin>: larger than the limit of 64 MiB"),
        "{stderr}"
    );

    let fifo = p.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let f2 = fifo;
    let feeder = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(f2).unwrap();
        let chunk = vec![b'x'; 1 << 16];
        while w.write_all(&chunk).is_ok() {}
    });
    let r = anthill(p, ["torrent", "show", "fifo"]).expect(1);
    feeder.join().unwrap();
    assert!(r.stderr.contains("limit of 64 MiB"), "{}", r.stderr);
}

#[test]
fn issue13_tracker_thread_counts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let r = anthill(dir.path(), ["tracker", "--udp-workers", "100000"]).expect(2);
    assert!(r.stderr.contains("more than 1024"), "{}", r.stderr);
    anthill(dir.path(), ["tracker", "--http-workers", "100000"]).expect(2);
    std::fs::write(dir.path().join("t.toml"), "[udp]\nworkers = 100000\n").unwrap();
    let r = anthill(dir.path(), ["tracker", "-c", "t.toml", "--print-config"]).expect(1);
    assert!(r.stderr.contains("udp.workers is 100000"), "{}", r.stderr);
}

// ---- confusing ---------------------------------------------------------

#[test]
fn issue13_each_error_cause_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    sample(p);
    anthill(p, ["torrent", "create", "rel"]).expect(0);
    std::fs::write(p.join("passwd"), b"root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(p.join("cut.torrent"), b"d4:infod4:name3:ab").unwrap();
    for args in [
        &["torrent", "show", "nonexist"][..],
        &["torrent", "create", "nonexist"],
        &["torrent", "create", "rel"],
        &["torrent", "verify", "rel.torrent", "--path", "nonexist"],
        &[
            "seed",
            "rel.torrent",
            "--path",
            "nonexist",
            "--listen",
            "127.0.0.1:0",
        ],
        &["tracker", "-c", "nonexist"],
        // Not bencode at all, and bencode cut short: the decoder's message
        // is said once, not once by each layer that quotes it.
        &["torrent", "show", "passwd"],
        &["torrent", "show", "cut.torrent"],
    ] {
        let r = anthill(p, args).expect(1);
        assert!(
            r.stderr.starts_with("anthill: error: "),
            "{args:?}: {}",
            r.stderr
        );
        each_cause_once(&r.stderr);
    }
    let r = anthill(p, ["torrent", "show", "nonexist"]).expect(1);
    assert_eq!(r.stderr.matches("os error 2").count(), 1, "{}", r.stderr);
    let r = anthill(p, ["torrent", "show", "passwd"]).expect(1);
    assert_eq!(r.stderr.matches("bencode").count(), 1, "{}", r.stderr);
    let r = anthill(p, ["seed", "rel.torrent", "--path", "/nowhere"]).expect(1);
    assert!(r.stderr.contains("missing file /nowhere"), "{}", r.stderr);
    each_cause_once(&r.stderr);
}

#[test]
fn issue12_log_lines_into_a_pipe_carry_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    sample(p);
    anthill(p, ["torrent", "create", "rel"]).expect(0);
    // Debug logs on, stderr a pipe, no NO_COLOR: nothing but the terminal
    // check keeps the escapes out.
    let mut child = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args([
            "seed",
            "rel.torrent",
            "--path",
            ".",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(p)
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.starts_with("seeding ") || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("DEBUG"), "no log line to check:\n{log}");
    assert!(!log.contains("\x1b["), "escape codes in a pipe:\n{log:?}");
}

#[test]
fn issue13_names_from_a_torrent_are_escaped_for_humans() {
    let dir = tempfile::tempdir().unwrap();
    hostile_torrent(&dir.path().join("evil.torrent"));
    for cmd in ["show", "verify"] {
        let r = anthill(dir.path(), ["torrent", cmd, "evil.torrent"]);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{7}'),
            "{cmd}: {all:?}"
        );
        assert!(all.contains("evil\\u{1b}]0;pwned"), "{cmd}: {all}");
        // the file named with a newline stays one entry on one line
        let lines: Vec<&str> = all.lines().filter(|l| l.contains("two")).collect();
        assert_eq!(lines.len(), 1, "{cmd}: {all}");
        assert!(lines[0].contains("two\\nlines"), "{cmd}: {all}");
    }
    let r = anthill(dir.path(), ["torrent", "show", "evil.torrent"]).expect(0);
    assert!(
        r.stdout.contains("comment:       c\\u{1b}[31m"),
        "{}",
        r.stdout
    );
    // JSON keeps the real name (escaped by JSON itself).
    let j = anthill(dir.path(), ["torrent", "show", "--json", "evil.torrent"])
        .expect(0)
        .json();
    assert_eq!(j["name"], "evil\u{1b}]0;pwned\u{7}\u{1b}[2J");
}

#[test]
fn issue13_logs_are_plain_when_stderr_is_not_a_terminal() {
    let mut child = bin()
        .args(["tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _guard = Proc(child);
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let done = line.contains("udp tracker listening");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("http tracker listening")),
        "{seen:?}"
    );
    assert!(seen.iter().all(|l| !l.contains('\u{1b}')), "{seen:?}");
}

/// Starts `anthill get args…`, returns it and its stderr lines.
fn start_get(
    cwd: &Path,
    args: &[&str],
) -> (Proc, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut child = bin()
        .arg("get")
        .args(args)
        .args(["-o", "dl", "--listen", "127.0.0.1:0"])
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    (Proc(child), lines)
}

/// Reads lines until one contains `needle`; panics (with what was read) if
/// the process ends first.
fn wait_for(lines: &mut impl Iterator<Item = std::io::Result<String>>, needle: &str) -> String {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains(needle) {
            return line;
        }
        seen.push(line);
    }
    panic!("no line with {needle:?} in {seen:?}");
}

fn sigterm(p: &mut Proc) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = p.0.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn issue13_get_says_why_no_peer_comes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    sample(p);
    anthill(p, ["torrent", "create", "rel"]).expect(0);
    let hash = anthill(p, ["torrent", "show", "--json", "rel.torrent"])
        .expect(0)
        .json()["infohash"]
        .as_str()
        .unwrap()
        .to_string();

    // No tracker, no --peer.
    let (mut g, mut lines) = start_get(p, &["rel.torrent"]);
    let line = wait_for(&mut lines, "no peers");
    assert!(
        line.contains("the torrent has no tracker and no --peer was given"),
        "{line}"
    );
    assert!(line.contains("127.0.0.1:"), "says where it listens: {line}");
    let status = sigterm(&mut g);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(1));
    assert!(
        rest.iter()
            .any(|l| l.contains("interrupted before any piece was verified")),
        "{rest:?}"
    );
    assert!(rest.iter().all(|l| !l.contains("saved")), "{rest:?}");

    // A magnet link without tr=.
    let magnet = format!("magnet:?xt=urn:btih:{hash}");
    let (mut g, mut lines) = start_get(p, &[&magnet]);
    let line = wait_for(&mut lines, "no peers");
    assert!(
        line.contains("the magnet link has no tracker (tr=)"),
        "{line}"
    );
    sigterm(&mut g);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("before the torrent's metadata arrived")),
        "{rest:?}"
    );

    // A --peer that refuses: a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = format!("127.0.0.1:{port}");
    let (mut g, mut lines) = start_get(p, &["rel.torrent", "--peer", &peer]);
    let line = wait_for(&mut lines, "no peers");
    assert!(
        line.contains(&format!("cannot connect to {peer}")),
        "{line}"
    );
    sigterm(&mut g);
}

#[test]
fn issue13_verify_prints_the_path_it_looked_at() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("tree/a.txt", b"hello")]);
    anthill(dir.path(), ["torrent", "create", "tree"]).expect(0);
    let r = anthill(
        dir.path(),
        ["torrent", "verify", "tree.torrent", "--path", "tree"],
    )
    .expect(1);
    assert!(
        r.stdout.contains("missing     tree/tree/a.txt"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("try --path ."), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("1 of 1 file has problems, 1 of 1 piece bad"),
        "{}",
        r.stdout
    );
    anthill(
        dir.path(),
        ["torrent", "verify", "tree.torrent", "--path", "."],
    )
    .expect(0);
}

#[test]
fn issue13_bad_torrent_name_is_named() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("tree/a.txt", b"hello")]);
    let r = anthill(
        dir.path(),
        [
            "torrent",
            "create",
            "tree",
            "-n",
            "../evil",
            "-o",
            "x.torrent",
        ],
    )
    .expect(1);
    assert!(
        r.stderr.contains("invalid torrent name \"../evil\""),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("x.torrent").exists());
}

#[test]
fn issue13_boolean_variables_take_1_0_true_false_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let http_on = |r: &Output| {
        let section = r.stdout.split("[http]").nth(1).unwrap();
        let section = section.split("\n[").next().unwrap();
        section.contains("enabled = true")
    };
    for (value, on) in [
        ("1", false),
        ("true", false),
        ("0", true),
        ("false", true),
        ("", true),
    ] {
        let r = with_env(
            dir.path(),
            &["tracker", "--print-config"],
            &[("ANTHILL_TRACKER_NO_HTTP", value)],
        )
        .expect(0);
        assert_eq!(http_on(&r), on, "ANTHILL_TRACKER_NO_HTTP={value:?}");
    }
    // 0 does not conflict with --http.
    with_env(
        dir.path(),
        &["tracker", "--print-config", "--http", "127.0.0.1:7000"],
        &[("ANTHILL_TRACKER_NO_HTTP", "0")],
    )
    .expect(0);
    let r = with_env(
        dir.path(),
        &["tracker", "--print-config"],
        &[("ANTHILL_TRACKER_NO_HTTP", "maybe")],
    )
    .expect(2);
    assert!(
        r.stderr.contains("ANTHILL_TRACKER_NO_HTTP=\"maybe\""),
        "{}",
        r.stderr
    );
    let r = with_env(
        dir.path(),
        &["tracker", "--print-config"],
        &[("ANTHILL_TRACKER_INTERVAL", "5")],
    )
    .expect(2);
    assert!(
        r.stderr.contains("ANTHILL_TRACKER_INTERVAL=\"5\""),
        "{}",
        r.stderr
    );
    // Given on the command line, the flag is the source: no note.
    let r = anthill(dir.path(), ["tracker", "--interval", "5"]).expect(2);
    assert!(!r.stderr.contains("environment"), "{}", r.stderr);
}

#[test]
fn issue13_settings_that_would_be_ignored_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    sample(p);
    anthill(p, ["torrent", "create", "rel"]).expect(0);
    for cmd in ["seed", "get"] {
        let place = if cmd == "seed" { "--path" } else { "-o" };
        let r = anthill(p, [cmd, "rel.torrent", place, ".", "--tracker", "garbage"]).expect(2);
        assert!(r.stderr.contains("not a URL"), "{cmd}: {}", r.stderr);
    }
    std::fs::write(p.join("allow"), format!("{}\n", "ab".repeat(20))).unwrap();
    let r = anthill(p, ["tracker", "--allow-list", "allow", "--print-config"]).expect(1);
    assert!(r.stderr.contains("--mode closed"), "{}", r.stderr);
    anthill(
        p,
        [
            "tracker",
            "--allow-list",
            "allow",
            "--mode",
            "closed",
            "--print-config",
        ],
    )
    .expect(0);
    let r = anthill(p, ["tracker", "--interval", "0s"]).expect(2);
    assert!(r.stderr.contains("too short"), "{}", r.stderr);
    std::fs::write(p.join("t.toml"), "[announce]\ninterval = \"0s\"\n").unwrap();
    let r = anthill(p, ["tracker", "-c", "t.toml"]).expect(1);
    assert!(r.stderr.contains("announce.interval is 0s"), "{}", r.stderr);
    std::fs::write(p.join("t.toml"), "[access]\nallow_list = \"allow\"\n").unwrap();
    let r = anthill(p, ["tracker", "-c", "t.toml"]).expect(1);
    assert!(r.stderr.contains("access.mode is open"), "{}", r.stderr);
}

#[test]
fn issue13_output_is_checked_before_hashing() {
    // 1 TiB of sparse file: hashing it would take far longer than the guard
    // below, so a run that ends at all checked the output first.
    let dir = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(dir.path().join("huge.bin")).unwrap();
    f.set_len(1 << 40).unwrap();
    for (out, says) in [
        (
            "/nonexistent/x.torrent",
            "directory /nonexistent does not exist",
        ),
        ("huge.bin", "the file being shared"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_anthill"))
            .args(["torrent", "create", "huge.bin", "-o", out])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("-o {out}: still running: it hashes before checking the output");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn issue13_sizes_shown_are_content_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // aligned: a pad file after a.bin
    tree(
        p,
        &[
            ("rel/a.bin", &bytes(40_000, 1)),
            ("rel/b.bin", &bytes(100_000, 2)),
        ],
    );
    anthill(p, ["torrent", "create", "rel", "-l", "64K"]).expect(0);
    let j = anthill(p, ["torrent", "show", "--json", "rel.torrent"])
        .expect(0)
        .json();
    assert_eq!(j["size"], 140_000);
    assert!(j["padded_size"].as_u64().unwrap() > 140_000);
    let m = anthill(p, ["torrent", "magnet", "rel.torrent"]).expect(0);
    assert!(m.stdout.contains("&xl=140000"), "{}", m.stdout);
    let show = anthill(p, ["torrent", "show", "rel.torrent"]).expect(0);
    assert!(
        show.stdout
            .contains("size:          136.7 KiB (140000 bytes)"),
        "{}",
        show.stdout
    );
    let mut child = bin()
        .args([
            "seed",
            "rel.torrent",
            "--path",
            ".",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let _guard = Proc(child);
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("(136.7 KiB, 3 pieces"), "{first}");
}

#[test]
fn issue13_show_reads_well() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    tree(p, &[("one.txt", b"hello")]);
    let c = anthill(p, ["torrent", "create", "one.txt"]).expect(0);
    assert!(
        c.stdout.contains(", 1 file, 5 B, 1 piece of 16 KiB"),
        "{}",
        c.stdout
    );
    let s = anthill(p, ["torrent", "show", "one.txt.torrent"]).expect(0);
    assert_eq!(s.stdout.matches("files:").count(), 1, "{}", s.stdout);
    let date = s
        .stdout
        .lines()
        .find(|l| l.starts_with("creation date:"))
        .unwrap();
    assert!(
        date.ends_with(" UTC") && date.contains('-') && !date.contains("unix"),
        "{date}"
    );
    // `show -` reads stdin, as `create -o -` writes stdout.
    let out = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args(["torrent", "show", "-"])
        .stdin(std::fs::File::open(p.join("one.txt.torrent")).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), s.stdout);
    // --max-files cuts the list and says how to see more.
    let root = sample(p);
    assert!(root.is_dir());
    anthill(p, ["torrent", "create", "rel"]).expect(0);
    let all = anthill(p, ["torrent", "show", "rel.torrent"]).expect(0);
    assert!(all.stdout.contains("rel/z/last-empty"), "{}", all.stdout);
    let cut = anthill(p, ["torrent", "show", "rel.torrent", "--max-files", "2"]).expect(0);
    assert!(
        cut.stdout
            .contains("  … and 3 more files (--max-files N lists more)"),
        "{}",
        cut.stdout
    );
    assert!(!cut.stdout.contains("rel/z/last-empty"), "{}", cut.stdout);
}

#[test]
fn issue13_create_refuses_binary_output_to_a_terminal() {
    // `script` (util-linux, on every Debian system) runs the command on a pty.
    crate::util::require("script");
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), &[("tree/a.txt", b"hello")]);
    let cmd = format!(
        "'{}' torrent create tree -o -",
        env!("CARGO_BIN_EXE_anthill")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("refusing to write a binary torrent to the terminal"),
        "{text}"
    );
    assert!(
        !text.contains("8:announce") && !text.contains("6:pieces"),
        "{text}"
    );
}
