//! Reading the files a user names (torrents, configs, allow lists) through
//! the one bounded reader, [`metainfo::read_limited`]: the cap holds for
//! devices, FIFOs and stdin as well as regular files.

use std::path::Path;

use anyhow::Context;

/// Most bytes read from a `.torrent` file.
pub(crate) const TORRENT_LIMIT: u64 = metainfo::MAX_TORRENT_FILE_SIZE as u64;
/// Most bytes read from a TOML config file.
pub(crate) const CONFIG_LIMIT: u64 = 1 << 20;

/// Whether `path` names stdin (`-`).
pub(crate) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// `path` for messages: `<stdin>` for `-`, control characters escaped.
pub(crate) fn name(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".to_string()
    } else {
        crate::shown::path(path)
    }
}

/// Reads all of `path` (`-` is stdin), refusing more than `limit` bytes.
pub(crate) fn read(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let bytes = if is_stdin(path) {
        metainfo::read_to_limit(std::io::stdin().lock(), limit, 0)
    } else {
        metainfo::read_limited(path, limit)
    };
    bytes.with_context(|| format!("cannot read {}", name(path)))
}

/// Reads a UTF-8 text file (`-` is stdin), refusing more than `limit` bytes.
pub(crate) fn read_text(path: &Path, limit: u64) -> anyhow::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| anyhow::anyhow!("cannot read {}: not UTF-8 text", name(path)))
}
