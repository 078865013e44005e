//! `anthill tracker`: run the BitTorrent tracker (HTTP and UDP).
//!
//! Settings come from, in increasing priority: built-in defaults, the TOML
//! file given by `--config`, then flags (each also readable from an
//! `ANTHILL_TRACKER_*` environment variable, for systemd `Environment=`).

use crate::logging::LogFormat;
use crate::signals::Shutdown;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tracker::{AccessMode, HumanDuration, Listeners, TrackerConfig};

/// Arguments of `anthill tracker`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// TOML config file (see --print-config for every setting and its default).
    #[arg(long, short = 'c', env = "ANTHILL_TRACKER_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP listen address [default: 0.0.0.0:6969].
    #[arg(long, env = "ANTHILL_TRACKER_HTTP")]
    http: Option<SocketAddr>,
    /// Do not serve HTTP.
    #[arg(long, env = "ANTHILL_TRACKER_NO_HTTP", value_parser = boolish)]
    no_http: bool,
    /// UDP listen address, BEP 15 [default: 0.0.0.0:6969].
    #[arg(long, env = "ANTHILL_TRACKER_UDP")]
    udp: Option<SocketAddr>,
    /// Do not serve UDP.
    #[arg(long, env = "ANTHILL_TRACKER_NO_UDP", value_parser = boolish)]
    no_udp: bool,
    /// `open` tracks any infohash; `closed` only those in the allow list.
    #[arg(long, env = "ANTHILL_TRACKER_MODE")]
    mode: Option<Mode>,
    /// Allow-list file: one hex infohash per line; reloaded when it changes
    /// (closed mode only: open mode serves every infohash).
    #[arg(long, env = "ANTHILL_TRACKER_ALLOW_LIST")]
    allow_list: Option<PathBuf>,
    /// Announce interval told to clients, e.g. "2m" (at least 1s).
    #[arg(long, env = "ANTHILL_TRACKER_INTERVAL", value_parser = parse_interval)]
    interval: Option<HumanDuration>,
    /// Return peers in the requester's IPv4 subnet first, e.g. "/24".
    #[arg(long, env = "ANTHILL_TRACKER_PREFER_SUBNET", value_parser = parse_prefix)]
    prefer_subnet: Option<u8>,
    /// Use the address clients claim (`ip=`, BEP 15 IP field). Trusted networks only.
    #[arg(long, env = "ANTHILL_TRACKER_TRUST_IP_PARAM", value_parser = boolish)]
    trust_ip_param: bool,
    /// Allow scrapes without info_hash (BEP 48 full scrape).
    #[arg(long, env = "ANTHILL_TRACKER_FULL_SCRAPE", value_parser = boolish)]
    full_scrape: bool,
    /// Per-address requests per second (token bucket).
    #[arg(long, env = "ANTHILL_TRACKER_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Turn per-address rate limiting off.
    #[arg(
        long,
        env = "ANTHILL_TRACKER_NO_RATE_LIMIT",
        value_parser = boolish
    )]
    no_rate_limit: bool,
    /// Most torrents tracked.
    #[arg(long, env = "ANTHILL_TRACKER_MAX_TORRENTS")]
    max_torrents: Option<usize>,
    /// Most peers stored per torrent.
    #[arg(long, env = "ANTHILL_TRACKER_MAX_PEERS_PER_TORRENT")]
    max_peers_per_torrent: Option<usize>,
    /// Most peers stored in total.
    #[arg(long, env = "ANTHILL_TRACKER_MAX_PEERS")]
    max_peers: Option<usize>,
    /// UDP worker threads (0: one per CPU).
    #[arg(long, env = "ANTHILL_TRACKER_UDP_WORKERS", value_parser = parse_workers)]
    udp_workers: Option<usize>,
    /// HTTP worker threads (0: one per CPU).
    #[arg(long, env = "ANTHILL_TRACKER_HTTP_WORKERS", value_parser = parse_workers)]
    http_workers: Option<usize>,
    /// Log format.
    #[arg(long, value_enum, default_value_t, env = "ANTHILL_LOG_FORMAT")]
    log_format: LogFormat,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_environment_values() {
        for on in ["1", "true", "TRUE", "yes", "on"] {
            assert_eq!(boolish(on), Ok(true), "{on}");
        }
        for off in ["", "0", "false", "No", "off"] {
            assert_eq!(boolish(off), Ok(false), "{off}");
        }
        assert!(boolish("maybe").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("500ms").is_err());
        assert!(parse_interval("1s").is_ok());
        assert!(parse_workers("100000").is_err());
        assert_eq!(parse_workers("0"), Ok(0));
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    Open,
    Closed,
}

/// The value of a boolean flag's environment variable: 1/0, true/false,
/// yes/no, on/off; empty is unset (off), as in a systemd `Environment=`.
pub(crate) fn boolish(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err(format!(
            "{s:?} is not a boolean (use 1 or 0, true or false)"
        )),
    }
}

fn parse_interval(s: &str) -> Result<HumanDuration, String> {
    let d: HumanDuration = s.parse().map_err(|e| format!("{e}"))?;
    if d.get() < std::time::Duration::from_secs(1) {
        return Err(format!(
            "{s:?} is too short: clients are told to announce at most once a second"
        ));
    }
    Ok(d)
}

fn parse_workers(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of threads"))?;
    if n > tracker::MAX_WORKERS {
        return Err(format!(
            "{n} is more than {} threads (0 means one per CPU)",
            tracker::MAX_WORKERS
        ));
    }
    Ok(n)
}

fn parse_prefix(s: &str) -> Result<u8, String> {
    let n: u8 = s
        .trim_start_matches('/')
        .parse()
        .map_err(|_| format!("{s:?} is not a prefix length like /24"))?;
    if n > 32 {
        return Err(format!("IPv4 prefix /{n} is longer than 32 bits"));
    }
    Ok(n)
}

impl Args {
    fn config(&self) -> anyhow::Result<TrackerConfig> {
        // Checked here, not by clap: clap counts a flag whose variable is
        // set to 0 or empty as given.
        for (on, off, yes, no) in [
            (self.http.is_some(), self.no_http, "--http", "--no-http"),
            (self.udp.is_some(), self.no_udp, "--udp", "--no-udp"),
            (
                self.rate_limit.is_some(),
                self.no_rate_limit,
                "--rate-limit",
                "--no-rate-limit",
            ),
        ] {
            if on && off {
                let var = format!(
                    "ANTHILL_TRACKER_{}",
                    no.trim_start_matches("--").replace('-', "_").to_uppercase()
                );
                anyhow::bail!("{yes} contradicts {no} (or {var}); give only one of them");
            }
        }
        let mut c = match &self.config {
            Some(p) => {
                let text = crate::input::read_text(p, crate::input::CONFIG_LIMIT)
                    .context("cannot read the config file")?;
                TrackerConfig::from_toml(&text)
                    .with_context(|| format!("invalid config file {}", crate::input::name(p)))?
            }
            None => TrackerConfig::default(),
        };
        if let Some(a) = self.http {
            c.http.enabled = true;
            c.http.listen = a;
        }
        if self.no_http {
            c.http.enabled = false;
        }
        if let Some(a) = self.udp {
            c.udp.enabled = true;
            c.udp.listen = a;
        }
        if self.no_udp {
            c.udp.enabled = false;
        }
        if let Some(m) = self.mode {
            c.access.mode = match m {
                Mode::Open => AccessMode::Open,
                Mode::Closed => AccessMode::Closed,
            };
        }
        if let Some(p) = &self.allow_list {
            c.access.allow_list = Some(p.clone());
        }
        if let Some(i) = self.interval {
            c.announce.interval = i;
        }
        if let Some(p) = self.prefer_subnet {
            c.swarm.prefer_subnet_v4 = Some(p);
        }
        c.access.trust_ip_param |= self.trust_ip_param;
        c.http.full_scrape |= self.full_scrape;
        if let Some(r) = self.rate_limit {
            c.rate_limit.enabled = true;
            c.rate_limit.per_second = r;
        }
        if self.no_rate_limit {
            c.rate_limit.enabled = false;
        }
        if let Some(n) = self.max_torrents {
            c.swarm.max_torrents = n;
        }
        if let Some(n) = self.max_peers_per_torrent {
            c.swarm.max_peers_per_torrent = n;
        }
        if let Some(n) = self.max_peers {
            c.swarm.max_peers = n;
        }
        if let Some(n) = self.http_workers {
            c.http.workers = n;
        }
        if let Some(n) = self.udp_workers {
            c.udp.workers = n;
        }
        if !c.http.enabled && !c.udp.enabled {
            anyhow::bail!("both HTTP and UDP are turned off; nothing to serve");
        }
        if c.access.mode == AccessMode::Closed && c.access.allow_list.is_none() {
            anyhow::bail!(
                "closed mode needs an allow list: pass --allow-list FILE (or access.allow_list in the config)"
            );
        }
        if c.access.mode == AccessMode::Open && self.allow_list.is_some() {
            anyhow::bail!(
                "--allow-list applies only in closed mode, and open mode serves every infohash: \
                 add --mode closed"
            );
        }
        c.validate()?;
        Ok(c)
    }

    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config()?;
        if self.print_config {
            crate::output::write_stdout(config.to_toml().as_bytes())?;
            return Ok(ExitCode::SUCCESS);
        }
        crate::logging::init(self.log_format);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("anthill-tracker")
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async move {
            let mut signals = Shutdown::install()?;
            let listeners = Listeners::bind(&config)?;
            let shutdown = async move {
                signals.recv().await;
                tokio::spawn(async move {
                    signals.recv().await;
                    tracing::warn!("second signal: exiting without waiting");
                    std::process::exit(1);
                });
            };
            tracker::run(config, listeners, shutdown).await?;
            anyhow::Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
