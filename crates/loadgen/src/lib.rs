//! A load generator for BitTorrent trackers: simulates many agents
//! announcing (and optionally scraping) over UDP (BEP 15) or HTTP, and
//! reports requests per second and latency percentiles.
//!
//! The same [`Workload`] drives any tracker, which is how `tracker-bench`
//! compares anthill's tracker with Debian's `opentracker` in one run:
//!
//! ```no_run
//! use loadgen::{Workload, udp};
//! use std::time::Duration;
//! let wl = Workload::new(100, 10_000, 1);
//! let target = "127.0.0.1:6969".parse().unwrap();
//! udp::fill(target, &wl, 2, 64).unwrap();
//! let report = udp::run(target, &wl, &udp::UdpOptions {
//!     duration: Duration::from_secs(5),
//!     ..Default::default()
//! }).unwrap();
//! println!("{}", report.summary());
//! ```
//!
//! Both generators are closed-loop: each keeps a fixed number of requests
//! in flight and sends a new one when an answer arrives, so the measured
//! rate is what the tracker sustains, and latency includes queueing.

pub mod http;
mod report;
pub mod udp;
mod workload;

pub use report::Report;
pub use workload::{SimPeer, Workload};
