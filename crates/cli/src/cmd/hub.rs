//! `anthill hub`: the origin of a fleet's releases (see the `hub` crate).
//!
//! Settings come from, in increasing priority: built-in defaults, the TOML
//! file given by `--config`, then flags (each also readable from an
//! `ANTHILL_HUB_*` environment variable, for systemd `Environment=`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hub::{HubConfig, Listeners};
use tracker::HumanDuration;

use crate::logging::LogFormat;
use crate::signals::Shutdown;

/// Arguments of `anthill hub`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The hub's directory: incoming/ (drop releases here), releases/,
    /// torrents/, rejected/, keys/, public/ and the state database; created
    /// on first start.
    #[arg(long, value_name = "DIR", env = "ANTHILL_HUB_DIR")]
    dir: Option<PathBuf>,
    /// HTTP listener for the feed, API, web seed and tracker; the UDP
    /// tracker uses the same port [default: 0.0.0.0:6880].
    #[arg(long, value_name = "ADDR", env = "ANTHILL_HUB_LISTEN")]
    listen: Option<SocketAddr>,
    /// Base URL written into torrents and the feed, for a hub behind NAT or
    /// a proxy [default: from --listen, 0.0.0.0 replaced by this host's address].
    #[arg(long, value_name = "URL", env = "ANTHILL_HUB_PUBLIC_URL")]
    public_url: Option<String>,
    /// TOML config file (see --print-config for every setting and its default).
    #[arg(long, short = 'c', value_name = "FILE", env = "ANTHILL_HUB_CONFIG")]
    config: Option<PathBuf>,
    /// Newest releases kept published and seeded [default: 10].
    #[arg(long, value_name = "N", env = "ANTHILL_HUB_KEEP")]
    keep: Option<usize>,
    /// Quiet time before a dropped entry is published, e.g. "2s".
    #[arg(long, value_name = "DURATION", env = "ANTHILL_HUB_SETTLE")]
    settle: Option<HumanDuration>,
    /// Where the hub's seeder accepts peers (repeatable) [default: 0.0.0.0:6881].
    #[arg(
        long,
        value_name = "ADDR",
        env = "ANTHILL_HUB_PEER_LISTEN",
        value_delimiter = ','
    )]
    peer_listen: Vec<SocketAddr>,
    /// Feed and page title.
    #[arg(long, env = "ANTHILL_HUB_TITLE")]
    title: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t, env = "ANTHILL_LOG_FORMAT")]
    log_format: LogFormat,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

impl Args {
    fn config(&self) -> anyhow::Result<HubConfig> {
        let mut c = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                HubConfig::from_toml(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
            }
            None => HubConfig::default(),
        };
        match (&self.dir, &self.config) {
            (Some(d), _) => c.dir = d.clone(),
            (None, Some(_)) => {}
            (None, None) if self.print_config => {}
            (None, None) => {
                anyhow::bail!("give the hub's directory: --dir DIR (or `dir` in --config)")
            }
        }
        if let Some(a) = self.listen {
            c.listen = a;
        }
        if let Some(u) = &self.public_url {
            c.public_url = Some(u.clone());
        }
        if let Some(k) = self.keep {
            c.keep = k;
        }
        if let Some(s) = self.settle {
            c.settle = s;
        }
        if !self.peer_listen.is_empty() {
            c.peer_listen = self.peer_listen.clone();
        }
        if let Some(t) = &self.title {
            c.title = t.clone();
        }
        if c.keep == 0 {
            anyhow::bail!("keep must be at least 1");
        }
        if let Some(u) = &c.public_url {
            hub::Urls::new(u, c.listen.port()).context("--public-url")?;
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
            .thread_name("anthill-hub")
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async move {
            let mut signals = Shutdown::install()?;
            let listeners = Listeners::bind(config.listen)?;
            let shutdown = async move {
                signals.recv().await;
                tracing::info!("signal: stopping (a second signal exits at once)");
                tokio::spawn(async move {
                    signals.recv().await;
                    tracing::warn!("second signal: exiting without waiting");
                    std::process::exit(1);
                });
            };
            hub::run(config, listeners, shutdown).await?;
            anyhow::Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
