//! `anthill demo` in a short mode: a hub and three agents as separate
//! processes, on network namespaces (CI runs as root) and on loopback,
//! each receiving a release and its delta; the summary must carry what it
//! measured.

use crate::util::anthill;

fn check_summary(stdout: &str, agents: usize) {
    for want in [
        "== demo-1: dropped into",
        "== demo-2: dropped into",
        "== summary:",
        "HTTP fan-out would have sent",
        "delta:",
        "dashboard:",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
    for r in ["demo-1", "demo-2"] {
        let runs = stdout
            .lines()
            .filter(|l| l.contains(&format!(" runs {r} after ")))
            .count();
        assert_eq!(runs, agents, "{r} on every agent:\n{stdout}");
        // One row per release: the fleet time, T_min and the ratio are numbers.
        let row = stdout
            .lines()
            .find(|l| l.starts_with(r) && l.contains('x'))
            .unwrap_or_else(|| panic!("no summary row for {r}:\n{stdout}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        let ratio: f64 = fields
            .iter()
            .find_map(|f| f.strip_suffix('x').and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("no ratio in {row:?}"));
        // A full release cannot beat one copy at the link rate by much; the
        // delta release moves a fraction of its size, so it may.
        let floor = if r == "demo-1" { 0.5 } else { 0.0 };
        assert!(ratio > floor && ratio < 100.0, "{row}");
    }
    assert!(
        stdout.contains("demo-2 is live (was demo-1)"),
        "the hook saw the previous release:\n{stdout}"
    );
}

#[test]
fn demo_short_mode_on_network_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let r = anthill(
        dir.path(),
        ["demo", "--agents", "3", "--size", "6MiB", "--dir", "D"],
    )
    .expect(0);
    assert!(
        r.stdout.contains("network namespaces"),
        "CI runs as root, so the demo must use namespaces:\n{}",
        r.stdout
    );
    check_summary(&r.stdout, 3);
    // Each host's traffic is measured on its interface: the origin sent
    // about one copy per release (super-seeding), not one per agent.
    let copies: Vec<f64> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("demo-"))
        .filter_map(|l| l.split_whitespace().nth_back(2)?.parse().ok())
        .collect();
    assert_eq!(copies.len(), 2, "{}", r.stdout);
    assert!(copies.iter().all(|c| *c < 2.5), "{copies:?}\n{}", r.stdout);
    let ns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&ns.stdout).into_owned();
    assert!(!left.contains("ahd"), "namespaces left behind: {left}");
}

#[test]
fn demo_short_mode_on_loopback_and_its_directory_rules() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "demo",
        "--loopback",
        "--agents",
        "2",
        "--size",
        "4MiB",
        "--dir",
        "L",
    ];
    let r = anthill(dir.path(), args).expect(0);
    assert!(r.stdout.contains("loopback"), "{}", r.stdout);
    check_summary(&r.stdout, 2);
    // What a demo made, the next demo replaces.
    anthill(dir.path(), args).expect(0);
}
