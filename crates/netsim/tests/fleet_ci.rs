//! The fleet scenario as a CI test: origin, 4 agents and a tracker in network
//! namespaces, a 32 MiB file at 50 Mbit/s, flash-crowd start. It checks
//! correctness only (every agent ends with a byte-exact copy), never speed;
//! `scripts/bench-fleet` measures speed.
//!
//! The client comes from `ANTHILL_FLEET_CLIENT` (anthill, libtorrent, aria2),
//! default [`DEFAULT_CLIENT`]. When the engine lands, set `DEFAULT_CLIENT` to
//! `Client::Anthill` (and make sure `target/debug/anthill` is built, or set
//! `ANTHILL_BIN`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netsim::Rate;
use netsim::fleet::{Client, FleetError, FleetOptions, run_fleet};

const DEFAULT_CLIENT: Client = Client::Anthill;
const MIB: u64 = 1 << 20;

fn client() -> Client {
    match std::env::var("ANTHILL_FLEET_CLIENT") {
        Ok(name) => name
            .parse()
            .unwrap_or_else(|e| panic!("ANTHILL_FLEET_CLIENT: {e}")),
        Err(_) => DEFAULT_CLIENT,
    }
}

/// `sha256sum`'s opinion, independent of the harness's own check.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

fn run_and_check(client: Client, agents: u32, size: u64) {
    let dir = tempfile::tempdir().unwrap();
    let options = FleetOptions {
        client,
        agents,
        size,
        rate: Rate::from_mbit(50),
        deadline: Duration::from_secs(40),
        run_dir: Some(dir.path().to_owned()),
        ..FleetOptions::default()
    };
    let report =
        run_fleet(&options).unwrap_or_else(|e| panic!("fleet run with {client} failed: {e}"));
    eprintln!(
        "{}\n{}\n{}",
        netsim::fleet::FleetReport::table_header(),
        report.table_row(),
        report.host_table()
    );

    assert_eq!(report.agents.len(), agents as usize);
    let original = dir.path().join("hosts/origin/data/payload.bin");
    assert_eq!(sha256sum(&original), report.sha256);
    for a in &report.agents {
        let copy = dir
            .path()
            .join("hosts")
            .join(&a.name)
            .join("download/payload.bin");
        assert_eq!(std::fs::metadata(&copy).unwrap().len(), size, "{}", a.name);
        assert_eq!(sha256sum(&copy), report.sha256, "{}", a.name);
        assert!(a.done_after > Duration::ZERO && a.done_after <= report.total);
        assert!(
            a.counters.rx_bytes >= size,
            "{} received less than the file: {:?}",
            a.name,
            a.counters
        );
    }
    // The origin alone had the file, so it sent every byte at least once.
    assert!(report.origin.tx_bytes >= size, "{:?}", report.origin);
    if client == Client::Anthill {
        // `anthill seed` super-seeds: while any piece has not gone out
        // once, no piece goes out twice, and the agents trade the rest. So
        // the origin sends one copy of the payload, plus: raw link bytes
        // over payload (TCP/IP headers per 1448-byte segment, 13 bytes per
        // 16 KiB block, handshakes, announces: about 4 %), plus pieces
        // revealed to a second agent at the end while the others still
        // hold them in flight (at most a reveal window of 4 pieces per
        // agent). 1.3 copies leaves room for both with this small fleet;
        // an origin serving every agent in full would send `agents` copies.
        let copies = report.origin_copies();
        assert!(
            copies <= 1.3,
            "the super-seeding origin sent {copies:.2} copies: {:?}",
            report.origin
        );
    }
    assert!(report.total >= report.t_min);
}

#[test]
fn four_agents_get_verified_copies() {
    run_and_check(client(), 4, 32 * MIB);
}

/// The other reference driver, smaller so CI stays fast.
#[test]
fn aria2_driver_gets_verified_copies() {
    run_and_check(Client::Aria2, 2, 8 * MIB);
}

#[test]
fn a_client_that_dies_fails_the_run_with_its_log() {
    let options = FleetOptions {
        client: Client::Anthill,
        agents: 1,
        size: MIB,
        anthill_bin: Some("/bin/false".into()),
        ..FleetOptions::default()
    };
    match run_fleet(&options) {
        Err(FleetError::ProcessExited {
            host, label, logs, ..
        }) => {
            assert_eq!((host.as_str(), label.as_str()), ("origin", "seed"));
            assert!(logs.contains("==> origin seed"), "{logs}");
        }
        other => panic!("expected ProcessExited, got {other:?}"),
    }
}

#[test]
fn a_missing_anthill_binary_is_reported() {
    let options = FleetOptions {
        client: Client::Anthill,
        anthill_bin: Some("/nonexistent/anthill".into()),
        ..FleetOptions::default()
    };
    assert!(matches!(
        run_fleet(&options),
        Err(FleetError::MissingProgram { .. })
    ));
}
