//! `anthill keygen`: make a minisign Ed25519 key pair for a hub.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

/// Arguments of `anthill keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Secret key file to write (mode 0600); the public key goes to FILE.pub.
    /// Existing files are never overwritten. A hub uses DIR/keys/hub.key.
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        default_value = "anthill-hub.key"
    )]
    out: PathBuf,
}

impl Args {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let mut public = self.out.clone().into_os_string();
        public.push(".pub");
        let public = PathBuf::from(public);
        for p in [&self.out, &public] {
            if std::fs::symlink_metadata(p).is_ok() {
                bail!("{} already exists; not overwriting a key", p.display());
            }
        }
        let key = release::SigningKey::generate()?;
        hub::write_secret(&self.out, key.to_file_text().as_bytes())?;
        storage::write_atomic(&public, key.public_key().to_file_text().as_bytes())
            .with_context(|| format!("cannot write {}", public.display()))?;
        eprintln!(
            "wrote secret key {} (mode 0600) and public key {} (key id {})",
            self.out.display(),
            public.display(),
            key.key_id()
        );
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", key.public_key().to_base64())?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}
