//! Exit codes, help and completions.

use crate::util::anthill;

#[test]
fn help_on_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &[][..],
        &["torrent"],
        &["torrent", "create"],
        &["torrent", "show"],
        &["torrent", "verify"],
        &["torrent", "magnet"],
        &["demo"],
        &["completions"],
    ] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.push("--help");
        let out = anthill(dir.path(), &args).expect(0);
        assert!(
            out.stdout.contains("Usage: anthill"),
            "{cmd:?}: {}",
            out.stdout
        );
    }
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["no-such-command"],
        &["torrent"],
        &["torrent", "create"],
        &["torrent", "create", "x", "--no-such-flag"],
        &["torrent", "create", "x", "--piece-length", "3K"],
        &["torrent", "create", "x", "--piece-length", "1T"],
        &["torrent", "create", "x", "--announce", "not-a-url"],
        &["torrent", "create", "x", "--web-seed", "udp://x/"],
        &["torrent", "show"],
        &["torrent", "verify"],
        &["completions", "tcsh"],
    ] {
        let out = anthill(dir.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn completions_for_bash() {
    let dir = tempfile::tempdir().unwrap();
    let out = anthill(dir.path(), ["completions", "bash"]).expect(0);
    assert!(out.stdout.contains("_anthill"));
    assert!(out.stdout.contains("--piece-length"));
}

#[test]
fn version() {
    let dir = tempfile::tempdir().unwrap();
    let out = anthill(dir.path(), ["--version"]).expect(0);
    assert!(out.stdout.starts_with("anthill "));
}

#[test]
fn demo_documents_its_flags() {
    // Running it is crates/cli/tests/cli/demo.rs.
    let dir = tempfile::tempdir().unwrap();
    let out = anthill(dir.path(), ["demo", "--help"]).expect(0);
    for flag in [
        "--agents",
        "--size",
        "--rate",
        "--keep-running",
        "--dir",
        "--loopback",
    ] {
        assert!(out.stdout.contains(flag), "{flag}: {}", out.stdout);
    }
}

/// The systemd units in contrib/systemd are valid (`systemd-analyze
/// verify`, with ExecStart pointed at the built binary) and start the
/// commands with flags that exist.
#[test]
fn systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let units = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/systemd");
    let bin = env!("CARGO_BIN_EXE_anthill");
    for unit in ["anthill-hub.service", "anthill-agent.service"] {
        let text = std::fs::read_to_string(format!("{units}/{unit}")).unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/anthill "))
            .unwrap_or_else(|| panic!("{unit}: no ExecStart of /usr/local/bin/anthill"));
        // The command line parses: --help after it still succeeds.
        let mut args: Vec<&str> = exec.split_whitespace().collect();
        args.push("--help");
        anthill(dir.path(), &args).expect(0);
        let copy = dir.path().join(unit);
        std::fs::write(&copy, text.replace("/usr/local/bin/anthill", bin)).unwrap();
        let out = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze is missing: run scripts/setup");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !err.contains(unit), "{unit}: {err}");
    }
}
