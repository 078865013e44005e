//! How each client is started as origin (seeding) or agent (downloading, then seeding).
//!
//! Every driver listens on [`PEER_PORT`] at the host's own address, takes peers
//! from the tracker only, and signals completion by creating a marker file:
//! libtorrent's script does it itself, aria2 and anthill run a hook script.

mod anthill;
mod aria2;
pub(crate) mod libtorrent;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Client, FleetError};
use crate::Host;

/// The peer port every client listens on (each host has its own address).
pub(crate) const PEER_PORT: u16 = 6881;

/// Files and programs the drivers need, prepared once per run.
#[derive(Debug)]
pub(crate) struct Drivers {
    /// The libtorrent script, written into the run directory.
    pub(crate) libtorrent_script: PathBuf,
    /// The anthill binary, when anthill is used.
    pub(crate) anthill_bin: Option<PathBuf>,
}

impl Drivers {
    /// Writes the scripts the drivers need into `run_dir`.
    pub(crate) fn prepare(
        run_dir: &Path,
        anthill_bin: Option<PathBuf>,
    ) -> Result<Self, FleetError> {
        let libtorrent_script = run_dir.join("libtorrent_driver.py");
        write_executable(&libtorrent_script, libtorrent::SCRIPT)?;
        Ok(Self {
            libtorrent_script,
            anthill_bin,
        })
    }

    fn anthill(&self) -> Result<&Path, FleetError> {
        self.anthill_bin.as_deref().ok_or_else(|| {
            FleetError::InvalidOptions("the anthill client needs the anthill binary".into())
        })
    }

    /// The origin: seeds `data_dir` (which holds the file) as `torrent` says.
    pub(crate) fn seed(
        &self,
        client: Client,
        host: &Host,
        torrent: &Path,
        data_dir: &Path,
    ) -> Result<Command, FleetError> {
        Ok(match client {
            Client::Libtorrent => {
                libtorrent::seed(&self.libtorrent_script, host, torrent, data_dir)
            }
            Client::Aria2 => aria2::seed(host, torrent, data_dir),
            Client::Anthill => anthill::seed(self.anthill()?, host, torrent, data_dir),
        })
    }

    /// An agent: downloads into `out_dir`, creates `marker` when complete, keeps seeding.
    pub(crate) fn get(
        &self,
        client: Client,
        host: &Host,
        torrent: &Path,
        out_dir: &Path,
        marker: &Path,
    ) -> Result<Command, FleetError> {
        Ok(match client {
            Client::Libtorrent => {
                libtorrent::get(&self.libtorrent_script, host, torrent, out_dir, marker)
            }
            Client::Aria2 => aria2::get(host, torrent, out_dir, &completion_hook(host, marker)?),
            Client::Anthill => anthill::get(
                self.anthill()?,
                host,
                torrent,
                out_dir,
                &completion_hook(host, marker)?,
            ),
        })
    }
}

/// A shell script in the host's directory that creates `marker` atomically,
/// whatever arguments it gets.
fn completion_hook(host: &Host, marker: &Path) -> Result<PathBuf, FleetError> {
    let hook = host.dir().join("on-complete.sh");
    let m = marker.display();
    write_executable(
        &hook,
        &format!("#!/bin/sh\necho done > '{m}.tmp' && mv '{m}.tmp' '{m}'\n"),
    )?;
    Ok(hook)
}

fn write_executable(path: &Path, text: &str) -> Result<(), FleetError> {
    std::fs::write(path, text).map_err(|e| FleetError::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| FleetError::io(path, e))
}
