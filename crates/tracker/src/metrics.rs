//! Request counters and their Prometheus text rendering.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which transport a request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Udp,
}

impl Protocol {
    fn idx(self) -> usize {
        match self {
            Self::Http => 0,
            Self::Udp => 1,
        }
    }
}

/// Reasons a request is answered with an error or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    BadRequest,
    NotAllowed,
    Full,
    RateLimited,
    BadConnectionId,
}

const ERROR_KINDS: [(ErrorKind, &str); 5] = [
    (ErrorKind::BadRequest, "bad_request"),
    (ErrorKind::NotAllowed, "not_allowed"),
    (ErrorKind::Full, "full"),
    (ErrorKind::RateLimited, "rate_limited"),
    (ErrorKind::BadConnectionId, "bad_connection_id"),
];

fn kind_idx(k: ErrorKind) -> usize {
    ERROR_KINDS.iter().position(|(e, _)| *e == k).unwrap_or(0)
}

/// Counters, updated with relaxed atomics on the request path.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    announces: [AtomicU64; 2],
    scrapes: [AtomicU64; 2],
    connects: AtomicU64,
    errors: [[AtomicU64; 5]; 2],
    pub(crate) http_connections: AtomicU64,
    pub(crate) http_connections_rejected: AtomicU64,
    pub(crate) rate_limit_untracked: AtomicU64,
}

impl Metrics {
    pub(crate) fn announce(&self, p: Protocol) {
        self.announces[p.idx()].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn scrape(&self, p: Protocol) {
        self.scrapes[p.idx()].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connect(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn error(&self, p: Protocol, k: ErrorKind) {
        self.errors[p.idx()][kind_idx(k)].fetch_add(1, Ordering::Relaxed);
    }

    /// Totals for the JSON stats.
    pub(crate) fn counters(&self) -> crate::stats::RequestCounters {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        crate::stats::RequestCounters {
            http_announces: g(&self.announces[0]),
            udp_announces: g(&self.announces[1]),
            http_scrapes: g(&self.scrapes[0]),
            udp_scrapes: g(&self.scrapes[1]),
            udp_connects: g(&self.connects),
            errors: self.errors.iter().flatten().map(g).sum(),
        }
    }

    /// Appends the counters in Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let protos = [("http", 0), ("udp", 1)];
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(
            out,
            "anthill_tracker_announces_total",
            "counter",
            "Announces handled.",
        );
        for (name, i) in protos {
            let _ = writeln!(
                out,
                "anthill_tracker_announces_total{{protocol=\"{name}\"}} {}",
                g(&self.announces[i])
            );
        }
        header(
            out,
            "anthill_tracker_scrapes_total",
            "counter",
            "Scrapes handled.",
        );
        for (name, i) in protos {
            let _ = writeln!(
                out,
                "anthill_tracker_scrapes_total{{protocol=\"{name}\"}} {}",
                g(&self.scrapes[i])
            );
        }
        header(
            out,
            "anthill_tracker_udp_connects_total",
            "counter",
            "BEP 15 connect requests answered.",
        );
        let _ = writeln!(
            out,
            "anthill_tracker_udp_connects_total {}",
            g(&self.connects)
        );
        header(
            out,
            "anthill_tracker_errors_total",
            "counter",
            "Requests refused or dropped, by reason.",
        );
        for (name, i) in protos {
            for (k, (_, kname)) in ERROR_KINDS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "anthill_tracker_errors_total{{protocol=\"{name}\",reason=\"{kname}\"}} {}",
                    g(&self.errors[i][k])
                );
            }
        }
        for (name, help, v) in [
            (
                "anthill_tracker_http_connections_total",
                "HTTP connections accepted.",
                &self.http_connections,
            ),
            (
                "anthill_tracker_http_connections_rejected_total",
                "HTTP connections closed at once because max_connections was reached.",
                &self.http_connections_rejected,
            ),
            (
                "anthill_tracker_rate_limit_untracked_total",
                "Requests allowed untracked because the rate-limit table was full.",
                &self.rate_limit_untracked,
            ),
        ] {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", g(v));
        }
    }
}

pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
