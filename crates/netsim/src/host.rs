use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::process::{Proc, Registry};
use crate::{NetsimError, Rate, cmd};

/// How a host's link is shaped. Unset rates mean "as fast as the kernel goes".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostOptions {
    /// Upload limit: an HTB class on the egress of the host's `eth0`.
    pub upload: Option<Rate>,
    /// Download limit: an HTB class on the egress of the host's port on the bridge.
    pub download: Option<Rate>,
    /// One-way delay added to everything the host sends. Needs the netem qdisc; on a
    /// kernel without it, [`crate::Net::add_host`] fails with
    /// [`NetsimError::DelayUnsupported`].
    pub delay: Option<Duration>,
}

/// Bytes through a host's `eth0`, as the kernel counts them (whole frames, any protocol).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Bytes received.
    pub rx_bytes: u64,
}

/// One host of a [`crate::Net`]: a network namespace with `lo` and `eth0`.
///
/// A cheap handle; the [`crate::Net`] owns the namespace and every process
/// spawned here, and removes them when it is dropped.
#[derive(Debug, Clone)]
pub struct Host {
    pub(crate) name: String,
    pub(crate) ns: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) dir: PathBuf,
    pub(crate) prefix: String,
    pub(crate) registry: Arc<Mutex<Registry>>,
}

impl Host {
    /// The name given to [`crate::Net::add_host`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network namespace (as listed by `ip netns list`).
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// The address of `eth0`.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// A directory of the run directory that belongs to this host (logs, data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command that runs `program` inside this host's namespace
    /// (`ip netns exec NS program`). Add arguments, environment and a working
    /// directory as usual, then pass it to [`Host::spawn`] or [`Host::output`].
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// Starts `cmd` (from [`Host::command`]) in its own process group, stdout and
    /// stderr appended to `<host dir>/<label>.log`. The network stops it on drop.
    pub fn spawn(&self, label: &str, mut cmd: Command) -> Result<Proc, NetsimError> {
        let mut reg = self.lock();
        if reg.closed {
            return Err(NetsimError::TornDown {
                prefix: self.prefix.clone(),
            });
        }
        let log = self.dir.join(format!("{label}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| NetsimError::io(&log, e))?;
        let err = out.try_clone().map_err(|e| NetsimError::io(&log, e))?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().map_err(|source| NetsimError::Spawn {
            program: cmd::describe(&cmd),
            source,
        })?;
        let proc = Proc {
            pid: child.id(),
            host: self.name.clone(),
            label: label.to_owned(),
            log,
        };
        reg.add(proc.clone(), child);
        Ok(proc)
    }

    /// Runs `cmd` (from [`Host::command`]) to completion and returns its output,
    /// whatever its exit status. Use it for short probes only: there is no timeout.
    pub fn output(&self, mut cmd: Command) -> Result<Output, NetsimError> {
        cmd.stdin(Stdio::null());
        cmd.output().map_err(|source| NetsimError::Spawn {
            program: cmd::describe(&cmd),
            source,
        })
    }

    /// Bytes sent and received on `eth0` so far.
    pub fn counters(&self) -> Result<Counters, NetsimError> {
        let json = cmd::ip(["-n", &self.ns, "-s", "-j", "link", "show", "eth0"])?;
        parse_counters(&json).map_err(|detail| NetsimError::Counters {
            host: self.name.clone(),
            detail,
        })
    }

    /// Bytes sent on `eth0` so far.
    pub fn tx_bytes(&self) -> Result<u64, NetsimError> {
        Ok(self.counters()?.tx_bytes)
    }

    /// Bytes received on `eth0` so far.
    pub fn rx_bytes(&self) -> Result<u64, NetsimError> {
        Ok(self.counters()?.rx_bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads `stats64.{tx,rx}.bytes` of the one link in `ip -s -j link show DEV` output.
fn parse_counters(json: &str) -> Result<Counters, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let stats = v
        .get(0)
        .and_then(|l| l.get("stats64"))
        .ok_or("no stats64 in the output")?;
    let field = |dir: &str| {
        stats
            .get(dir)
            .and_then(|d| d.get("bytes"))
            .and_then(serde_json::Value::as_u64)
            .ok_or(format!("no stats64.{dir}.bytes in the output"))
    };
    Ok(Counters {
        tx_bytes: field("tx")?,
        rx_bytes: field("rx")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_json_counters() {
        let json = r#"[{"ifname":"eth0","stats64":{"rx":{"bytes":430,"packets":5},"tx":{"bytes":90,"packets":1}}}]"#;
        assert_eq!(
            parse_counters(json),
            Ok(Counters {
                tx_bytes: 90,
                rx_bytes: 430
            })
        );
    }

    #[test]
    fn missing_stats_is_an_error() {
        let err = parse_counters(r#"[{"ifname":"eth0"}]"#).unwrap_err();
        assert_eq!(err, "no stats64 in the output");
        let err = parse_counters(r#"[{"stats64":{"rx":{"bytes":1},"tx":{}}}]"#).unwrap_err();
        assert_eq!(err, "no stats64.tx.bytes in the output");
        assert!(parse_counters("not json").is_err());
    }
}
