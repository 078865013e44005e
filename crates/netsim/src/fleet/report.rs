use std::fmt::Write as _;
use std::time::Duration;

use super::{Client, Links};
use crate::{Counters, Rate};

/// The least time in which `n` agents can all hold a file of `size` bytes that
/// starts on the origin alone, on links without overhead:
///
/// `T_min = max(S/U_origin, S/D_agent, N·S/(U_origin + N·U_agent))`
///
/// The origin must send every byte at least once; every agent must receive
/// every byte; and all N·S bytes received must be sent by someone, at most at
/// the total upload rate. (For 256 MiB at 100 Mbit/s everywhere this is
/// 21.47 s for any N, set by the first two terms.)
pub fn t_min(size: u64, n: u32, origin_up: Rate, agent_down: Rate, agent_up: Rate) -> Duration {
    let total_up = origin_up.saturating_add(agent_up.saturating_mul(u64::from(n)));
    let all_bytes = size.saturating_mul(u64::from(n));
    origin_up
        .transfer_time(size)
        .max(agent_down.transfer_time(size))
        .max(total_up.transfer_time(all_bytes))
}

/// One agent's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReport {
    /// The host name (`agent1`...).
    pub name: String,
    /// From the flash-crowd start until its client reported the file complete.
    pub done_after: Duration,
    /// Bytes through its `eth0` from the flash-crowd start until the last agent was done.
    pub counters: Counters,
}

/// The result of one [`super::run_fleet`]. Every copy it lists matched the
/// original's SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetReport {
    /// The client measured.
    pub client: Client,
    /// Size of the content in bytes (pad files not counted).
    pub size: u64,
    /// Files in the content (1 for a single file).
    pub files: u32,
    /// Limits of the origin's and the agents' links.
    pub links: Links,
    /// [`t_min`] for this scenario.
    pub t_min: Duration,
    /// From the flash-crowd start until the last agent was done.
    pub total: Duration,
    /// Bytes through the origin's `eth0` over the same span: raw link bytes
    /// (Ethernet, IP, TCP and BitTorrent headers included).
    pub origin: Counters,
    /// Bytes through the tracker's `eth0` over the same span.
    pub tracker: Counters,
    /// Every agent, in host order.
    pub agents: Vec<AgentReport>,
    /// SHA-256 of the file (hex); every copy had it.
    pub sha256: String,
}

impl FleetReport {
    /// `total / t_min`: 1.0 is perfect.
    pub fn ratio(&self) -> f64 {
        self.total.as_secs_f64() / self.t_min.as_secs_f64()
    }

    /// Bytes the origin sent, in copies of the file (raw link bytes / size).
    pub fn origin_copies(&self) -> f64 {
        self.origin.tx_bytes as f64 / self.size as f64
    }

    /// The header line for [`FleetReport::table_row`].
    pub fn table_header() -> String {
        format!(
            "{:<11} {:>6} {:>8} {:>6} {:>18} {:>9} {:>9} {:>7} {:>13}",
            "client", "agents", "size", "files", "rate", "time", "T_min", "ratio", "origin copies"
        )
    }

    /// One summary line: client, N, size, files, rates, time, T_min, ratio, origin copies.
    pub fn table_row(&self) -> String {
        format!(
            "{:<11} {:>6} {:>8} {:>6} {:>18} {:>8.2}s {:>8.2}s {:>7.3} {:>13.3}",
            self.client.name(),
            self.agents.len(),
            format!("{}MiB", self.size >> 20),
            self.files,
            self.links.to_string(),
            self.total.as_secs_f64(),
            self.t_min.as_secs_f64(),
            self.ratio(),
            self.origin_copies(),
        )
    }

    /// Per-host byte counters and completion times, one line per host.
    pub fn host_table(&self) -> String {
        let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
        let mut s = format!(
            "  {:<9} {:>9} {:>11} {:>11}\n",
            "host", "done", "tx MiB", "rx MiB"
        );
        let mut line = |name: &str, done: Option<Duration>, c: &Counters| {
            let done = done.map_or("-".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()));
            let _ = writeln!(
                s,
                "  {:<9} {:>9} {:>11.1} {:>11.1}",
                name,
                done,
                mib(c.tx_bytes),
                mib(c.rx_bytes)
            );
        };
        line("origin", None, &self.origin);
        line("tracker", None, &self.tracker);
        for a in &self.agents {
            line(&a.name, Some(a.done_after), &a.counters);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn t_min_of_the_issue_is_21_5_seconds() {
        let r = Rate::from_mbit(100);
        for n in [8, 16] {
            let t = t_min(256 * MIB, n, r, r, r);
            assert_eq!(t, Duration::from_nanos(21_474_836_480), "n = {n}");
        }
    }

    #[test]
    fn t_min_is_bound_by_total_upload_when_agents_upload_slowly() {
        // Origin 100, agents 10 up / 100 down, 16 agents: 16·S/(100+160) > S/100.
        let t = t_min(
            256 * MIB,
            16,
            Rate::from_mbit(100),
            Rate::from_mbit(100),
            Rate::from_mbit(10),
        );
        let expected = Rate::from_mbit(260).transfer_time(16 * 256 * MIB);
        assert_eq!(t, expected);
        assert!(t > Rate::from_mbit(100).transfer_time(256 * MIB));
    }

    #[test]
    fn t_min_is_bound_by_agent_download() {
        let t = t_min(
            MIB,
            4,
            Rate::from_mbit(100),
            Rate::from_mbit(10),
            Rate::from_mbit(100),
        );
        assert_eq!(t, Rate::from_mbit(10).transfer_time(MIB));
    }

    #[test]
    fn ratio_and_copies() {
        let r = FleetReport {
            client: Client::Aria2,
            size: 100,
            files: 1,
            links: Links::symmetric(Rate::from_mbit(1)),
            t_min: Duration::from_secs(10),
            total: Duration::from_secs(12),
            origin: Counters {
                tx_bytes: 150,
                rx_bytes: 3,
            },
            tracker: Counters::default(),
            agents: vec![],
            sha256: String::new(),
        };
        assert!((r.ratio() - 1.2).abs() < 1e-9);
        assert!((r.origin_copies() - 1.5).abs() < 1e-9);
        assert!(r.table_row().starts_with("aria2"));
    }
}
