//! `anthill agent`: follow hub feeds and install each new release exactly
//! once (see the `agent` crate).
//!
//! Settings come from, in increasing priority: built-in defaults, the TOML
//! file given by `--config`, then flags (each also readable from an
//! `ANTHILL_AGENT_*` environment variable, for systemd `Environment=`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agent::AgentConfig;
use anyhow::Context;

use super::tracker::boolish;
use crate::logging::LogFormat;
use crate::signals::Shutdown;

/// Arguments of `anthill agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Feed URL of a hub (http://HUB:6880/feed.xml) or any RSS feed of
    /// torrents; repeatable (mirrors, or several feeds).
    #[arg(
        long,
        value_name = "URL",
        env = "ANTHILL_AGENT_FEED",
        value_delimiter = ','
    )]
    feed: Vec<String>,
    /// The agent's directory: agent.db, staging/, releases/ and the
    /// `current` symlink; created on first start.
    #[arg(long, value_name = "DIR", env = "ANTHILL_AGENT_DIR")]
    dir: Option<PathBuf>,
    /// Trusted hub public key (base64, as /hub.pub and `anthill keygen`
    /// print it) or a key file; repeatable. Without any, releases are
    /// installed unsigned.
    #[arg(
        long,
        value_name = "PUBKEY",
        env = "ANTHILL_AGENT_TRUST",
        value_delimiter = ','
    )]
    trust: Vec<String>,
    /// PEM file of a private certificate authority (one or more
    /// certificates) trusted for https besides the built-in roots;
    /// repeatable.
    #[arg(
        long,
        value_name = "FILE",
        env = "ANTHILL_AGENT_CA",
        value_delimiter = ','
    )]
    ca: Vec<PathBuf>,
    /// Shell command run after each switch of current, with
    /// ANTHILL_RELEASE, ANTHILL_RELEASE_PATH, ANTHILL_INFOHASH and
    /// ANTHILL_PREVIOUS_RELEASE; at most once per install.
    #[arg(long, value_name = "CMD", env = "ANTHILL_AGENT_HOOK")]
    hook: Option<String>,
    /// Address for GET /metrics (Prometheus) and GET /status (JSON).
    #[arg(long, value_name = "ADDR", env = "ANTHILL_AGENT_LISTEN")]
    listen: Option<SocketAddr>,
    /// This agent's name [default: the host name].
    #[arg(long, value_name = "NAME", env = "ANTHILL_AGENT_NAME")]
    name: Option<String>,
    /// Installed releases kept (current and the one before are never deleted) [default: 3].
    #[arg(long, value_name = "K", env = "ANTHILL_AGENT_KEEP")]
    keep: Option<usize>,
    /// On the very first start install every release, oldest first (default: only the newest).
    #[arg(long, env = "ANTHILL_AGENT_BACKFILL", value_parser = boolish)]
    backfill: bool,
    /// Seconds between feed polls (varied by +-20 %) [default: 60].
    #[arg(long, value_name = "SECS", env = "ANTHILL_AGENT_POLL_INTERVAL")]
    poll_interval: Option<f64>,
    /// Where the engine accepts peers (repeatable) [default: 0.0.0.0:6881].
    #[arg(
        long,
        value_name = "ADDR",
        env = "ANTHILL_AGENT_PEER_LISTEN",
        value_delimiter = ','
    )]
    peer_listen: Vec<SocketAddr>,
    /// TOML config file (see --print-config for every setting and its default).
    #[arg(long, short = 'c', value_name = "FILE", env = "ANTHILL_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_enum, default_value_t, env = "ANTHILL_LOG_FORMAT")]
    log_format: LogFormat,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

impl Args {
    fn config(&self) -> anyhow::Result<AgentConfig> {
        let mut c = match &self.config {
            Some(p) => {
                let bytes = metainfo::read_limited(p, 1 << 20)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                let text = String::from_utf8(bytes)
                    .with_context(|| format!("config file {} is not UTF-8", p.display()))?;
                AgentConfig::from_toml(&text)
                    .with_context(|| format!("invalid config file {}", p.display()))?
            }
            None => AgentConfig::default(),
        };
        match (&self.dir, &self.config) {
            (Some(d), _) => c.dir = d.clone(),
            (None, Some(_)) => {}
            (None, None) if self.print_config => {}
            (None, None) => {
                anyhow::bail!("give the agent's directory: --dir DIR (or `dir` in --config)")
            }
        }
        if !self.feed.is_empty() {
            c.feeds = self.feed.clone();
        }
        if !self.trust.is_empty() {
            c.trust = self.trust.clone();
        }
        if !self.ca.is_empty() {
            c.ca = self.ca.clone();
        }
        if let Some(h) = &self.hook {
            c.hook = Some(h.clone());
        }
        if let Some(a) = self.listen {
            c.listen = Some(a);
        }
        if let Some(n) = &self.name {
            c.name = Some(n.clone());
        }
        if let Some(k) = self.keep {
            c.keep = k;
        }
        if self.backfill {
            c.backfill = true;
        }
        if let Some(p) = self.poll_interval {
            c.poll_interval_secs = p;
        }
        if !self.peer_listen.is_empty() {
            c.peer_listen = self.peer_listen.clone();
        }
        if !self.print_config {
            c.validate().map_err(anyhow::Error::msg)?;
        }
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
            .thread_name("anthill-agent")
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(async move {
            let mut signals = Shutdown::install()?;
            let shutdown = async move {
                signals.recv().await;
                tracing::info!("signal: stopping (a second signal exits at once)");
                tokio::spawn(async move {
                    signals.recv().await;
                    tracing::warn!("second signal: exiting without waiting");
                    std::process::exit(1);
                });
            };
            agent::run(config, shutdown).await?;
            anyhow::Ok(())
        })?;
        Ok(ExitCode::SUCCESS)
    }
}
