use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong while building, running or tearing down a [`crate::Net`].
#[derive(Debug, thiserror::Error)]
pub enum NetsimError {
    /// Network namespaces, veth pairs and qdiscs need root.
    #[error("network namespaces need root, but the effective uid is {euid}; run as root")]
    NotRoot {
        /// The effective uid we run as.
        euid: u32,
    },
    /// A helper program (`ip`, `tc`, ...) could not be started at all.
    #[error("cannot run `{program}`: {source} (is it installed? see scripts/setup)")]
    Spawn {
        /// The program we tried to start.
        program: String,
        /// Why the kernel refused.
        #[source]
        source: std::io::Error,
    },
    /// A setup command ran but failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The full command line.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// A delay was asked for, but the kernel has no mechanism to add one.
    #[error(
        "host {host}: a delay needs the netem qdisc, which this kernel lacks \
         (CONFIG_NET_SCH_NETEM is not set); no other delay mechanism is available, \
         so leave HostOptions::delay unset"
    )]
    DelayUnsupported {
        /// The host that asked for the delay.
        host: String,
    },
    /// A network prefix or host name with characters we do not allow.
    #[error("invalid name {name:?}: use 1 to {max} characters from [a-z0-9]")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// The longest name accepted here.
        max: usize,
    },
    /// Two hosts with the same name in one network.
    #[error("host name {name:?} is already used in this network")]
    DuplicateHost {
        /// The name used twice.
        name: String,
    },
    /// The address plan ran out.
    #[error("a network holds at most {max} hosts")]
    TooManyHosts {
        /// The most hosts a network can hold.
        max: usize,
    },
    /// Reading or writing a file of the run directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `ip -s -j link show` printed something we could not read.
    #[error("host {host}: cannot read the byte counters of eth0: {detail}")]
    Counters {
        /// The host whose counters we read.
        host: String,
        /// What was wrong with the output.
        detail: String,
    },
    /// A host handle was used after its network was torn down.
    #[error("network {prefix} has been torn down")]
    TornDown {
        /// The network's unique prefix.
        prefix: String,
    },
}

impl NetsimError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
