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
