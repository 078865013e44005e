//! `anthill tracker`: configuration errors, `--print-config`, and a clean
//! exit on SIGTERM.

use crate::util::anthill;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn print_config_is_toml_with_flags_applied() {
    let dir = tempfile::tempdir().unwrap();
    let out = anthill(
        dir.path(),
        [
            "tracker",
            "--print-config",
            "--interval",
            "5m",
            "--prefer-subnet",
            "/24",
            "--no-udp",
        ],
    )
    .expect(0);
    assert!(out.stdout.contains("interval = \"5m\""), "{}", out.stdout);
    assert!(
        out.stdout.contains("prefer_subnet_v4 = 24"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[udp]\nenabled = false"),
        "{}",
        out.stdout
    );
}

#[test]
fn config_file_values_and_env_are_used() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.toml"), "[announce]\ninterval = \"7m\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .current_dir(dir.path())
        .args(["tracker", "--print-config", "--config", "t.toml"])
        .env("ANTHILL_TRACKER_MAX_TORRENTS", "12")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("interval = \"7m\""), "{text}");
    assert!(text.contains("max_torrents = 12"), "{text}");
}

#[test]
fn unknown_config_field_is_a_reported_failure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.toml"),
        "[announce]\nintervall = \"7m\"\n",
    )
    .unwrap();
    let out = anthill(dir.path(), ["tracker", "--config", "t.toml"]).expect(1);
    assert!(out.stderr.contains("intervall"), "{}", out.stderr);
}

#[test]
fn closed_without_allow_list_is_a_reported_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = anthill(dir.path(), ["tracker", "--mode", "closed"]).expect(1);
    assert!(out.stderr.contains("--allow-list"), "{}", out.stderr);
}

#[test]
fn nothing_to_serve_is_a_reported_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out = anthill(dir.path(), ["tracker", "--no-http", "--no-udp"]).expect(1);
    assert!(out.stderr.contains("nothing to serve"), "{}", out.stderr);
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    anthill(dir.path(), ["tracker", "--interval", "5"]).expect(2);
    anthill(dir.path(), ["tracker", "--prefer-subnet", "/40"]).expect(2);
}

#[test]
fn sigterm_stops_the_tracker_cleanly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_anthill"))
        .args([
            "tracker",
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        seen.push(line.clone());
        if line.contains("udp tracker listening") {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("http tracker listening")),
        "{seen:?}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "tracker ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}
