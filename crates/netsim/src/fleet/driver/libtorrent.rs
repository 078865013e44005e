//! libtorrent through `drivers/libtorrent_driver.py` and Debian's python3-libtorrent.

use std::path::Path;
use std::process::Command;

use super::PEER_PORT;
use crate::Host;

/// The driver script, embedded so the binary works from any directory.
pub(super) const SCRIPT: &str = include_str!("../../../drivers/libtorrent_driver.py");

/// Debian's interpreter: python3-libtorrent is installed for it, not for others on PATH.
pub(crate) const PYTHON: &str = "/usr/bin/python3";

fn base(script: &Path, host: &Host, mode: &str, torrent: &Path, dir: &Path) -> Command {
    let mut c = host.command(PYTHON);
    c.arg(script)
        .arg(mode)
        .arg("--torrent")
        .arg(torrent)
        .arg("--save")
        .arg(dir)
        .arg("--listen")
        .arg(format!("{}:{PEER_PORT}", host.ip()));
    c
}

pub(super) fn seed(script: &Path, host: &Host, torrent: &Path, data_dir: &Path) -> Command {
    base(script, host, "seed", torrent, data_dir)
}

pub(super) fn get(
    script: &Path,
    host: &Host,
    torrent: &Path,
    out_dir: &Path,
    marker: &Path,
) -> Command {
    let mut c = base(script, host, "get", torrent, out_dir);
    c.arg("--done").arg(marker);
    c
}
