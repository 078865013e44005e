//! Storage throughput against the raw system calls it wraps, measured in the
//! same run (the machine is shared and noisy, so only ratios mean much).
//!
//! `cargo bench -p anthill-storage` runs it at full size (256 MiB through
//! the page cache); without `--bench` (as `cargo test --all-targets` runs it)
//! it does a tiny smoke pass.
//!
//! - write: `write_piece` of 256 KiB pieces into an 8-file torrent vs one
//!   `pwrite` per piece into a single preopened file.
//! - read: `read_block` of 16 KiB blocks (what peers request) vs `pread`.
//!
//! Each figure is the best of three passes; the data stays in the page
//! cache, so this measures the layer's own overhead, not the disk.
//!
//! - recheck: `check_existing` on 2 threads vs SHA-1 of the same bytes
//!   already in memory on 1 thread.

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;

use metainfo::{FileEntry, Info};
use sha1::{Digest, Sha1};
use storage::{FileStorage, FileStorageOptions, OpenMode, PieceIndex, Storage, check_existing};

const PIECE: usize = 256 << 10;
const BLOCK: usize = 16 << 10;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let total: usize = if full { 256 << 20 } else { 4 << 20 };
    let files = 8;
    let data: Vec<u8> = (0..total)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let pieces = data.chunks(PIECE).map(|c| Sha1::digest(c).into()).collect();
    let per_file = u64::try_from(total / files).unwrap();
    let entries = (0..files)
        .map(|i| FileEntry::new(vec![format!("f{i}")], per_file))
        .collect();
    let info = Arc::new(Info::multi(
        "bench",
        u64::try_from(PIECE).unwrap(),
        pieces,
        entries,
    ));
    let dir = tempfile::tempdir().unwrap();
    let n = info.num_pieces();
    let mb = total as f64 / (1 << 20) as f64;

    // write
    let store = FileStorage::open(
        info,
        dir.path(),
        OpenMode::Download,
        FileStorageOptions::default(),
    )
    .unwrap();
    let ours = time(|| {
        for (i, c) in data.chunks(PIECE).enumerate() {
            store
                .write_piece(PieceIndex::from_usize(i).unwrap(), black_box(c))
                .unwrap();
        }
    });
    let raw_file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("raw"))
        .unwrap();
    raw_file.set_len(u64::try_from(total).unwrap()).unwrap();
    let raw = time(|| {
        for (i, c) in data.chunks(PIECE).enumerate() {
            raw_file
                .write_all_at(black_box(c), u64::try_from(i * PIECE).unwrap())
                .unwrap();
        }
    });
    report("write_piece", mb, ours, raw, "pwrite");

    // read
    let mut buf = vec![0u8; BLOCK];
    let ours = time(|| {
        for i in 0..n {
            for off in (0..PIECE).step_by(BLOCK) {
                store
                    .read_block(
                        PieceIndex::from_usize(i).unwrap(),
                        u32::try_from(off).unwrap(),
                        &mut buf,
                    )
                    .unwrap();
                black_box(&buf);
            }
        }
    });
    let raw = time(|| {
        for pos in (0..total).step_by(BLOCK) {
            raw_file
                .read_exact_at(&mut buf, u64::try_from(pos).unwrap())
                .unwrap();
            black_box(&buf);
        }
    });
    report("read_block 16k", mb, ours, raw, "pread");

    // recheck
    let mut ok = 0;
    let ours = time(|| ok = check_existing(&store, 2, |_| {}).count());
    assert_eq!(ok, n, "recheck must verify every piece");
    let raw = time(|| {
        for c in data.chunks(PIECE) {
            black_box(Sha1::digest(c));
        }
    });
    report("check_existing x2", mb, ours, raw, "in-memory sha1 x1");
}

/// Best of three runs, in seconds.
fn time(mut f: impl FnMut()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn report(name: &str, mb: f64, ours: f64, peer: f64, peer_name: &str) {
    println!(
        "{name:<20} {:>8.0} MiB/s   {peer_name:<18} {:>8.0} MiB/s   ratio {:.2}",
        mb / ours,
        mb / peer,
        peer / ours
    );
}
