//! Where everything lives below the hub's directory.

use std::path::{Path, PathBuf};

use release::ReleaseName;

/// The hub directory's layout. Everything is below one directory, on one
/// file system, so that moving an entry from `incoming/` to `releases/` and
/// publishing a file into `public/` are renames.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates every directory (first start).
    pub fn create(&self) -> std::io::Result<()> {
        for d in [
            self.incoming(),
            self.releases(),
            self.torrents(),
            self.rejected(),
            self.keys(),
            self.public(),
            self.public().join("torrents"),
            self.public().join("manifests"),
            self.public().join("foreign"),
            self.tmp(),
        ] {
            std::fs::create_dir_all(&d)?;
        }
        // The key directory holds the secret key: owner only.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.keys(), std::fs::Permissions::from_mode(0o700))?;
        Ok(())
    }

    /// The hub directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The drop folder.
    pub fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }
    /// Published data, never modified after publishing; also the engine's
    /// data directory (its resume states live in `releases/.anthill/`).
    pub fn releases(&self) -> PathBuf {
        self.root.join("releases")
    }
    /// One release's data.
    pub fn release(&self, name: &ReleaseName) -> PathBuf {
        self.releases().join(name.as_str())
    }
    /// Foreign `.torrent` files listed in the feed as they are.
    pub fn torrents(&self) -> PathBuf {
        self.root.join("torrents")
    }
    /// Refused entries, each beside a `NAME.reason` file.
    pub fn rejected(&self) -> PathBuf {
        self.root.join("rejected")
    }
    /// The signing key pair.
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// The secret key file (minisign format, mode 0600).
    pub fn secret_key(&self) -> PathBuf {
        self.keys().join("hub.key")
    }
    /// The public key file (minisign format).
    pub fn public_key(&self) -> PathBuf {
        self.keys().join("hub.pub")
    }
    /// Static files any web server can mirror: feed, torrents, manifests,
    /// signatures, index, public key.
    pub fn public(&self) -> PathBuf {
        self.root.join("public")
    }
    /// Copies in progress and trees being deleted (same file system).
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// The hub's state database.
    pub fn database(&self) -> PathBuf {
        self.root.join("hub.db")
    }
    /// Held locked by the running hub.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("hub.lock")
    }
    /// `public/torrents/NAME.torrent`.
    pub fn public_torrent(&self, name: &ReleaseName) -> PathBuf {
        self.public()
            .join("torrents")
            .join(format!("{name}.torrent"))
    }
    /// `public/manifests/NAME.json`.
    pub fn public_manifest(&self, name: &ReleaseName) -> PathBuf {
        self.public().join("manifests").join(format!("{name}.json"))
    }
    /// `public/manifests/NAME.json.minisig`.
    pub fn public_signature(&self, name: &ReleaseName) -> PathBuf {
        self.public()
            .join("manifests")
            .join(format!("{name}.json.minisig"))
    }
    /// The marker `anthill publish` leaves beside an entry it moved in:
    /// publish at once instead of waiting for the entry to settle.
    pub fn ready_marker(&self, entry: &str) -> PathBuf {
        self.incoming().join(format!(".{entry}.ready"))
    }
}
