use std::path::PathBuf;
use std::time::Duration;

use crate::NetsimError;

/// Why a fleet scenario failed. Variants raised while clients run carry the
/// tail of every process log, so the failure message is enough to debug it.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Building or using the network failed.
    #[error(transparent)]
    Netsim(#[from] NetsimError),
    /// The options make no sense.
    #[error("invalid fleet options: {0}")]
    InvalidOptions(String),
    /// A program the scenario needs is not installed.
    #[error("the fleet scenario needs {program}, which is missing: {hint}")]
    MissingProgram {
        /// The program, or Python module.
        program: String,
        /// How to get it.
        hint: String,
    },
    /// Writing or reading a file of the run failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The torrent mktorrent made could not be read back.
    #[error("{path}: not a valid torrent: {detail}")]
    Torrent {
        /// The torrent file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A setup step did not finish in time (tracker up, origin announced).
    #[error("{step} did not happen within {waited:?} ({detail})\n{logs}")]
    SetupTimeout {
        /// What we waited for.
        step: &'static str,
        /// How long we waited.
        waited: Duration,
        /// The last thing we saw.
        detail: String,
        /// Log tails of every process.
        logs: String,
    },
    /// A client or the tracker exited while it should have kept running.
    #[error("{label} on {host} exited early ({status})\n{logs}")]
    ProcessExited {
        /// The host.
        host: String,
        /// The process label.
        label: String,
        /// Its exit status.
        status: String,
        /// Log tails of every process.
        logs: String,
    },
    /// Some agents were not done by the deadline.
    #[error("agents not done after {deadline:?}: {}\n{logs}", missing.join(", "))]
    Deadline {
        /// The deadline.
        deadline: Duration,
        /// The agents that were not done.
        missing: Vec<String>,
        /// Log tails of every process.
        logs: String,
    },
    /// An agent said it was done, but its copy differs from the original.
    #[error("{host}: copy {path} is wrong: {detail}")]
    BadCopy {
        /// The agent.
        host: String,
        /// Its copy.
        path: PathBuf,
        /// Size or SHA-256 expected and found.
        detail: String,
    },
}

impl FleetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
