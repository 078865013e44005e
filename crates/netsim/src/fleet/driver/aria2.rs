//! aria2c: the origin seeds without re-hashing, agents seed forever after completing.

use std::path::Path;
use std::process::Command;

use super::PEER_PORT;
use crate::Host;

fn base(host: &Host, dir: &Path) -> Command {
    let mut c = host.command("aria2c");
    c.arg("--dir").arg(dir).args([
        &format!("--listen-port={PEER_PORT}"),
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=true",
        "--disable-ipv6=true",
        // 0.0: keep seeding whatever the share ratio; no --seed-time: forever.
        "--seed-ratio=0.0",
        "--bt-tracker-connect-timeout=5",
        "--bt-tracker-timeout=5",
        "--file-allocation=none",
        "--allow-overwrite=true",
        "--auto-file-renaming=false",
        "--summary-interval=1",
        "--console-log-level=notice",
        "--show-console-readout=false",
    ]);
    c
}

pub(super) fn seed(host: &Host, torrent: &Path, data_dir: &Path) -> Command {
    let mut c = base(host, data_dir);
    // The file is the original: trust it instead of hashing it first.
    c.args(["--bt-seed-unverified=true", "--check-integrity=false"])
        .arg(torrent);
    c
}

pub(super) fn get(host: &Host, torrent: &Path, out_dir: &Path, hook: &Path) -> Command {
    let mut c = base(host, out_dir);
    c.arg(format!("--on-bt-download-complete={}", hook.display()))
        .arg(torrent);
    c
}
