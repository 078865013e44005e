//! Processes spawned inside hosts, and how they are stopped.
//!
//! Every process is started in its own process group (`process_group(0)`), so a
//! client that forks helpers (aria2 runs hook scripts, python may spawn threads
//! that exec) is stopped as a whole by signalling the group. We only ever signal
//! the groups of children we started ourselves, by their pid.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

/// A process started with [`crate::Host::spawn`]. Cheap to clone; it only names the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub(crate) pid: u32,
    pub(crate) host: String,
    pub(crate) label: String,
    pub(crate) log: PathBuf,
}

impl Proc {
    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host it runs in.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The label given at spawn time.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The file that collects its stdout and stderr.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

/// One spawned child and what we know about it.
#[derive(Debug)]
struct Spawned {
    proc: Proc,
    child: Child,
    /// Set once the child has been reaped.
    exit: Option<ExitStatus>,
}

/// All processes of one network. Shared by the [`crate::Net`] and its host handles.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Set by teardown; no process may be added afterwards.
    pub(crate) closed: bool,
    spawned: Vec<Spawned>,
}

impl Registry {
    pub(crate) fn add(&mut self, proc: Proc, child: Child) {
        self.spawned.push(Spawned {
            proc,
            child,
            exit: None,
        });
    }

    /// Every process ever spawned, in spawn order.
    pub(crate) fn procs(&self) -> Vec<Proc> {
        self.spawned.iter().map(|s| s.proc.clone()).collect()
    }

    /// The exit status of `proc`, if it has exited (reaps it).
    pub(crate) fn try_wait(&mut self, pid: u32) -> Option<ExitStatus> {
        let s = self.spawned.iter_mut().find(|s| s.proc.pid == pid)?;
        reap(s)
    }

    /// Every process that has exited so far, with its status.
    pub(crate) fn exited(&mut self) -> Vec<(Proc, ExitStatus)> {
        self.spawned
            .iter_mut()
            .filter_map(|s| reap(s).map(|st| (s.proc.clone(), st)))
            .collect()
    }

    /// Stops one process group: SIGTERM, then SIGKILL after `grace`.
    pub(crate) fn stop(&mut self, pid: u32, grace: Duration) {
        let targets: Vec<&mut Spawned> = self
            .spawned
            .iter_mut()
            .filter(|s| s.proc.pid == pid)
            .collect();
        stop_all(targets, grace);
    }

    /// Stops every process group: SIGTERM to all, then SIGKILL to what is left after `grace`.
    pub(crate) fn stop_everything(&mut self, grace: Duration) {
        stop_all(self.spawned.iter_mut().collect(), grace);
    }
}

fn reap(s: &mut Spawned) -> Option<ExitStatus> {
    if s.exit.is_none() {
        // An error here means the child is already gone from our view; treat it as running
        // until the kill path reaps it.
        if let Ok(Some(st)) = s.child.try_wait() {
            s.exit = Some(st);
        }
    }
    s.exit
}

fn signal_group(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH (group already gone) is fine: there is nothing left to stop.
        let _ = kill_process_group(pid, sig);
    }
}

fn stop_all(mut targets: Vec<&mut Spawned>, grace: Duration) {
    // Even a child that has exited may have left members of its group behind,
    // so every group gets the signal.
    for s in &targets {
        signal_group(s.proc.pid, Signal::TERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && targets.iter_mut().any(|s| reap(s).is_none()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for s in &mut targets {
        signal_group(s.proc.pid, Signal::KILL);
        if s.exit.is_none() {
            // The child was SIGKILLed above, so this returns promptly.
            if let Ok(st) = s.child.wait() {
                s.exit = Some(st);
            }
        }
    }
}
