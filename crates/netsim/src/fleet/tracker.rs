//! Starting the tracker and asking it (by scrape) who is in the swarm.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use metainfo::Infohash;

use super::{FleetError, TrackerKind};
use crate::{Host, Proc};

/// TCP (HTTP) and UDP port of the tracker.
pub(crate) const PORT: u16 = 6969;

/// The announce URL of a tracker on `host`.
pub(crate) fn announce_url(host: &Host) -> String {
    format!("http://{}:{PORT}/announce", host.ip())
}

/// Starts the tracker on `host`, accepting `infohash`.
pub(crate) fn start(
    kind: TrackerKind,
    host: &Host,
    infohash: &Infohash,
    anthill_bin: Option<&Path>,
) -> Result<Proc, FleetError> {
    let addr = format!("{}:{PORT}", host.ip());
    let cmd = match kind {
        TrackerKind::Opentracker => {
            // Debian's opentracker only serves whitelisted infohashes; it chroots to
            // the directory and reads the whitelist (a relative path) after dropping
            // to `nobody`, so both must be world-readable.
            let chroot = host.dir().join("opentracker");
            std::fs::create_dir_all(&chroot).map_err(|e| FleetError::io(&chroot, e))?;
            set_mode(&chroot, 0o755)?;
            let list = chroot.join("whitelist");
            std::fs::write(&list, format!("{}\n", infohash.to_hex()))
                .map_err(|e| FleetError::io(&list, e))?;
            set_mode(&list, 0o644)?;
            let ip = host.ip().to_string();
            let port = PORT.to_string();
            let mut c = host.command("opentracker");
            c.args(["-i", &ip, "-p", &port, "-P", &port, "-w", "whitelist"])
                .args(["-u", "nobody", "-d"])
                .arg(&chroot);
            c
        }
        TrackerKind::Anthill => {
            let bin = anthill_bin.ok_or_else(|| {
                FleetError::InvalidOptions("the anthill tracker needs the anthill binary".into())
            })?;
            let mut c = host.command(bin);
            c.args(["tracker", "--http", &addr, "--udp", &addr]);
            c
        }
    };
    Ok(host.spawn("tracker", cmd)?)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), FleetError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| FleetError::io(path, e))
}

/// What a scrape says about one torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scrape {
    /// Seeders.
    pub(crate) complete: i64,
    /// Leechers.
    pub(crate) incomplete: i64,
}

/// Scrapes the tracker on `tracker` from inside that host (curl). `Err` carries
/// a description of what went wrong (not up yet, bad answer) for timeout messages.
pub(crate) fn scrape(tracker: &Host, infohash: &Infohash) -> Result<Scrape, String> {
    let mut url = format!("http://{}:{PORT}/scrape?info_hash=", tracker.ip());
    tracker_proto::http::percent_encode(infohash.as_bytes(), &mut url);
    let mut c = tracker.command("curl");
    c.args(["-sS", "--max-time", "2", &url]);
    let out = tracker.output(c).map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_scrape(&out.stdout, infohash)
}

fn parse_scrape(body: &[u8], infohash: &Infohash) -> Result<Scrape, String> {
    use tracker_proto::http::{Reply, decode_scrape};
    let files = match decode_scrape(body) {
        Ok(Reply::Ok(files)) => files,
        Ok(Reply::Failure(reason)) => return Err(format!("scrape refused: {reason}")),
        Err(e) => {
            return Err(format!(
                "bad scrape answer ({e}): {}",
                String::from_utf8_lossy(body)
            ));
        }
    };
    // Trackers leave out torrents nobody announced yet.
    let stats = files
        .iter()
        .find(|(ih, _)| ih == infohash)
        .map(|(_, s)| *s)
        .unwrap_or_default();
    Ok(Scrape {
        complete: i64::from(stats.seeders),
        incomplete: i64::from(stats.leechers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> Infohash {
        Infohash([0xAB; 20])
    }

    #[test]
    fn reads_counts_of_our_torrent() {
        let mut body = b"d5:filesd20:".to_vec();
        body.extend_from_slice(&[0xAB; 20]);
        body.extend_from_slice(b"d8:completei1e10:downloadedi0e10:incompletei3eeee");
        assert_eq!(
            parse_scrape(&body, &hash()),
            Ok(Scrape {
                complete: 1,
                incomplete: 3
            })
        );
    }

    #[test]
    fn absent_torrent_counts_zero() {
        assert_eq!(
            parse_scrape(b"d5:filesdee", &hash()),
            Ok(Scrape {
                complete: 0,
                incomplete: 0
            })
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_scrape(b"<html>", &hash()).is_err());
        assert!(parse_scrape(b"d1:xi1ee", &hash()).is_err());
    }
}
