//! `anthill agent` as a process: killed with SIGKILL mid-download and
//! while its hook runs, then restarted; plus its configuration surface.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::util::{Hub, Proc, anthill, bin, bytes, free_port, start_hub, status, until};

fn release_state(s: &serde_json::Value, name: &str) -> Option<String> {
    s["releases"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["state"].as_str().map(str::to_string))
}

/// Starts `anthill agent --config CONFIG`, its output appended to CONFIG.log.
fn start_agent(config: &Path) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_extension("log"))
        .unwrap();
    Proc(
        bin()
            .arg("agent")
            .arg("--config")
            .arg(config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Publishes a release of one file, `payload.bin`, through `anthill publish`.
fn publish(tmp: &Path, hub: &Hub, name: &str, payload: &[u8]) {
    let src = tmp.join(name);
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("payload.bin"), payload).unwrap();
    anthill(
        tmp,
        [
            "publish".as_ref(),
            src.as_os_str(),
            "--hub".as_ref(),
            hub.dir.as_os_str(),
        ],
    )
    .expect(0);
}

#[test]
fn agent_killed_mid_download_and_mid_hook_resumes_and_never_reruns_the_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_hub(tmp.path(), &[]);
    let hub_addr = hub.addr;
    let payload = bytes(6 << 20, 5);
    publish(tmp.path(), &hub, "rel-1", &payload);
    let key = hub.key;

    let dir = tmp.path().join("agent");
    let log = tmp.path().join("hook.log");
    let release_hook = tmp.path().join("release-hook");
    let status_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let write_config = |rate: u64| {
        let c = format!(
            "feeds = [\"http://{hub_addr}/feed.xml\"]\ndir = {dir:?}\ntrust = [{key:?}]\n\
             hook = \"echo \\\"$ANTHILL_RELEASE\\\" >> {log} && i=0; while [ ! -e {stop} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\"\n\
             listen = \"{status_addr}\"\npeer_listen = [\"127.0.0.1:0\"]\nmax_download_rate = {rate}\n\
             metadata_timeout_secs = 1.0\nmax_backoff_secs = 1.0\n",
            log = log.display(),
            stop = release_hook.display(),
        );
        let p = tmp.path().join("agent.toml");
        std::fs::write(&p, c).unwrap();
        p
    };

    // 1. Killed mid-download: nothing visible, verified pieces kept.
    let config = write_config(1 << 20);
    let mut agent = start_agent(&config);
    let (have, total) = until("some pieces verified", || {
        let s = status(status_addr)?;
        let t = s["torrents"].as_array()?.first()?.clone();
        let (have, total) = (t["pieces_have"].as_u64()?, t["pieces_total"].as_u64()?);
        (have > 0 && have < total).then_some((have, total))
    });
    agent.0.kill().unwrap();
    agent.0.wait().unwrap();
    assert!(
        !dir.join("current").exists(),
        "current must not name a partial release"
    );
    assert!(
        !dir.join("releases/rel-1").exists(),
        "a partial release must not be under releases/"
    );

    // 2. Restarted: the download resumes with the pieces verified before.
    let config = write_config(4 << 20);
    agent = start_agent(&config);
    let resumed = until("the download restarted", || {
        let s = status(status_addr)?;
        let t = s["torrents"].as_array()?.first()?.clone();
        (t["pieces_total"].as_u64()? == total)
            .then(|| t["pieces_have"].as_u64())
            .flatten()
    });
    assert!(
        resumed >= have,
        "resumed with {resumed} pieces, had {have} verified before the kill"
    );

    // 3. Killed while the hook runs: the hook is never run again.
    until("the hook started", || {
        (std::fs::read_to_string(&log).ok()?.lines().count() == 1).then_some(())
    });
    assert_eq!(
        std::fs::read(dir.join("current/payload.bin")).unwrap(),
        payload
    );
    agent.0.kill().unwrap();
    agent.0.wait().unwrap();
    agent = start_agent(&config);
    let s = until("recorded as active after the restart", || {
        let s = status(status_addr)?;
        (release_state(&s, "rel-1")? == "active").then_some(s)
    });
    let r = s["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "rel-1")
        .unwrap()
        .clone();
    assert!(
        r["hook_status"].as_str().unwrap().contains("interrupted"),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        1,
        "the hook ran once"
    );
    assert_eq!(s["current"], "rel-1");
    std::fs::write(&release_hook, b"").unwrap();

    // 4. SIGTERM stops it cleanly.
    let pid = rustix::process::Pid::from_raw(agent.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let code = agent.0.wait().unwrap();
    assert!(code.success(), "SIGTERM: {code}");
}

/// Where `current` points (`releases/NAME`), if anywhere.
fn current_name(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join("current")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Killed (SIGKILL, by the agent itself through `ANTHILL_AGENT_CRASH_AT`) at
/// each step between a verified download and the switched `current`: every
/// restart finishes the install, `current` only ever names a complete
/// release, nothing partial is under `releases/`, and each hook runs once.
#[test]
fn agent_killed_between_verify_rename_and_switch_finishes_the_install_on_restart() {
    use std::os::unix::process::ExitStatusExt;

    let tmp = tempfile::tempdir().unwrap();
    let hub = start_hub(tmp.path(), &[]);
    let dir = tmp.path().join("agent");
    let log = tmp.path().join("hook.log");
    let status_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "feeds = [\"http://{}/feed.xml\"]\ndir = {dir:?}\ntrust = [{:?}]\n\
             hook = \"echo \\\"$ANTHILL_RELEASE\\\" >> {}\"\n\
             listen = \"{status_addr}\"\npeer_listen = [\"127.0.0.1:0\"]\n\
             metadata_timeout_secs = 1.0\nmax_backoff_secs = 1.0\n",
            hub.addr,
            hub.key,
            log.display(),
        ),
    )
    .unwrap();
    let content = |i: usize| bytes((1 << 20) + i * 4099, i as u8);
    let wait_active = |name: &str| {
        until(&format!("{name} active"), || {
            let s = status(status_addr)?;
            (release_state(&s, name)? == "active").then_some(())
        })
    };
    // Every entry under releases/ is a whole release, and current names one.
    let check_disk = |published: usize| {
        for e in std::fs::read_dir(dir.join("releases")).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name == ".anthill" {
                continue; // the engine's resume state of the seeded releases
            }
            let Some(i) = name.strip_prefix("rel-") else {
                panic!("unexpected releases/{name}")
            };
            let i: usize = i.parse().unwrap();
            assert!(i <= published, "{name}");
            assert_eq!(
                std::fs::read(e.path().join("payload.bin")).unwrap(),
                content(i),
                "releases/{name} is not the complete release"
            );
        }
        let cur = current_name(&dir).expect("current names a release");
        let i: usize = cur.strip_prefix("rel-").unwrap().parse().unwrap();
        assert_eq!(
            std::fs::read(dir.join("current/payload.bin")).unwrap(),
            content(i)
        );
        cur
    };

    publish(tmp.path(), &hub, "rel-1", &content(1));
    let agent = start_agent(&config);
    wait_active("rel-1");
    drop(agent);

    let points = ["before-move", "after-move", "before-switch", "after-switch"];
    for (k, point) in points.iter().enumerate() {
        let i = k + 2;
        let name = format!("rel-{i}");
        publish(tmp.path(), &hub, &name, &content(i));
        let mut crashing = Proc(
            bin()
                .arg("agent")
                .arg("--config")
                .arg(&config)
                .env("ANTHILL_AGENT_CRASH_AT", point)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let code = until(&format!("the agent killed itself at {point}"), || {
            crashing.0.try_wait().unwrap()
        });
        assert_eq!(code.signal(), Some(9), "{point}: {code}");
        let cur = check_disk(i);
        let previous = format!("rel-{}", i - 1);
        match *point {
            "before-move" => {
                assert!(!dir.join("releases").join(&name).exists(), "{point}");
                assert_eq!(cur, previous, "{point}");
            }
            "after-move" | "before-switch" => assert_eq!(cur, previous, "{point}"),
            _ => assert_eq!(cur, name, "{point}"),
        }

        let agent = start_agent(&config);
        wait_active(&name);
        assert_eq!(check_disk(i), name, "after the restart from {point}");
        let s = status(status_addr).unwrap();
        let rec = s["releases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap()
            .clone();
        assert_eq!(rec["previous"], previous.as_str(), "{point}: {rec}");
        assert!(
            !dir.join("staging")
                .join(rec["infohash"].as_str().unwrap())
                .exists(),
            "{point}: staging left behind"
        );
        drop(agent);
    }
    let runs = std::fs::read_to_string(&log).unwrap();
    let expected: Vec<String> = (1..=points.len() + 1).map(|i| format!("rel-{i}")).collect();
    assert_eq!(
        runs.lines().collect::<Vec<_>>(),
        expected,
        "each release's hook ran once, in order"
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount(8)");
        assert!(st.success(), "mounting a tmpfs needs root: {st}");
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn release_field(s: &serde_json::Value, name: &str, field: &str) -> Option<String> {
    s["releases"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r[field].as_str().map(str::to_string))
}

/// A disk too small for a release refuses it before the download; a disk
/// that fills during one fails it with the reason; `current` stays the
/// complete old release throughout, and freeing space lets the newest
/// release install (the older, failed one is not retried over it).
#[test]
fn a_full_disk_fails_the_release_clearly_and_leaves_current_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = start_hub(tmp.path(), &[]);
    let disk = Tmpfs::mount(&tmp.path().join("disk"), "16m");
    let dir = disk.0.join("agent");
    let status_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "feeds = [\"http://{}/feed.xml\"]\ndir = {dir:?}\ntrust = [{:?}]\n\
             listen = \"{status_addr}\"\npeer_listen = [\"127.0.0.1:0\"]\n\
             max_download_rate = {}\nmetadata_timeout_secs = 1.0\nmax_backoff_secs = 1.0\n",
            hub.addr,
            hub.key,
            2 << 20,
        ),
    )
    .unwrap();
    let state_of = |name: &str| {
        until(&format!("{name} known"), || {
            let s = status(status_addr)?;
            Some((release_state(&s, name)?, release_field(&s, name, "reason")))
        })
    };
    let rel1 = bytes(1 << 20, 1);
    let check_current = || {
        assert_eq!(current_name(&dir).as_deref(), Some("rel-1"));
        assert_eq!(
            std::fs::read(dir.join("current/payload.bin")).unwrap(),
            rel1
        );
    };

    publish(tmp.path(), &hub, "rel-1", &rel1);
    let _agent = start_agent(&config);
    until("rel-1 active", || {
        (state_of("rel-1").0 == "active").then_some(())
    });

    // Larger than the disk: refused before any download.
    publish(tmp.path(), &hub, "rel-2", &bytes(24 << 20, 2));
    let reason = until("rel-2 failed for space", || {
        let (st, reason) = state_of("rel-2");
        (st == "failed").then_some(reason?)
    });
    assert!(reason.contains("not enough disk space"), "{reason}");
    check_current();
    assert!(!dir.join("releases/rel-2").exists());

    // Fits, but the disk fills while it downloads.
    let rel3 = bytes(6 << 20, 3);
    publish(tmp.path(), &hub, "rel-3", &rel3);
    until("rel-3 downloading", || {
        let s = status(status_addr)?;
        let t = s["torrents"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "rel-3")?
            .clone();
        (t["pieces_have"].as_u64()? > 0).then_some(())
    });
    let filler = disk.0.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0xa5u8; 1 << 16];
        while f.write_all(&block).is_ok() {}
    }
    // The agent's own database is on that disk too: it says so, keeps
    // running and waits, rather than recording anything half-way.
    let problem = until("the full disk reported", || {
        let s = status(status_addr)?;
        if release_state(&s, "rel-3")? == "failed" {
            return release_field(&s, "rel-3", "reason");
        }
        s["problem"].as_str().map(str::to_string)
    });
    assert!(
        problem.contains("No space left on device") || problem.contains("disk is full"),
        "{problem}"
    );
    check_current();
    assert!(!dir.join("releases/rel-3").exists());

    // Room again: the retry installs rel-3; rel-2, older, is not retried.
    std::fs::remove_file(&filler).unwrap();
    until("rel-3 active", || {
        (state_of("rel-3").0 == "active").then_some(())
    });
    assert_eq!(
        std::fs::read(dir.join("current/payload.bin")).unwrap(),
        rel3
    );
    let (st, reason) = state_of("rel-2");
    assert_eq!(st, "skipped", "{reason:?}");
    assert!(reason.unwrap().contains("overtaken"));
}

#[test]
fn agent_configuration_surface() {
    let tmp = tempfile::tempdir().unwrap();
    let out = anthill(
        tmp.path(),
        [
            "agent",
            "--print-config",
            "--feed",
            "http://h:6880/feed.xml",
            "--keep",
            "4",
        ],
    )
    .expect(0);
    assert!(
        out.stdout.contains("feeds = [\"http://h:6880/feed.xml\"]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("keep = 4"), "{}", out.stdout);
    assert!(out.stdout.contains("# hook = "), "{}", out.stdout);
    let out = anthill(tmp.path(), ["agent", "--dir", "d"]).expect(1);
    assert!(
        out.stderr.contains("give at least one feed"),
        "{}",
        out.stderr
    );
    let out = anthill(tmp.path(), ["agent", "--dir", "d", "--feed", "ftp://x"]).expect(1);
    assert!(out.stderr.contains("not an http"), "{}", out.stderr);
    let out = anthill(
        tmp.path(),
        [
            "agent",
            "--dir",
            "d",
            "--feed",
            "http://127.0.0.1:9/feed.xml",
            "--trust",
            "RWQnot-a-key",
        ],
    )
    .expect(1);
    assert!(
        out.stderr.contains("cannot use trusted key"),
        "{}",
        out.stderr
    );
    std::fs::write(tmp.path().join("c.toml"), "kep = 3\n").unwrap();
    let out = anthill(tmp.path(), ["agent", "--config", "c.toml"]).expect(1);
    assert!(out.stderr.contains("kep"), "{}", out.stderr);
}
