use std::time::Duration;

/// What one load run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Successful responses.
    pub ok: u64,
    /// Error responses (UDP action 3, HTTP failure or non-200).
    pub errors: u64,
    /// Requests that got no answer in time (UDP) or failed at the socket (HTTP).
    pub lost: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Latency of each successful request, microseconds.
    pub latencies_us: Vec<u32>,
}

impl Report {
    /// Adds another worker's numbers.
    pub fn merge(&mut self, other: Report) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.lost += other.lost;
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latencies_us.extend(other.latencies_us);
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs == 0.0 {
            0.0
        } else {
            lossy(self.ok) / secs
        }
    }

    /// The `q` quantile of latency (0.0..=1.0), in microseconds.
    pub fn percentile_us(&mut self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        self.latencies_us.sort_unstable();
        let last = self.latencies_us.len() - 1;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let idx = ((lossy(u64::try_from(last).unwrap_or(u64::MAX)) * q.clamp(0.0, 1.0)).round()
            as usize)
            .min(last);
        self.latencies_us[idx]
    }

    /// One line: rate, p50, p99, errors, lost.
    pub fn summary(&mut self) -> String {
        let (p50, p99) = (self.percentile_us(0.5), self.percentile_us(0.99));
        format!(
            "{:>10.0} req/s  p50 {:>7} us  p99 {:>7} us  ok {}  errors {}  lost {}",
            self.rate(),
            p50,
            p99,
            self.ok,
            self.errors,
            self.lost
        )
    }
}

fn lossy(v: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let f = v as f64;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut r = Report {
            latencies_us: (1..=100).rev().collect(),
            ok: 100,
            elapsed: Duration::from_secs(2),
            ..Report::default()
        };
        assert_eq!(r.percentile_us(0.5), 51);
        assert_eq!(r.percentile_us(0.99), 99);
        assert_eq!(r.percentile_us(1.0), 100);
        assert!((r.rate() - 50.0).abs() < 1e-9);
    }
}
