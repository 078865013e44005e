use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::driver::{Drivers, libtorrent::PYTHON};
use super::{
    AgentReport, Client, FleetError, FleetOptions, FleetReport, Payload, TrackerKind, payload,
    t_min, tracker,
};
use crate::{Counters, Host, HostOptions, Net, NetOptions, cmd};

/// How often the runner looks for finished agents and dead processes.
const POLL: Duration = Duration::from_millis(50);
/// Lines of each process log shown when a run fails.
const LOG_TAIL: usize = 25;
/// Time for the tracker to start answering.
const TRACKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the origin to show up as a seeder on the tracker.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The file's name inside the torrent.
const FILE_NAME: &str = "payload.bin";
/// The tree's name inside the torrent.
const TREE_NAME: &str = "payload";

/// What every copy must hold.
enum Expected {
    File([u8; 32]),
    Tree(Vec<payload::TreeFile>),
}

/// Checks that everything `options` needs is installed. Returns the anthill
/// binary when the client or the tracker is anthill.
pub fn check_prerequisites(options: &FleetOptions) -> Result<Option<PathBuf>, FleetError> {
    let missing = |program: &str, hint: &str| FleetError::MissingProgram {
        program: program.to_owned(),
        hint: hint.to_owned(),
    };
    let setup = "install it with scripts/setup";
    for program in ["ip", "tc", "mktorrent", "curl"] {
        find_in_path(program).ok_or_else(|| missing(program, setup))?;
    }
    if options.tracker == TrackerKind::Opentracker {
        find_in_path("opentracker").ok_or_else(|| missing("opentracker", setup))?;
    }
    match options.client {
        Client::Libtorrent => {
            let ok = Command::new(PYTHON)
                .args(["-c", "import libtorrent"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                return Err(missing(
                    "python3-libtorrent",
                    "/usr/bin/python3 cannot import libtorrent; install python3-libtorrent with scripts/setup",
                ));
            }
        }
        Client::Aria2 => {
            find_in_path("aria2c").ok_or_else(|| missing("aria2c", setup))?;
        }
        Client::Anthill => {}
    }
    let aligned = matches!(options.payload, Payload::Tree { aligned: true, .. });
    if options.client == Client::Anthill || options.tracker == TrackerKind::Anthill || aligned {
        return resolve_anthill(options.anthill_bin.as_deref()).map(Some);
    }
    Ok(None)
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The anthill binary: the option, `$ANTHILL_BIN`, else the newest of the
/// workspace's `target/{release,debug}/anthill`.
fn resolve_anthill(explicit: Option<&Path>) -> Result<PathBuf, FleetError> {
    let hint = "build it with `cargo build -p anthill` (or --release), or set ANTHILL_BIN";
    let given = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("ANTHILL_BIN").map(PathBuf::from));
    if let Some(bin) = given {
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(FleetError::MissingProgram {
                program: bin.display().to_string(),
                hint: hint.to_owned(),
            })
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("anthill"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .ok_or_else(|| FleetError::MissingProgram {
            program: format!("anthill (looked in {}/{{release,debug}})", target.display()),
            hint: hint.to_owned(),
        })
}

/// Runs one fleet scenario (see the [module docs](super)) and reports it.
pub fn run_fleet(options: &FleetOptions) -> Result<FleetReport, FleetError> {
    if options.agents == 0 || options.size == 0 {
        return Err(FleetError::InvalidOptions(
            "need at least one agent and a file of at least one byte".into(),
        ));
    }
    if !(15..=28).contains(&options.piece_length_log2) {
        return Err(FleetError::InvalidOptions(format!(
            "piece length 2^{} is outside 2^15..2^28",
            options.piece_length_log2
        )));
    }
    let anthill_bin = check_prerequisites(options)?;
    let mut net = Net::with_options(
        &options.prefix,
        NetOptions {
            run_dir: options.run_dir.clone(),
        },
    )?;
    let links = options.links();
    let tracker_host = net.add_host("tracker", HostOptions::default())?;
    let origin = net.add_host(
        "origin",
        HostOptions {
            upload: Some(links.origin_up),
            download: Some(links.origin_down),
            delay: None,
        },
    )?;
    let shaped = HostOptions {
        upload: Some(links.agent_up),
        download: Some(links.agent_down),
        delay: None,
    };
    let agents = (1..=options.agents)
        .map(|i| net.add_host(&format!("agent{i}"), shaped.clone()))
        .collect::<Result<Vec<Host>, _>>()?;
    let drivers = Drivers::prepare(net.run_dir(), anthill_bin.clone())?;

    let data_dir = mkdir(origin.dir().join("data"))?;
    let torrent = net.run_dir().join("payload.torrent");
    let announce = tracker::announce_url(&tracker_host);
    let (name, expected, files, infohash) = match options.payload {
        Payload::File => {
            let original = data_dir.join(FILE_NAME);
            let sha256 = payload::write_random(&original, options.size, options.content_seed)?;
            let ih = make_torrent(&original, &torrent, &announce, options.piece_length_log2)?;
            (FILE_NAME, Expected::File(sha256), 1, ih)
        }
        Payload::Tree { files, aligned } => {
            let root = data_dir.join(TREE_NAME);
            let tree = payload::write_tree(&root, options.size, files, options.content_seed)?;
            let ih = match (aligned, anthill_bin.as_deref()) {
                (true, Some(bin)) => make_aligned_torrent(
                    bin,
                    &root,
                    &torrent,
                    &announce,
                    options.piece_length_log2,
                )?,
                _ => make_torrent(&root, &torrent, &announce, options.piece_length_log2)?,
            };
            if aligned && options.client == Client::Aria2 {
                write_pad_files(&data_dir, &torrent)?;
            }
            let n = u32::try_from(tree.len()).unwrap_or(u32::MAX);
            (TREE_NAME, Expected::Tree(tree), n, ih)
        }
    };

    tracker::start(
        options.tracker,
        &tracker_host,
        &infohash,
        anthill_bin.as_deref(),
    )?;
    wait_for(
        &net,
        "the tracker answering a scrape",
        TRACKER_TIMEOUT,
        || tracker::scrape(&tracker_host, &infohash).map(drop),
    )?;
    origin.spawn(
        "seed",
        drivers.seed(options.client, &origin, &torrent, &data_dir)?,
    )?;
    wait_for(
        &net,
        "the origin showing up as a seeder on the tracker",
        ORIGIN_TIMEOUT,
        || {
            let s = tracker::scrape(&tracker_host, &infohash)?;
            if s.complete >= 1 {
                Ok(())
            } else {
                Err(format!(
                    "the tracker lists {} seeders and {} leechers",
                    s.complete, s.incomplete
                ))
            }
        },
    )?;

    // Build every command first so the crowd really starts at once.
    let mut crowd = Vec::new();
    for agent in &agents {
        let out_dir = mkdir(agent.dir().join("download"))?;
        let marker = agent.dir().join("complete");
        let cmd = drivers.get(options.client, agent, &torrent, &out_dir, &marker)?;
        crowd.push((agent, cmd, marker, out_dir.join(name)));
    }
    let before = counters(&origin, &tracker_host, &agents)?;
    let start = Instant::now();
    let mut pending = Vec::new();
    for (agent, cmd, marker, copy) in crowd {
        agent.spawn("get", cmd)?;
        pending.push((agent, marker, copy));
    }
    let mut done: Vec<Option<Duration>> = vec![None; agents.len()];
    loop {
        for (i, (_, marker, _)) in pending.iter().enumerate() {
            if done[i].is_none() && marker.exists() {
                done[i] = Some(start.elapsed());
            }
        }
        if done.iter().all(Option::is_some) {
            break;
        }
        check_running(&net)?;
        if start.elapsed() > options.deadline {
            return Err(FleetError::Deadline {
                deadline: options.deadline,
                missing: pending
                    .iter()
                    .zip(&done)
                    .filter(|(_, d)| d.is_none())
                    .map(|((a, _, _), _)| a.name().to_owned())
                    .collect(),
                logs: net.log_tails(LOG_TAIL),
            });
        }
        std::thread::sleep(POLL);
    }
    let after = counters(&origin, &tracker_host, &agents)?;
    net.stop_all();

    let copies: Vec<(&Host, &Path)> = pending.iter().map(|(a, _, c)| (*a, c.as_path())).collect();
    verify_copies(&copies, options.size, &expected)?;

    let delta = |i: usize| Counters {
        tx_bytes: after[i].tx_bytes.saturating_sub(before[i].tx_bytes),
        rx_bytes: after[i].rx_bytes.saturating_sub(before[i].rx_bytes),
    };
    let agent_reports = agents
        .iter()
        .zip(&done)
        .enumerate()
        .map(|(i, (a, d))| AgentReport {
            name: a.name().to_owned(),
            done_after: d.unwrap_or_default(),
            counters: delta(i + 2),
        })
        .collect::<Vec<_>>();
    let total = agent_reports
        .iter()
        .map(|a| a.done_after)
        .max()
        .unwrap_or_default();
    let sha256 = match &expected {
        Expected::File(d) => hex::encode(d),
        Expected::Tree(files) => {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for (_, _, d) in files {
                h.update(d);
            }
            hex::encode(h.finalize())
        }
    };
    Ok(FleetReport {
        client: options.client,
        size: options.size,
        files,
        links,
        t_min: t_min(
            options.size,
            options.agents,
            links.origin_up,
            links.agent_down,
            links.agent_up,
        ),
        total,
        origin: delta(0),
        tracker: delta(1),
        agents: agent_reports,
        sha256,
    })
}

fn mkdir(dir: PathBuf) -> Result<PathBuf, FleetError> {
    std::fs::create_dir_all(&dir).map_err(|e| FleetError::io(&dir, e))?;
    Ok(dir)
}

/// Makes a torrent of a file or a directory with mktorrent (no alignment)
/// and returns its infohash.
fn make_torrent(
    path: &Path,
    torrent: &Path,
    announce: &str,
    piece_length_log2: u8,
) -> Result<metainfo::Infohash, FleetError> {
    // mktorrent refuses to overwrite.
    let _ = std::fs::remove_file(torrent);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(FILE_NAME);
    cmd::run(
        Command::new("mktorrent")
            .args(["-a", announce, "-l", &piece_length_log2.to_string()])
            .args(["-n", name, "-t", "2", "-o"])
            .arg(torrent)
            .arg(path),
    )?;
    infohash_of(torrent)
}

/// Makes an aligned torrent of a directory (BEP 47 pad files before every
/// file that would start inside a piece) with `anthill torrent create`.
fn make_aligned_torrent(
    anthill: &Path,
    dir: &Path,
    torrent: &Path,
    announce: &str,
    piece_length_log2: u8,
) -> Result<metainfo::Infohash, FleetError> {
    cmd::run(
        Command::new(anthill)
            .args(["torrent", "create", "--force", "--no-date", "-a", announce])
            .args(["-l", &format!("{}K", (1u64 << piece_length_log2) >> 10)])
            .arg("-o")
            .arg(torrent)
            .arg(dir),
    )?;
    infohash_of(torrent)
}

/// Writes the BEP 47 pad files of `torrent` below `data_dir` as files of
/// zeros. aria2 does not know pad files: it reads and serves them like any
/// other, and an origin without them on disk answers none of the pieces
/// they touch (its agents stalled at the first piece), where a publisher
/// using it would have them.
fn write_pad_files(data_dir: &Path, torrent: &Path) -> Result<(), FleetError> {
    let bytes = std::fs::read(torrent).map_err(|e| FleetError::io(torrent, e))?;
    let meta = metainfo::Metainfo::from_bytes(&bytes).map_err(|e| FleetError::Torrent {
        path: torrent.to_owned(),
        detail: e.to_string(),
    })?;
    let info = meta.info();
    for f in info.files().iter().filter(|f| f.is_pad()) {
        let path = data_dir.join(info.file_relative_path(f));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FleetError::io(dir, e))?;
        }
        let file = std::fs::File::create(&path).map_err(|e| FleetError::io(&path, e))?;
        file.set_len(f.length)
            .map_err(|e| FleetError::io(&path, e))?;
    }
    Ok(())
}

fn infohash_of(torrent: &Path) -> Result<metainfo::Infohash, FleetError> {
    let bytes = std::fs::read(torrent).map_err(|e| FleetError::io(torrent, e))?;
    let meta = metainfo::Metainfo::from_bytes(&bytes).map_err(|e| FleetError::Torrent {
        path: torrent.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(meta.infohash())
}

/// Origin, tracker, then every agent.
fn counters(origin: &Host, tracker: &Host, agents: &[Host]) -> Result<Vec<Counters>, FleetError> {
    let mut v = vec![origin.counters()?, tracker.counters()?];
    for a in agents {
        v.push(a.counters()?);
    }
    Ok(v)
}

/// Every process must still run while the scenario does.
fn check_running(net: &Net) -> Result<(), FleetError> {
    match net.exited().into_iter().next() {
        None => Ok(()),
        Some((p, status)) => Err(FleetError::ProcessExited {
            host: p.host().to_owned(),
            label: p.label().to_owned(),
            status: status.to_string(),
            logs: net.log_tails(LOG_TAIL),
        }),
    }
}

/// Polls `ready` until it is `Ok`, a process dies, or `timeout` passes.
fn wait_for(
    net: &Net,
    step: &'static str,
    timeout: Duration,
    mut ready: impl FnMut() -> Result<(), String>,
) -> Result<(), FleetError> {
    let start = Instant::now();
    loop {
        let detail = match ready() {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        check_running(net)?;
        if start.elapsed() > timeout {
            return Err(FleetError::SetupTimeout {
                step,
                waited: timeout,
                detail,
                logs: net.log_tails(LOG_TAIL),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Size and SHA-256 of every copy (every file of a tree), two at a time.
fn verify_copies(
    copies: &[(&Host, &Path)],
    size: u64,
    expected: &Expected,
) -> Result<(), FleetError> {
    let check_file = |host: &Host, path: &Path, size: u64, sha256: &[u8; 32]| {
        let (len, digest) = payload::sha256_file(path)?;
        let bad = |detail: String| FleetError::BadCopy {
            host: host.name().to_owned(),
            path: path.to_path_buf(),
            detail,
        };
        if len != size {
            return Err(bad(format!("{len} bytes, expected {size}")));
        }
        if &digest != sha256 {
            return Err(bad(format!(
                "sha256 {}, expected {}",
                hex::encode(digest),
                hex::encode(sha256)
            )));
        }
        Ok(())
    };
    let check = |(host, path): &(&Host, &Path)| -> Result<(), FleetError> {
        match expected {
            Expected::File(d) => check_file(host, path, size, d),
            Expected::Tree(files) => files
                .iter()
                .try_for_each(|(rel, len, d)| check_file(host, &path.join(rel), *len, d)),
        }
    };
    let half = copies.len().div_ceil(2);
    let (first, second) = copies.split_at(half);
    std::thread::scope(|s| {
        let other = s.spawn(|| second.iter().try_for_each(check));
        let mine = first.iter().try_for_each(check);
        mine.and(
            other
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        )
    })
}
