//! The publish pipeline: synchronous, one entry at a time, every step
//! recorded so that a crash at any instant is finished or rolled back on
//! the next start. `PUBLISH.md` beside this file states the invariants.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metainfo::{CreateOptions, HashOptions, Infohash, Metainfo, TorrentPlan};
use release::{IndexEntry, Manifest, ReleaseIndex, ReleaseName, SigningKey};
use tracing::{info, warn};

use crate::error::io;
use crate::public::PublicFiles;
use crate::store::{NewRelease, Rejection, ReleaseRecord, ReleaseState, Store};
use crate::{HubError, Layout, Urls};

/// What the pipeline needs from the configuration.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Quiet time before an entry is published.
    pub settle: Duration,
    /// Releases kept.
    pub keep: usize,
    /// Thousandths of the piece length below which files are packed.
    pub pack_below_per_mille: u32,
    /// Hashing threads (0: all cores).
    pub hash_threads: usize,
}

/// What processing an entry led to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Published.
    Published(Arc<ReleaseRecord>, Box<Metainfo>),
    /// Refused.
    Rejected(Rejection),
}

/// An entry seen in `incoming/`, not yet settled.
#[derive(Debug)]
struct Pending {
    fingerprint: u64,
    since: Instant,
}

/// The pipeline and the state it owns.
pub struct Publisher {
    layout: Layout,
    store: Store,
    key: SigningKey,
    urls: Urls,
    options: PublishOptions,
    pending: HashMap<OsString, Pending>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("root", &self.layout.root())
            .finish_non_exhaustive()
    }
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    release::unix_now()
}

impl Publisher {
    /// Opens the pipeline's state (the database and the key).
    pub fn new(
        layout: Layout,
        store: Store,
        key: SigningKey,
        urls: Urls,
        options: PublishOptions,
    ) -> Self {
        Self {
            layout,
            store,
            key,
            urls,
            options,
            pending: HashMap::new(),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The URLs.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// Finishes or rolls back what a crash interrupted (see `PUBLISH.md`),
    /// deletes data of retired releases and clears `tmp/`. Returns the
    /// releases it published.
    pub fn recover(&mut self) -> Result<Vec<Outcome>, HubError> {
        let mut out = Vec::new();
        for (name, state) in self.store.unfinished()? {
            let Ok(rn) = ReleaseName::new(&name) else {
                self.store.forget(&name)?;
                continue;
            };
            let target = self.layout.release(&rn);
            match state {
                ReleaseState::Moving if exists(&target) => {
                    // The rename (or the final rename of a copy) happened.
                    info!(release = %rn, "recovering: the move had finished");
                    let src = self.layout.incoming().join(&name);
                    if exists(&src) {
                        // A cross-device move: the copy is complete, the
                        // source was not removed yet.
                        remove_tree(&src).map_err(io("remove", &src))?;
                    }
                    self.store.set_state(&name, ReleaseState::Moved)?;
                    out.push(self.finish(&rn));
                }
                ReleaseState::Moving => {
                    info!(release = %rn, "recovering: rolling back an unfinished move");
                    let partial = self.layout.tmp().join(&name);
                    if exists(&partial) {
                        remove_tree(&partial).map_err(io("remove", &partial))?;
                    }
                    self.store.forget(&name)?;
                }
                ReleaseState::Moved => {
                    info!(release = %rn, "recovering: finishing an interrupted publish");
                    out.push(self.finish(&rn));
                }
                ReleaseState::Published | ReleaseState::Retired => {}
            }
        }
        // Retired releases whose data is still there (a crash while deleting).
        let tmp = self.layout.tmp();
        for e in std::fs::read_dir(&tmp).map_err(io("list", &tmp))?.flatten() {
            let p = e.path();
            if let Err(err) = remove_tree(&p) {
                warn!(path = %p.display(), error = %err, "cannot clear a leftover in tmp/");
            }
        }
        for (name, _) in self.retired_with_data()? {
            self.delete_data(&name);
        }
        Ok(out)
    }

    fn retired_with_data(&self) -> Result<Vec<(ReleaseName, Infohash)>, HubError> {
        let releases = self.layout.releases();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&releases)
            .map_err(io("list", &releases))?
            .flatten()
        {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((ReleaseState::Retired, _)) = self.store.state_of(name)? {
                if let Some(r) = self.store.release(name)? {
                    out.push((r.name, r.infohash));
                }
            }
        }
        Ok(out)
    }

    /// Lists `incoming/` and returns the entries ready to publish: quiet for
    /// `settle`, or marked ready by `anthill publish`.
    pub fn scan(&mut self, now: Instant) -> Result<Vec<OsString>, HubError> {
        let incoming = self.layout.incoming();
        let mut ready = Vec::new();
        let mut seen = Vec::new();
        for e in std::fs::read_dir(&incoming).map_err(io("list", &incoming))? {
            let e = e.map_err(io("list", &incoming))?;
            let name = e.file_name();
            if name.as_encoded_bytes().first() == Some(&b'.') {
                // Hidden: publish markers, editors' and copiers' temporaries.
                continue;
            }
            seen.push(name.clone());
            let marked = name
                .to_str()
                .is_some_and(|n| self.layout.ready_marker(n).exists());
            let fp = fingerprint(&e.path());
            match self.pending.get_mut(&name) {
                _ if marked => ready.push(name),
                Some(p) if p.fingerprint == fp => {
                    if now.duration_since(p.since) >= self.options.settle {
                        ready.push(name);
                    }
                }
                Some(p) => {
                    p.fingerprint = fp;
                    p.since = now;
                }
                None => {
                    self.pending.insert(
                        name,
                        Pending {
                            fingerprint: fp,
                            since: now,
                        },
                    );
                }
            }
        }
        self.pending.retain(|n, _| seen.contains(n));
        for n in &ready {
            self.pending.remove(n);
        }
        // Markers whose entry is gone.
        for e in std::fs::read_dir(&incoming)
            .map_err(io("list", &incoming))?
            .flatten()
        {
            let n = e.file_name();
            let Some(s) = n.to_str() else { continue };
            if let Some(entry) = s.strip_prefix('.').and_then(|s| s.strip_suffix(".ready")) {
                if !self.layout.incoming().join(entry).exists()
                    && e.metadata().is_ok_and(|m| {
                        m.modified().ok().and_then(|t| t.elapsed().ok())
                            > Some(Duration::from_secs(60))
                    })
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(ready)
    }

    /// Publishes the entry `incoming/<entry>`, or rejects it with the reason.
    pub fn process(&mut self, entry: &OsString) -> Outcome {
        let src = self.layout.incoming().join(entry);
        let shown = entry.to_string_lossy().into_owned();
        let outcome = match self.checked_name(entry, &src) {
            Err(reason) => Outcome::Rejected(self.reject(&src, &shown, reason)),
            Ok(name) => match self.move_in(&name, &src) {
                Err(reason) => Outcome::Rejected(self.reject(&src, &shown, reason)),
                Ok(()) => self.finish(&name),
            },
        };
        if let Some(s) = entry.to_str() {
            let _ = std::fs::remove_file(self.layout.ready_marker(s));
        }
        outcome
    }

    /// The entry's name as a release name, after every check that needs no
    /// hashing: the name, the name being free, the tree's content.
    fn checked_name(&self, entry: &OsString, src: &Path) -> Result<ReleaseName, String> {
        let s = entry
            .to_str()
            .ok_or_else(|| "the name is not valid UTF-8".to_string())?;
        let name = ReleaseName::new(s).map_err(|e| e.to_string())?;
        match self.store.state_of(s).map_err(|e| e.to_string())? {
            None => {}
            Some((_, Some(seq))) => {
                return Err(format!(
                    "a release named {name} was already published (seq {seq}); versions are names: publish it under a new one"
                ));
            }
            Some((state, None)) => {
                return Err(format!(
                    "a release named {name} is already being published ({state:?})"
                ));
            }
        }
        let meta = std::fs::symlink_metadata(src).map_err(|e| format!("cannot read it: {e}"))?;
        if meta.file_type().is_symlink() {
            return Err("it is a symbolic link; drop the tree itself".into());
        }
        TorrentPlan::new(src, &self.create_options(&name)).map_err(|e| e.to_string())?;
        Ok(name)
    }

    fn create_options(&self, name: &ReleaseName) -> CreateOptions {
        CreateOptions {
            align: true,
            pack_below_per_mille: self.options.pack_below_per_mille,
            source: Some(format!("anthill-hub-{}", self.key.key_id())),
            name: Some(name.to_string()),
            ..CreateOptions::default()
        }
    }

    /// Moves `src` to `releases/NAME`: a rename, or on another file system a
    /// copy into `tmp/` (each file and directory fsynced), a rename into
    /// place, then removal of the source.
    fn move_in(&mut self, name: &ReleaseName, src: &Path) -> Result<(), String> {
        let target = self.layout.release(name);
        if exists(&target) {
            return Err(format!(
                "{} already exists although no release of that name is recorded; remove it",
                target.display()
            ));
        }
        self.store
            .begin_move(name, now())
            .map_err(|e| e.to_string())?;
        let moved = match std::fs::rename(src, &target) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
                self.copy_in(name, src, &target)
            }
            Err(e) => Err(format!("cannot move it into {}: {e}", target.display())),
        };
        let synced = moved.and_then(|()| {
            storage::sync_dir(&self.layout.releases())
                .and_then(|()| storage::sync_dir(&self.layout.incoming()))
                .map_err(|e| format!("cannot sync the move: {e}"))
        });
        if let Err(reason) = synced {
            if let Err(e) = self.store.forget(name.as_str()) {
                warn!(release = %name, error = %e, "cannot forget a failed move");
            }
            return Err(reason);
        }
        self.store
            .set_state(name.as_str(), ReleaseState::Moved)
            .map_err(|e| e.to_string())
    }

    fn copy_in(&self, name: &ReleaseName, src: &Path, target: &Path) -> Result<(), String> {
        let partial = self.layout.tmp().join(name.as_str());
        let copied = copy_tree(src, &partial).and_then(|()| {
            std::fs::rename(&partial, target)?;
            storage::sync_dir(&self.layout.releases())
        });
        if let Err(e) = copied {
            let _ = remove_tree(&partial);
            return Err(format!("cannot copy it into {}: {e}", target.display()));
        }
        if let Err(e) = remove_tree(src) {
            warn!(release = %name, error = %e, "copied in, but cannot remove the source from incoming/");
        }
        Ok(())
    }

    /// Creates the torrent of `releases/NAME`, signs and records it (state
    /// `moved` → `published`).
    fn finish(&mut self, name: &ReleaseName) -> Outcome {
        let started = Instant::now();
        match self.create_and_record(name) {
            Ok((record, metainfo)) => {
                info!(
                    release = %name,
                    seq = record.seq,
                    infohash = %record.infohash,
                    size = record.total_size,
                    files = record.file_count,
                    piece_length = record.piece_length,
                    seconds = started.elapsed().as_secs_f64(),
                    "published"
                );
                Outcome::Published(Arc::new(record), metainfo)
            }
            Err(reason) => {
                // The data is in releases/ but unpublished: take it back out.
                let data = self.layout.release(name);
                let rejection = self.reject(&data, name.as_str(), reason);
                if let Err(e) = self.store.forget(name.as_str()) {
                    warn!(release = %name, error = %e, "cannot forget a failed publish");
                }
                Outcome::Rejected(rejection)
            }
        }
    }

    fn create_and_record(
        &mut self,
        name: &ReleaseName,
    ) -> Result<(ReleaseRecord, Box<Metainfo>), String> {
        let data = self.layout.release(name);
        let plan =
            TorrentPlan::new(&data, &self.create_options(name)).map_err(|e| e.to_string())?;
        let hash = HashOptions {
            threads: self.options.hash_threads,
            ..HashOptions::default()
        };
        let info = plan.hash(&hash, &()).map_err(|e| e.to_string())?;
        let published_at = now();
        let metainfo = Metainfo::new(info)
            .with_announce(vec![
                vec![self.urls.announce()],
                vec![self.urls.udp_announce().to_string()],
            ])
            .with_web_seeds(vec![self.urls.webseed()])
            .with_created_by(Some(format!("anthill hub {}", env!("CARGO_PKG_VERSION"))))
            .with_creation_date(Some(published_at));
        let torrent = metainfo.to_bytes();
        let infohash = metainfo.infohash();
        write_seed_resume(&self.layout.releases(), &metainfo)
            .map_err(|e| format!("cannot record the verified data: {e}"))?;
        let new = NewRelease {
            infohash,
            total_size: plan.data_length(),
            file_count: plan.file_count() as u64,
            piece_length: metainfo.info().piece_length(),
            pieces: metainfo.info().num_pieces() as u64,
            published_at,
            torrent: &torrent,
        };
        let key = &self.key;
        let seq = self
            .store
            .publish(name, &new, |seq| {
                let manifest = Manifest {
                    format: Manifest::FORMAT,
                    hub: key.key_id(),
                    seq,
                    name: name.clone(),
                    infohash,
                    total_size: new.total_size,
                    file_count: new.file_count,
                    created: published_at,
                };
                let json = manifest.to_json();
                let sig = key.sign(&json, &manifest.trusted_comment())?;
                Ok::<_, release::SignatureError>((json, sig))
            })
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let record = self
            .store
            .release(name.as_str())
            .map_err(|e| e.to_string())?
            .filter(|r| r.seq == seq)
            .ok_or_else(|| "the published release cannot be read back".to_string())?;
        Ok((record, Box::new(metainfo)))
    }

    /// Moves `path` (if it still exists) to `rejected/NAME` beside a
    /// `NAME.reason` file and records the rejection.
    fn reject(&self, path: &Path, shown: &str, reason: String) -> Rejection {
        warn!(entry = %shown, %reason, "rejected");
        let moved_to = if std::fs::symlink_metadata(path).is_ok() {
            let dest = free_name(
                &self.layout.rejected(),
                path.file_name().unwrap_or_default(),
            );
            match std::fs::rename(path, &dest) {
                Ok(()) => {
                    let mut reason_file = dest.clone().into_os_string();
                    reason_file.push(".reason");
                    if let Err(e) = storage::write_atomic(
                        Path::new(&reason_file),
                        format!("{reason}\n").as_bytes(),
                    ) {
                        warn!(entry = %shown, error = %e, "cannot write the reason file");
                    }
                    let _ = storage::sync_dir(&self.layout.rejected());
                    Some(format!(
                        "rejected/{}",
                        dest.file_name().unwrap_or_default().to_string_lossy()
                    ))
                }
                Err(e) => {
                    warn!(entry = %shown, error = %e, "cannot move the rejected entry to rejected/");
                    None
                }
            }
        } else {
            None
        };
        let r = Rejection {
            name: shown.to_string(),
            reason,
            at: now(),
            moved_to,
        };
        if let Err(e) = self.store.reject(&r) {
            warn!(entry = %shown, error = %e, "cannot record the rejection");
        }
        r
    }

    /// Retires the published releases past `keep` (oldest first): out of the
    /// database's published set. Their data is deleted by
    /// [`Publisher::delete_data`] once they are no longer seeded.
    pub fn retire_old(&mut self) -> Result<Vec<ReleaseRecord>, HubError> {
        let published = self.store.published()?;
        let keep = self.options.keep.max(1);
        let mut retired = Vec::new();
        for r in published.into_iter().skip(keep) {
            self.store.retire(&r.name, now())?;
            info!(release = %r.name, seq = r.seq, "retired (past keep)");
            retired.push(r);
        }
        Ok(retired)
    }

    /// Deletes a retired release's data and resume state: renamed into
    /// `tmp/` first (one atomic step out of `releases/`), then removed.
    pub fn delete_data(&self, name: &ReleaseName) {
        let data = self.layout.release(name);
        if exists(&data) {
            let trash = free_name(
                &self.layout.tmp(),
                std::ffi::OsStr::new(&format!("trash-{name}")),
            );
            match std::fs::rename(&data, &trash) {
                Ok(()) => {
                    if let Err(e) = remove_tree(&trash) {
                        warn!(release = %name, error = %e, "cannot delete retired data; it is cleared at the next start");
                    }
                }
                Err(e) => warn!(release = %name, error = %e, "cannot delete retired data"),
            }
        }
        if let Ok(Some(r)) = self.store.release(name.as_str()) {
            let _ = std::fs::remove_file(swarm::resume_path(&self.layout.releases(), &r.infohash));
        }
    }

    /// Writes everything under `public/` from the database (and `torrents/`).
    pub fn write_public(&mut self, public: &mut PublicFiles) -> Result<(), HubError> {
        let published = self.store.published()?;
        let entries: Vec<IndexEntry> = published
            .iter()
            .map(|r| IndexEntry {
                seq: r.seq,
                name: r.name.clone(),
                infohash: r.infohash,
            })
            .collect();
        let index = self.current_index(entries)?;
        public.write(
            &self.layout,
            &self.store,
            &self.urls,
            &self.key,
            &published,
            index,
        )
    }

    /// The signed index: the stored one while it lists the same releases and
    /// is less than a day old, else a new one (stored).
    fn current_index(&self, entries: Vec<IndexEntry>) -> Result<(Vec<u8>, String), HubError> {
        let now = now();
        if let (Some(json), Some(sig)) = (
            self.store.meta("index_json")?,
            self.store.meta("index_sig")?,
        ) {
            if let Ok(old) = ReleaseIndex::from_json(json.as_bytes()) {
                let mut sorted = entries.clone();
                sorted.sort_by_key(|r| std::cmp::Reverse(r.seq));
                if old.releases == sorted
                    && now - old.issued_at < 24 * 3600
                    && old.hub == self.key.key_id()
                {
                    return Ok((json.into_bytes(), sig));
                }
            }
        }
        let index = ReleaseIndex::new(self.key.key_id(), now, entries);
        let json = index.to_json();
        let sig = self.key.sign(&json, &index.trusted_comment())?;
        self.store
            .set_meta("index_json", &String::from_utf8_lossy(&json))?;
        self.store.set_meta("index_sig", &sig)?;
        Ok((json, sig))
    }
}

/// Writes a resume state saying every piece of `metainfo` is verified in
/// `dir` (it was just hashed), so the seeder starts without hashing the
/// data again. The files are synced first: the state must never claim
/// bytes that are not durable (storage's `STATE.md`).
fn write_seed_resume(dir: &Path, metainfo: &Metainfo) -> Result<(), String> {
    let info = Arc::new(metainfo.info().clone());
    let store = storage::FileStorage::open(
        Arc::clone(&info),
        dir,
        storage::OpenMode::Seed,
        storage::FileStorageOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    sync_files(dir, &info).map_err(|e| e.to_string())?;
    let state = storage::ResumeState::capture(
        metainfo.infohash(),
        &store,
        storage::PieceSet::full(info.num_pieces()),
    );
    let path = swarm::resume_path(dir, &metainfo.infohash());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    state.save(&path).map_err(|e| e.to_string())
}

/// `fdatasync`s every file of the torrent and its directories.
fn sync_files(dir: &Path, info: &metainfo::Info) -> std::io::Result<()> {
    let mut dirs = std::collections::BTreeSet::new();
    for f in info.files().iter().filter(|f| !f.is_pad()) {
        let p = dir.join(info.file_relative_path(f));
        std::fs::File::open(&p)?.sync_data()?;
        if let Some(parent) = p.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for d in dirs {
        storage::sync_dir(&d)?;
    }
    Ok(())
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Removes a file or a directory tree (never following symlinks).
pub fn remove_tree(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `dir/name`, or `dir/name.1`, `dir/name.2`, … if taken.
fn free_name(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let first = dir.join(name);
    if !exists(&first) && !exists(&with_suffix(&first, ".reason")) {
        return first;
    }
    (1u32..)
        .map(|i| {
            let mut n = name.to_os_string();
            n.push(format!(".{i}"));
            dir.join(n)
        })
        .find(|p| !exists(p) && !exists(&with_suffix(p, ".reason")))
        .unwrap_or(first)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copies a file or tree (regular files and directories only; the tree was
/// checked), fsyncing every file and directory it creates.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(src)?;
    if meta.is_dir() {
        std::fs::create_dir(dst)?;
        for e in std::fs::read_dir(src)? {
            let e = e?;
            copy_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        std::fs::set_permissions(dst, meta.permissions())?;
        storage::sync_dir(dst)
    } else if meta.is_file() {
        std::fs::copy(src, dst)?;
        std::fs::File::open(dst)?.sync_all()
    } else {
        Err(std::io::Error::other(format!(
            "{} is not a regular file",
            src.display()
        )))
    }
}

/// A cheap digest of a tree's shape: every path, size and modification
/// time. An entry is settled when this stays the same for `settle`.
fn fingerprint(p: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stack = vec![p.to_path_buf()];
    let mut n = 0u32;
    while let Some(p) = stack.pop() {
        n += 1;
        if n > 1_000_000 {
            break;
        }
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            p.hash(&mut h);
            continue;
        };
        p.hash(&mut h);
        m.len().hash(&mut h);
        m.modified().ok().hash(&mut h);
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                let mut children: Vec<_> = rd.flatten().map(|e| e.path()).collect();
                children.sort();
                stack.extend(children);
            }
        }
    }
    h.finish()
}
