//! The fleet scenario: one origin, N agents and a tracker on a [`crate::Net`].
//!
//! [`run_fleet`] builds the network (hosts shaped to the [`Links`] rates: the
//! same everywhere by default, or a faster origin; the tracker unshaped),
//! writes a file of random bytes or a tree of many files ([`Payload`]) on the
//! origin, makes a torrent of it (mktorrent, or `anthill torrent create` for
//! an aligned tree), starts the tracker and the origin, waits
//! until the tracker lists the origin as a seeder, then starts every agent at
//! once (a flash crowd). An agent is done when its client reports the download
//! complete (a marker file written by the client or its completion hook). When
//! all are done every process is stopped and every copy is checked against the
//! origin's SHA-256.
//!
//! The result, [`FleetReport`], compares the time until the last agent was done
//! with [`t_min`], the least time any protocol could need on these links, and
//! counts the bytes the origin sent as copies of the file.
//!
//! Clients are drivers ([`Client`]): libtorrent (a python script over Debian's
//! python3-libtorrent), aria2 and anthill (its `seed` and `get` subcommands).

mod client;
mod driver;
mod error;
mod options;
mod payload;
mod report;
mod run;
mod tracker;

pub use client::{Client, UnknownClient};
pub use error::FleetError;
pub use options::{FleetOptions, Links, Payload, TrackerKind};
pub use report::{AgentReport, FleetReport, t_min};
pub use run::{check_prerequisites, run_fleet};
