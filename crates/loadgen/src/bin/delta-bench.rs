//! What delta reuse (issue 9) saves: an in-process hub publishes release 1
//! of a 2000-file tree (about 200 MiB, mixed sizes plus one 64 MiB file),
//! N in-process agents install it over loopback, then release 2 changes 20
//! files and overwrites the big file in place in 1 MiB. Prints per agent
//! the bytes received for release 2 against the changed bytes (target at
//! most 1.2), the bytes reused from release 1 and the time to activate,
//! plus the hub's metadata size (the `.torrent`). Run through
//! `scripts/bench-delta`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sha1::{Digest, Sha1};

/// Release 1 then release 2 of a big tree to a few agents.
#[derive(Debug, Parser)]
struct Args {
    /// Agents (in this process, each with its own directory and peer port).
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// Files in the tree besides the big one.
    #[arg(long, default_value_t = 1999)]
    files: usize,
    /// Size of the big file, MiB.
    #[arg(long, default_value_t = 64)]
    big_mib: usize,
    /// Files changed in release 2.
    #[arg(long, default_value_t = 20)]
    changed: usize,
    /// Bytes of the big file overwritten in place in release 2.
    #[arg(long, default_value_t = 1 << 20)]
    region: usize,
    /// Work directory (default: a temporary one, deleted at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The hub's `pack_below_fraction`: files under this fraction of a
    /// piece are packed together instead of aligned (0 aligns every file).
    #[arg(long)]
    pack_below: Option<f64>,
    /// Seconds allowed for each phase.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Log-uniform sizes from 128 B to 512 KiB (about 130 MiB for 2000 files).
fn sizes(n: usize) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(9);
    (0..n)
        .map(|_| 2f64.powf(7.0 + rng.f64() * 12.0) as usize)
        .collect()
}

fn file_path(i: usize) -> String {
    format!("d{:02}/s{:02}/f{i:04}.dat", i % 23, i % 7)
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), to)?;
        }
    }
    Ok(())
}

fn checksums(root: &Path) -> std::io::Result<Vec<(PathBuf, [u8; 20])>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap_or(&e.path())
                    .to_path_buf();
                out.push((rel, Sha1::digest(std::fs::read(e.path())?).into()));
            }
        }
    }
    out.sort();
    Ok(out)
}

struct Bench {
    hub: hub::Hub,
    hub_dir: PathBuf,
    client: agent::http::Client,
    timeout: Duration,
}

impl Bench {
    /// Publishes a copy of `src` as `name`; returns the hub's view of it.
    async fn publish(&self, name: &str, src: &Path) -> anyhow::Result<serde_json::Value> {
        let layout = hub::Layout::new(&self.hub_dir);
        let tmp = self.hub_dir.with_extension(format!("copy-{name}"));
        copy_tree(src, &tmp)?;
        std::fs::rename(&tmp, layout.incoming().join(name))?;
        storage::write_atomic(&layout.ready_marker(name), b"")?;
        let url = format!("{}/api/releases/{name}", self.hub.url());
        let body = tokio::time::timeout(self.timeout, async {
            loop {
                if let Ok(b) = self.client.get_body(&url, 1 << 20).await {
                    return b;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .context("the hub did not publish in time")?;
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Real bytes (pad not counted) of the pieces of `new` whose hash is in no
/// piece of `old`: what any piece-granular reuse must still fetch.
fn piece_floor(old: &metainfo::Info, new: &metainfo::Info) -> u64 {
    let known: std::collections::HashSet<&[u8; 20]> = old.pieces().iter().collect();
    (0..new.num_pieces())
        .filter(|&i| !known.contains(&new.pieces()[i]))
        .map(|i| {
            new.piece_spans(i)
                .filter(|s| !new.files()[s.file].is_pad())
                .map(|s| s.len)
                .sum::<u64>()
        })
        .sum()
}

async fn wait_active(a: &agent::Agent, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let mut rx = a.snapshot();
    let ok = tokio::time::timeout(
        timeout,
        rx.wait_for(|s| {
            s.current.as_deref() == Some(name)
                && s.release(name).is_some_and(|r| r.state == "active")
        }),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    match ok {
        true => Ok(()),
        false => bail!("agent never activated {name}: {:#?}", *rx.borrow()),
    }
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        // e.g. RUST_LOG=agent=info shows each agent's reuse line (pieces,
        // bytes, time spent copying and hashing).
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;
    let timeout = Duration::from_secs(args.timeout);

    // The tree.
    let src = root.join("tree");
    let sizes = sizes(args.files);
    for (i, len) in sizes.iter().enumerate() {
        let p = src.join(file_path(i));
        std::fs::create_dir_all(p.parent().context("no parent")?)?;
        std::fs::write(p, bytes(*len, i as u64))?;
    }
    let big_len = args.big_mib << 20;
    std::fs::write(src.join("big.img"), bytes(big_len, 1_000_000))?;
    let tree_bytes: u64 = sizes.iter().map(|s| *s as u64).sum::<u64>() + big_len as u64;
    println!("tree: {} files, {}", args.files + 1, mib(tree_bytes));

    // The hub.
    let hub_dir = root.join("hub");
    let mut config = hub::HubConfig {
        dir: hub_dir.clone(),
        listen: "127.0.0.1:0".parse()?,
        public_url: None,
        peer_listen: vec!["127.0.0.1:0".parse()?],
        settle: tracker::HumanDuration(Duration::from_millis(200)),
        ..Default::default()
    };
    if let Some(f) = args.pack_below {
        config.pack_below_fraction = f;
    }
    let listeners = hub::Listeners::bind(config.listen)?;
    let hub = hub::Hub::start(config, listeners).await?;
    let bench = Bench {
        hub,
        hub_dir: hub_dir.clone(),
        client: agent::http::Client::new(Duration::from_secs(30))?,
        timeout,
    };
    let key = std::fs::read_to_string(hub_dir.join("keys/hub.pub"))?;
    let key = release::PublicKey::parse(&key)?.to_base64();
    let feed = format!("{}/feed.xml", bench.hub.url());

    let t = Instant::now();
    let v1 = bench.publish("rel-1", &src).await?;
    println!(
        "release 1 published in {:.1?}: piece {} B, {} pieces, .torrent {} B",
        t.elapsed(),
        v1["piece_length"],
        v1["pieces"],
        v1["torrent_size"]
    );

    // The agents install release 1.
    let mut agents = Vec::new();
    let t = Instant::now();
    for i in 0..args.agents {
        let c = agent::AgentConfig {
            feeds: vec![feed.clone()],
            dir: root.join(format!("agent-{i}")),
            listen: None,
            peer_listen: vec!["127.0.0.1:0".parse()?],
            trust: vec![key.clone()],
            name: Some(format!("agent-{i}")),
            ..Default::default()
        };
        agents.push(agent::Agent::start(c).await?);
    }
    for a in &agents {
        wait_active(a, "rel-1", timeout).await?;
    }
    println!(
        "release 1 active on {} agents in {:.1?}",
        agents.len(),
        t.elapsed()
    );
    let old_sums: Vec<_> = (0..agents.len())
        .map(|i| checksums(&root.join(format!("agent-{i}/releases/rel-1"))))
        .collect::<Result<_, _>>()?;

    // Release 2: some files rewritten, the big file overwritten in place.
    let mut rng = fastrand::Rng::with_seed(77);
    let mut changed_bytes = 0u64;
    let mut picked = std::collections::HashSet::new();
    while picked.len() < args.changed.min(args.files) {
        picked.insert(rng.usize(..args.files));
    }
    for &i in &picked {
        let b = bytes(sizes[i], 5_000_000 + i as u64);
        changed_bytes += b.len() as u64;
        std::fs::write(src.join(file_path(i)), b)?;
    }
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(src.join("big.img"))?;
        let at = (big_len / 3) as u64 + 12_345; // not on a piece boundary
        f.write_all_at(&bytes(args.region, 42), at)?;
        changed_bytes += args.region as u64;
    }
    let t = Instant::now();
    let v2 = bench.publish("rel-2", &src).await?;
    let published = t.elapsed();
    let piece = v2["piece_length"].as_u64().unwrap_or(0);
    println!(
        "release 2 published in {published:.1?}: {} files changed + {} in the big file = {} changed",
        picked.len(),
        mib(args.region as u64),
        mib(changed_bytes)
    );
    let torrent = |v: &serde_json::Value| {
        let url = v["torrent_url"].as_str().unwrap_or_default().to_string();
        let c = bench.client.clone();
        async move {
            let b = c.get_body(&url, metainfo::MAX_TORRENT_FILE_SIZE).await?;
            anyhow::Ok(metainfo::Metainfo::from_bytes(&b)?)
        }
    };
    let (m1, m2) = (torrent(&v1).await?, torrent(&v2).await?);
    let floor = piece_floor(m1.info(), m2.info());
    println!(
        "pieces of release 2 not in release 1: {} real bytes ({:.3} x changed): the least a piece-granular reuse can fetch",
        mib(floor),
        floor as f64 / changed_bytes as f64
    );
    let t = Instant::now();
    let mut times = Vec::new();
    for a in &agents {
        wait_active(a, "rel-2", timeout).await?;
        times.push(t.elapsed());
    }
    let new_src = checksums(&src)?;
    println!();
    println!(
        "{:<8} {:>12} {:>9} {:>7} {:>12} {:>9} {:>10}",
        "agent", "received", "/changed", "/floor", "reused", "time", "identical"
    );
    let mut worst = 0f64;
    for (i, a) in agents.iter().enumerate() {
        let snap = a.snapshot().borrow().clone();
        let r = snap.release("rel-2").context("no rel-2")?;
        let got = r.downloaded_bytes.unwrap_or(0);
        let ratio = got as f64 / changed_bytes as f64;
        worst = worst.max(ratio);
        let dir = root.join(format!("agent-{i}/releases"));
        let same = checksums(&dir.join("rel-2"))? == new_src
            && checksums(&dir.join("rel-1"))? == old_sums[i];
        println!(
            "agent-{i:<2} {:>12} {:>9.3} {:>7.3} {:>12} {:>9.1?} {:>10}",
            mib(got),
            ratio,
            got as f64 / floor.max(1) as f64,
            mib(r.reused_bytes.unwrap_or(0)),
            times[i],
            if same { "yes" } else { "NO" }
        );
        if !same {
            bail!("agent-{i}: a release differs from its source");
        }
    }
    println!();
    println!(
        "hub metadata: rel-1 .torrent {} B, rel-2 .torrent {} B ({} pieces of {} B)",
        v1["torrent_size"], v2["torrent_size"], v2["pieces"], piece
    );
    println!(
        "worst received/changed: {worst:.3} (target <= 1.2){}",
        if worst <= 1.2 { "" } else { "  MISSED" }
    );
    for a in agents {
        a.stop().await?;
    }
    bench.hub.stop().await?;
    Ok(())
}
