//! `anthill publish`: hand a tree to a running hub and wait for the verdict.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hub::{Layout, ReleaseState, Store};
use release::ReleaseName;

/// Arguments of `anthill publish`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The file or directory to publish; its name is the release's name
    /// (letters, digits and . _ + - ~ @; versions are names: app-1.4.2).
    path: PathBuf,
    /// The running hub's directory.
    #[arg(long, value_name = "DIR", env = "ANTHILL_HUB_DIR")]
    hub: PathBuf,
    /// Copy the tree into the hub instead of moving it (the original stays).
    #[arg(long)]
    copy: bool,
    /// Publish under this name instead of the path's last component.
    #[arg(long, short = 'n')]
    name: Option<String>,
    /// Give up waiting after this long (the hub still publishes it).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    timeout: tracker::HumanDuration,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let layout = Layout::new(&self.hub);
        if !hub::is_running(&self.hub) {
            bail!(
                "no hub is running on {} (start one with: anthill hub --dir {})",
                self.hub.display(),
                self.hub.display()
            );
        }
        let name = match &self.name {
            Some(n) => n.clone(),
            None => self
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .with_context(|| {
                    format!("{} has no usable name; pass --name", self.path.display())
                })?,
        };
        let name = ReleaseName::new(&name)
            .with_context(|| format!("cannot publish {}", self.path.display()))?;
        let meta = std::fs::symlink_metadata(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        if meta.file_type().is_symlink() {
            bail!(
                "{} is a symbolic link; publish the tree itself",
                self.path.display()
            );
        }
        let store = Store::open_read_only(&layout.database())?;
        if let Some((state, seq)) = store.state_of(name.as_str())? {
            match (state, seq) {
                (_, Some(seq)) => bail!(
                    "a release named {name} was already published (seq {seq}); versions are names: publish under a new one"
                ),
                (s, None) => bail!("a release named {name} is being published right now ({s:?})"),
            }
        }
        let dest = layout.incoming().join(name.as_str());
        if std::fs::symlink_metadata(&dest).is_ok() {
            bail!("{} already exists in the hub's incoming/", dest.display());
        }
        let started = release::unix_now();
        if self.copy {
            let staging = layout.incoming().join(format!(".{name}.copying"));
            hub::copy_tree(&self.path, &staging)
                .with_context(|| format!("cannot copy {} into the hub", self.path.display()))
                .inspect_err(|_| {
                    let _ = hub::remove_tree(&staging);
                })?;
            std::fs::rename(&staging, &dest)
                .with_context(|| format!("cannot move the copy to {}", dest.display()))?;
        } else {
            std::fs::rename(&self.path, &dest).with_context(|| {
                format!(
                    "cannot move {} into {} (another file system? use --copy)",
                    self.path.display(),
                    layout.incoming().display()
                )
            })?;
        }
        storage::write_atomic(&layout.ready_marker(name.as_str()), b"")
            .context("cannot mark the entry ready")?;
        eprintln!("handed {name} to the hub; waiting for it to be published");
        wait(&store, &layout, &name, started, self.timeout.get())
    }
}

fn wait(
    store: &Store,
    layout: &Layout,
    name: &ReleaseName,
    started: i64,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + timeout;
    loop {
        // Recorded as published, then served (in the feed, seeded): wait for both.
        let done = match store.state_of(name.as_str())? {
            Some((ReleaseState::Retired, Some(_))) => true,
            Some((ReleaseState::Published, Some(seq))) => store.served_seq()? >= seq,
            _ => false,
        };
        if done {
            let r = store
                .release(name.as_str())?
                .context("the hub recorded the release but it cannot be read")?;
            let feed = std::fs::read_to_string(layout.public().join("feed.xml")).ok();
            let feed_url = feed
                .as_deref()
                .and_then(|f| f.split("<atom:link href=\"").nth(1))
                .and_then(|s| s.split('"').next())
                .unwrap_or("");
            println!("published {}", r.name);
            println!("seq       {}", r.seq);
            println!("infohash  {}", r.infohash);
            println!("feed      {feed_url}");
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(rej) = store.rejection_since(name.as_str(), started)? {
            eprintln!("anthill: error: the hub rejected {name}: {}", rej.reason);
            if let Some(m) = rej.moved_to {
                eprintln!("the entry is in the hub's {m}");
            }
            return Ok(ExitCode::FAILURE);
        }
        if Instant::now() >= deadline {
            bail!(
                "{name} was not published within {}; the hub may still publish it",
                tracker::HumanDuration(timeout)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
