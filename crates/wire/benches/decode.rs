//! Throughput of decoding a stream of 16 KiB `piece` messages, the hot path of
//! a download. The stream is fed in 64 KiB "socket reads" (copied into the
//! decoder's buffer, as a kernel read would), so the decoder's cost shows up as
//! the gap to `memcpy_baseline`, which does the same copies and no decoding.
//!
//! Besides criterion's report (means, which the shared machine's stalls
//! inflate), `cargo bench -p anthill-wire --bench decode` prints one summary
//! line with the median GB/s of both, measured alternately in the same run,
//! and their ratio. The 16 MiB stream fits in L3, as data fresh from a socket
//! read would be.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput};
use wire::{BlockOffset, DecoderOptions, Message, MessageDecoder, Piece, PieceIndex};

const BLOCK: usize = 16 * 1024;
const BLOCKS: usize = 1024; // 16 MiB per pass
const READ: usize = 64 * 1024;
const BUFFER: usize = 256 * 1024;

fn stream() -> Bytes {
    let mut out = BytesMut::with_capacity(BLOCKS * (BLOCK + 13));
    let data = Bytes::from(vec![0xa5u8; BLOCK]);
    for i in 0..BLOCKS {
        let i = u32::try_from(i).expect("small");
        Message::Piece(Piece {
            index: PieceIndex(i / 16),
            offset: BlockOffset((i % 16) * 16 * 1024),
            data: data.clone(),
        })
        .encode(&mut out);
    }
    out.freeze()
}

/// Feeds `stream` in `READ`-sized reads and decodes everything; returns the
/// number of block bytes seen.
fn decode_stream(stream: &[u8]) -> usize {
    // as recommended on `MessageDecoder`: a roomy buffer, reserve before each read
    let mut d =
        MessageDecoder::with_buffer(BytesMut::with_capacity(BUFFER), DecoderOptions::default());
    let mut seen = 0;
    for chunk in stream.chunks(READ) {
        let buf = d.buffer_mut();
        buf.reserve(READ);
        buf.extend_from_slice(chunk);
        while let Some(m) = d.next_message().expect("valid stream") {
            if let Message::Piece(p) = m {
                seen += black_box(p.data).len();
            }
        }
    }
    seen
}

/// The same reads into a buffer that is then discarded: the floor.
fn memcpy_stream(stream: &[u8]) -> usize {
    let mut buf = BytesMut::with_capacity(BUFFER);
    let mut seen = 0;
    for chunk in stream.chunks(READ) {
        buf.reserve(READ);
        buf.extend_from_slice(chunk);
        seen += black_box(&buf[..]).len();
        buf.clear();
    }
    seen
}

/// Decoding alone, from a buffer that already holds the whole stream.
fn decode_prefilled(mut buf: BytesMut) -> usize {
    let opts = DecoderOptions::default();
    let mut seen = 0;
    while let Some(m) = wire::decode_message(&mut buf, &opts).expect("valid stream") {
        if let Message::Piece(p) = m {
            seen += black_box(p.data).len();
        }
    }
    seen
}

fn bench(c: &mut Criterion) {
    let s = stream();
    let mut g = c.benchmark_group("piece_stream_16MiB");
    g.throughput(Throughput::Bytes(s.len() as u64));
    g.sample_size(30);
    g.bench_function("decode_64KiB_reads", |b| {
        b.iter(|| decode_stream(black_box(&s)))
    });
    g.bench_function("memcpy_baseline", |b| {
        b.iter(|| memcpy_stream(black_box(&s)))
    });
    g.bench_function("decode_prefilled", |b| {
        b.iter_batched(
            || BytesMut::from(&s[..]),
            decode_prefilled,
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Median GB/s of each of `fs` over `bytes` per call. The candidates run in
/// alternation, so drift on a shared machine hits them alike.
fn median_gbps<const N: usize>(bytes: usize, fs: [&dyn Fn() -> usize; N]) -> [f64; N] {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    while Instant::now() < deadline || times[0].len() < 5 {
        for (f, t) in fs.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            black_box(f());
            t.push(start.elapsed());
        }
    }
    times.map(|mut t| {
        t.sort_unstable();
        bytes as f64 / t[t.len() / 2].as_secs_f64() / 1e9
    })
}

fn summary() {
    let s = stream();
    assert_eq!(decode_stream(&s), BLOCKS * BLOCK);
    let [decode, memcpy] = median_gbps(s.len(), [&|| decode_stream(&s), &|| memcpy_stream(&s)]);
    println!(
        "wire decode of 16 KiB piece stream (64 KiB reads): {decode:.2} GB/s; \
         memcpy baseline {memcpy:.2} GB/s; decode/memcpy ratio {:.2}; engine target 0.70 GB/s",
        decode / memcpy
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    // `cargo test --all-targets` runs benches in test mode: skip the timed summary there.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
