//! anthill's own engine: `anthill seed` and `anthill get --seed`.

use std::path::Path;
use std::process::Command;

use super::PEER_PORT;
use crate::Host;

pub(super) fn seed(bin: &Path, host: &Host, torrent: &Path, data_dir: &Path) -> Command {
    let mut c = host.command(bin);
    c.arg("seed")
        .arg(torrent)
        .arg("--path")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("{}:{PEER_PORT}", host.ip()));
    c
}

pub(super) fn get(bin: &Path, host: &Host, torrent: &Path, out_dir: &Path, hook: &Path) -> Command {
    let mut c = host.command(bin);
    c.arg("get")
        .arg(torrent)
        .arg("--output")
        .arg(out_dir)
        .arg("--seed")
        .arg("--on-complete")
        .arg(hook);
    c
}
