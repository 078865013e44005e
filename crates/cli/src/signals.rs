//! SIGTERM and SIGINT (ctrl-c) for the long-running commands.
//!
//! The handlers are installed by [`Shutdown::install`], before a command
//! binds its sockets or says it is ready: a signal that arrives between
//! "listening" and the first await must stop the command cleanly, not kill
//! it with the default action.

/// Installed signal handlers.
pub(crate) struct Shutdown {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Installs the handlers now. Must run inside a tokio runtime.
    pub(crate) fn install() -> anyhow::Result<Self> {
        use anyhow::Context;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves at the next SIGTERM or SIGINT.
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
