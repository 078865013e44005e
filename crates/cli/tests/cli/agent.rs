//! `anthill agent` as a process: killed with SIGKILL mid-download and
//! while its hook runs, then restarted; plus its configuration surface.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use crate::util::{Proc, anthill, bin, bytes, free_port, get, status, until};

fn release_state(s: &serde_json::Value, name: &str) -> Option<String> {
    s["releases"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["state"].as_str().map(str::to_string))
}

fn start_agent(config: &Path) -> Proc {
    Proc(
        bin()
            .arg("agent")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn agent_killed_mid_download_and_mid_hook_resumes_and_never_reruns_the_hook() {
    let tmp = tempfile::tempdir().unwrap();
    let hub_dir = tmp.path().join("hub");
    let hub_port = free_port();
    let hub_addr: SocketAddr = format!("127.0.0.1:{hub_port}").parse().unwrap();
    let _hub = Proc(
        bin()
            .arg("hub")
            .arg("--dir")
            .arg(&hub_dir)
            .args([
                "--listen",
                &hub_addr.to_string(),
                "--peer-listen",
                "127.0.0.1:0",
                "--settle",
                "200ms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    until("the hub answers", || {
        get(hub_addr, "/feed.xml").filter(|(c, _)| *c == 200)
    });
    let src = tmp.path().join("rel-1");
    std::fs::create_dir_all(&src).unwrap();
    let payload = bytes(6 << 20, 5);
    std::fs::write(src.join("payload.bin"), &payload).unwrap();
    anthill(
        tmp.path(),
        [
            "publish".as_ref(),
            src.as_os_str(),
            "--hub".as_ref(),
            hub_dir.as_os_str(),
        ],
    )
    .expect(0);
    let key = std::fs::read_to_string(hub_dir.join("keys/hub.pub")).unwrap();
    let key = key.lines().last().unwrap().to_string();

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
