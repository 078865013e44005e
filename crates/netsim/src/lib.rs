//! Multi-host test networks in Linux network namespaces, and the fleet harness.
//!
//! [`Net`] builds a small switched LAN on one machine: every [`Host`] is a
//! network namespace with `eth0` (a veth pair) plugged into a bridge that lives
//! in a namespace of its own, so nothing is ever configured in the root
//! namespace. Each host's upload and download can be limited with HTB
//! ([`HostOptions`]); processes run inside a host with [`Host::spawn`], their
//! output collected in per-host log files; [`Host::counters`] reads the bytes
//! that went through `eth0`. Dropping the [`Net`] stops every process it
//! started and deletes every namespace.
//!
//! [`fleet`] uses it to run a whole distribution scenario: a tracker, an origin
//! and N agents with one BitTorrent client (libtorrent, aria2 or anthill),
//! measured against the theoretical minimum time. See `README.md` beside this
//! crate for how to run the CI test and the benchmark.
//!
//! Everything here needs root and the `ip` and `tc` programs (iproute2).
//!
//! ```no_run
//! use netsim::{HostOptions, Net, Rate};
//!
//! let mut net = Net::new("demo")?;
//! let shaped = HostOptions {
//!     upload: Some(Rate::from_mbit(50)),
//!     download: Some(Rate::from_mbit(50)),
//!     ..HostOptions::default()
//! };
//! let a = net.add_host("a", shaped.clone())?;
//! let b = net.add_host("b", shaped)?;
//! let mut cmd = a.command("/usr/bin/python3");
//! cmd.args(["-m", "http.server", "--bind", &a.ip().to_string(), "8000"]);
//! let _server = a.spawn("http", cmd)?;
//! let _ = b.tx_bytes()?;
//! # Ok::<(), netsim::NetsimError>(())
//! ```
//!
//! Limitation: the kernel this project runs on has no netem qdisc, so
//! [`HostOptions::delay`] is refused there with [`NetsimError::DelayUnsupported`].

mod cmd;
mod error;
pub mod fleet;
mod host;
mod net;
mod process;
mod rate;

pub use error::NetsimError;
pub use host::{Counters, Host, HostOptions};
pub use net::{Net, NetOptions};
pub use process::Proc;
pub use rate::Rate;
