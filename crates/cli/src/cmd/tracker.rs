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
    #[arg(long, env = "ANTHILL_TRACKER_NO_HTTP", conflicts_with = "http")]
    no_http: bool,
    /// UDP listen address, BEP 15 [default: 0.0.0.0:6969].
    #[arg(long, env = "ANTHILL_TRACKER_UDP")]
    udp: Option<SocketAddr>,
    /// Do not serve UDP.
    #[arg(long, env = "ANTHILL_TRACKER_NO_UDP", conflicts_with = "udp")]
    no_udp: bool,
    /// `open` tracks any infohash; `closed` only those in the allow list.
    #[arg(long, env = "ANTHILL_TRACKER_MODE")]
    mode: Option<Mode>,
    /// Allow-list file: one hex infohash per line; reloaded when it changes.
    #[arg(long, env = "ANTHILL_TRACKER_ALLOW_LIST")]
    allow_list: Option<PathBuf>,
    /// Announce interval told to clients, e.g. "2m".
    #[arg(long, env = "ANTHILL_TRACKER_INTERVAL")]
    interval: Option<HumanDuration>,
    /// Return peers in the requester's IPv4 subnet first, e.g. "/24".
    #[arg(long, env = "ANTHILL_TRACKER_PREFER_SUBNET", value_parser = parse_prefix)]
    prefer_subnet: Option<u8>,
    /// Use the address clients claim (`ip=`, BEP 15 IP field). Trusted networks only.
    #[arg(long, env = "ANTHILL_TRACKER_TRUST_IP_PARAM")]
    trust_ip_param: bool,
    /// Allow scrapes without info_hash (BEP 48 full scrape).
    #[arg(long, env = "ANTHILL_TRACKER_FULL_SCRAPE")]
    full_scrape: bool,
    /// Per-address requests per second (token bucket).
    #[arg(long, env = "ANTHILL_TRACKER_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Turn per-address rate limiting off.
    #[arg(
        long,
        env = "ANTHILL_TRACKER_NO_RATE_LIMIT",
        conflicts_with = "rate_limit"
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
    #[arg(long, env = "ANTHILL_TRACKER_UDP_WORKERS")]
    udp_workers: Option<usize>,
    /// HTTP worker threads (0: one per CPU).
    #[arg(long, env = "ANTHILL_TRACKER_HTTP_WORKERS")]
    http_workers: Option<usize>,
    /// Log format.
    #[arg(long, value_enum, default_value_t, env = "ANTHILL_LOG_FORMAT")]
    log_format: LogFormat,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    Open,
    Closed,
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
        let mut c = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                TrackerConfig::from_toml(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
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
        Ok(c)
    }

    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let config = self.config()?;
        if self.print_config {
            print!("{}", config.to_toml());
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
