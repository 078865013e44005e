//! Reading a file a user named, with a size cap that holds for anything:
//! a regular file over the cap is refused before it is read, and a device,
//! FIFO or stdin is read only up to the cap plus one byte. `std::fs::read`
//! on `/dev/zero` would otherwise fill memory.

use std::io::{self, Read};
use std::path::Path;

/// Reads all of `path`, refusing more than `limit` bytes. A file that is too
/// large is an [`io::ErrorKind::InvalidData`] error saying the limit.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(limit));
    }
    let hint = if meta.is_file() { meta.len() } else { 0 };
    read_to_limit(file, limit, hint)
}

/// Reads `reader` to its end, refusing more than `limit` bytes (at most
/// `limit + 1` bytes are ever read). `hint` sizes the buffer.
pub fn read_to_limit(reader: impl Read, limit: u64, hint: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(hint.min(limit)).unwrap_or(0));
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

fn too_large(limit: u64) -> io::Error {
    let shown = if limit >= 1 << 20 && limit % (1 << 20) == 0 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than the limit of {shown}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_limited(&p, 5).unwrap(), b"12345");
        let e = read_limited(&p, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "larger than the limit of 4 bytes");
    }

    #[test]
    fn endless_device_stops_at_the_limit() {
        let e = read_limited(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().ends_with("limit of 1 MiB"), "{e}");
    }

    #[test]
    fn endless_reader_is_read_only_to_the_limit_plus_one() {
        struct Counting(u64);
        impl Read for Counting {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(7);
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
        }
        let mut r = Counting(0);
        assert!(read_to_limit(&mut r, 1000, 0).is_err());
        assert_eq!(r.0, 1001);
        assert_eq!(read_to_limit(&b"abc"[..], 3, 0).unwrap(), b"abc");
    }

    #[test]
    fn directory_and_missing_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_limited(dir.path(), 10).is_err());
        let e = read_limited(&dir.path().join("nope"), 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
