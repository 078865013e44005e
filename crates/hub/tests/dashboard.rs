//! The rollout dashboard: its JSON API, the coalesced `agents` event, HTML
//! escaping of what agents report, and the page as headless Chromium
//! renders it (with the script's live update). Chromium is required: a
//! missing one fails the test (run scripts/setup), it is never skipped.
//!
//! Agents are simulated by [`FakeAgent`], which POSTs reports exactly as
//! `anthill agent` does (`release::AgentReport`); to use real agents
//! instead, start them against the hub's URL and wait for their reports in
//! `/api/agents` where these tests call `FakeAgent::report`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use release::{AgentReport, HookReport, ReleaseReport};

/// An agent that reports like `anthill agent` does.
struct FakeAgent {
    hub: SocketAddr,
    name: String,
}

impl FakeAgent {
    fn new(hub: SocketAddr, name: &str) -> Self {
        Self {
            hub,
            name: name.into(),
        }
    }

    /// Reports one release in `state`; returns the HTTP status.
    fn report(&self, release: &ReleaseReport) -> u16 {
        let r = AgentReport {
            name: self.name.clone(),
            version: Some("0.1.0".into()),
            current: matches!(release.state.as_str(), "installed" | "active")
                .then(|| release.name.clone().unwrap_or_default()),
            releases: vec![release.clone()],
        };
        let body = serde_json::to_vec(&r).unwrap();
        post(self.hub, "/api/agents/report", &body).0
    }
}

fn state(ih: &str, state: &str, progress: f64) -> ReleaseReport {
    ReleaseReport {
        infohash: ih.into(),
        name: Some("app-1".into()),
        state: state.into(),
        progress,
        download_rate: if state == "downloading" { 3 << 20 } else { 0 },
        upload_rate: 512 << 10,
        from_peers: (progress * 900_000.0) as u64,
        from_hub: (progress * 100_000.0) as u64,
        hook: None,
        error: None,
        switched_at_ms: None,
    }
}

fn installed(ih: &str) -> ReleaseReport {
    ReleaseReport {
        hook: Some(HookReport {
            exit_code: Some(0),
            output_tail: "restarting app\nok".into(),
        }),
        ..state(ih, "installed", 1.0)
    }
}

const HOSTILE_ERROR: &str = "\"><img src=x onerror=alert(1)> disk full";
const HOSTILE_HOOK: &str = "</small><script>alert(2)</script>";

fn failed(ih: &str) -> ReleaseReport {
    ReleaseReport {
        hook: Some(HookReport {
            exit_code: Some(3),
            output_tail: format!("installing\n{HOSTILE_HOOK}"),
        }),
        error: Some(HOSTILE_ERROR.into()),
        ..state(ih, "failed", 0.4)
    }
}

async fn hub_with_release(tmp: &Path) -> (TestHub, String) {
    let mut c = config(&tmp.join("hub"));
    c.agent_stale_after = tracker::HumanDuration(Duration::from_secs(3600));
    c.title = "anthill <test> hub".into();
    let h = start_with(c).await;
    let src = tmp.join("app-1");
    make_tree(&src, 3);
    drop_ready(&h.dir, &src);
    let ih = published(h.addr, "app-1").await["infohash"]
        .as_str()
        .unwrap()
        .to_string();
    (h, ih)
}

/// The next `agents` event's data on an open `/api/events` stream.
async fn next_agents_event(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::net::TcpStream>>,
) -> serde_json::Value {
    let mut kind = String::new();
    loop {
        let l = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("an agents event in time")
            .unwrap()
            .expect("the stream stays open");
        if let Some(k) = l.strip_prefix("event: ") {
            kind = k.to_string();
        } else if let Some(d) = l.strip_prefix("data: ") {
            if kind == "agents" {
                return serde_json::from_str(d).unwrap();
            }
        }
    }
}

use tokio::io::AsyncBufReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_api_events_and_page_show_two_agents_escaped() {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempdir().unwrap();
    let (h, ih) = hub_with_release(tmp.path()).await;
    let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"GET /api/events?agents=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut lines = tokio::io::BufReader::new(s).lines();
    // Agents follow the plain stream: it never carries `agents` events.
    let mut plain = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    plain
        .write_all(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut plain = tokio::io::BufReader::new(plain).lines();

    let a = FakeAgent::new(h.addr, "web-01");
    let b = FakeAgent::new(h.addr, "web-02");
    assert_eq!(a.report(&installed(&ih)), 204);
    assert_eq!(b.report(&failed(&ih)), 204);

    // One coalesced event for both reports (or two if a tick fell between).
    let mut ev = next_agents_event(&mut lines).await;
    let mut names: Vec<String> = Vec::new();
    loop {
        assert_eq!(ev["type"], "agents");
        assert_eq!(ev["release"], ih.as_str());
        names.extend(
            ev["changed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string()),
        );
        if names.len() >= 2 {
            break;
        }
        ev = next_agents_event(&mut lines).await;
    }
    names.sort();
    assert_eq!(names, ["web-01", "web-02"]);
    let summary = &ev["releases"][0]["summary"];
    assert_eq!(ev["releases"][0]["infohash"], ih.as_str());
    assert_eq!(
        (
            summary["installed"].as_u64(),
            summary["failed"].as_u64(),
            summary["agents"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{ev}"
    );
    assert_eq!(ev["changed_total"], 2);
    let row = ev["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web-02")
        .unwrap();
    assert_eq!(
        (
            row["state"].as_str(),
            row["status"].as_str(),
            row["problem"].as_bool()
        ),
        (Some("failed"), Some("failed"), Some(true))
    );
    assert_eq!(
        row["error"], HOSTILE_ERROR,
        "JSON carries the text as it is"
    );
    assert_eq!(row["hook_exit"], 3);

    // /api/fleet: the summary and a series with a point.
    let f = get_json(h.addr, "/api/fleet");
    let r0 = &f["releases"][0];
    assert_eq!(
        (r0["name"].as_str(), r0["seq"].as_u64()),
        (Some("app-1"), Some(1))
    );
    assert_eq!(r0["signed"], true);
    assert_eq!(r0["summary"]["installed"], 1);
    assert_eq!(r0["summary"]["delivered_bytes"], 1_000_000 + 400_000);
    assert!(
        r0["summary"]["time_to_full_secs"].is_null(),
        "web-02 failed"
    );
    let point = &r0["series"].as_array().unwrap()[0];
    assert_eq!(
        (point[1].as_u64(), point[2].as_u64()),
        (Some(1), Some(2)),
        "{point}"
    );

    // Paged rows: problems first; problems only.
    let p = get_json(h.addr, "/api/fleet/agents?release=app-1&limit=1");
    assert_eq!(
        (p["total"].as_u64(), p["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(p["agents"][0]["name"], "web-02", "problems first");
    let p = get_json(
        h.addr,
        &format!("/api/fleet/agents?release={ih}&problems=1"),
    );
    assert_eq!(p["total"], 1);
    assert_eq!(get(h.addr, "/api/fleet/agents?release=nope", &[]).0, 404);
    assert_eq!(get(h.addr, "/api/fleet/agents?limit=x", &[]).0, 400);

    // The page: both agents, report text escaped, the script linked.
    let (status, head, page) = get(h.addr, "/", &[]);
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-security-policy").is_some_and(|v| v.contains("script-src 'self'")),
        "{head}"
    );
    let page = String::from_utf8(page).unwrap();
    for want in [
        "data-agent=\"web-01\"",
        "data-agent=\"web-02\"",
        "⚠ failed",
        "✗ exit 3",
        "✓ exit 0",
        "&quot;&gt;&lt;img src=x onerror=alert(1)&gt; disk full",
        "&lt;/small&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
        "anthill &lt;test&gt; hub",
        "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>",
        "/static/dashboard.js?v=",
        "<svg",
    ] {
        assert!(page.contains(want), "the page lacks {want:?}:\n{page}");
    }
    for never in ["<img", "<script>alert", "<test>"] {
        assert!(!page.contains(never), "unescaped {never:?} in the page");
    }
    let js_url = page
        .split("src=\"")
        .find_map(|s| s.strip_prefix("/static/dashboard.js"))
        .map(|s| format!("/static/dashboard.js{}", &s[..s.find('"').unwrap()]))
        .unwrap();
    let (status, head, js) = get(h.addr, &js_url, &[]);
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(header(&head, "cache-control").unwrap().contains("max-age"));
    let js = String::from_utf8(js).unwrap();
    assert!(
        !js.contains("innerHTML") && !js.contains("insertAdjacentHTML"),
        "report data only goes through textContent"
    );

    // Web seed bytes count as origin bytes.
    let (status, _, _) = get(h.addr, "/webseed/app-1/bin/app", &[("Range", "bytes=0-9")]);
    assert_eq!(status, 206);
    let f = get_json(h.addr, "/api/fleet");
    assert_eq!(f["releases"][0]["summary"]["origin_bytes"], 10);

    // Metrics agree with the page.
    let (_, _, m) = get(h.addr, "/metrics", &[]);
    let m = String::from_utf8(m).unwrap();
    for want in [
        "anthill_hub_fleet_agents{release=\"app-1\",status=\"installed\"} 1",
        "anthill_hub_fleet_agents{release=\"app-1\",status=\"failed\"} 1",
        "anthill_hub_fleet_agents{release=\"app-1\",status=\"stale\"} 0",
        "anthill_hub_fleet_delivered_bytes{release=\"app-1\"} 1400000",
        "anthill_hub_fleet_origin_bytes{release=\"app-1\"} 10",
        "anthill_hub_webseed_bytes{release=\"app-1\"} 10",
    ] {
        assert!(m.contains(want), "metrics lack {want:?}:\n{m}");
    }
    assert!(!m.contains("anthill_hub_fleet_time_to_full_seconds{"));

    // Meanwhile the plain stream said hello and nothing else.
    let mut seen = Vec::new();
    while let Ok(Ok(Some(l))) =
        tokio::time::timeout(Duration::from_millis(300), plain.next_line()).await
    {
        seen.push(l);
    }
    assert!(seen.iter().any(|l| l == "event: hello"), "{seen:?}");
    assert!(!seen.iter().any(|l| l == "event: agents"), "{seen:?}");

    // The last agent installs: the fleet is full, with a time to full fleet.
    assert_eq!(b.report(&installed(&ih)), 204);
    let ev = next_agents_event(&mut lines).await;
    assert_eq!(ev["changed"][0]["name"], "web-02");
    let full = &ev["releases"][0]["summary"];
    assert_eq!(full["installed"], 2);
    assert!(full["time_to_full_secs"].as_u64().is_some(), "{ev}");
    let (_, _, page) = get(h.addr, "/", &[]);
    let page = String::from_utf8(page).unwrap();
    assert!(
        !page.contains("data-f=\"full\">—"),
        "time to full fleet shown"
    );
    h.hub.stop().await.unwrap();
}

// ---- headless Chromium ----

/// The Chromium binary: `ANTHILL_CHROMIUM`, else `chromium` or
/// `chromium-browser` on PATH. Missing is a failure, never a skip.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("ANTHILL_CHROMIUM") {
        return p.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        if let Some(p) = std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            return p;
        }
    }
    panic!("the dashboard test needs `chromium`, which is not installed; run scripts/setup");
}

/// Where test artifacts go: `TARGET/test-artifacts` (the test binary is
/// `TARGET/PROFILE/deps/NAME`).
fn artifacts() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs headless Chromium on `url` with `args` and a fresh profile;
/// returns its stdout. After `timeout` it is killed (its own process
/// group, by its PID: Chromium and the helpers it started) and the test
/// fails.
fn run_chromium(url: &str, args: &[String], timeout: Duration) -> String {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir().unwrap();
    let stderr_path = profile.path().join("stderr.log");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .args(args)
        .arg(url)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium ran longer than {timeout:?} on {url}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = reader.join().unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}) on {url}; stderr:\n{}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    stdout
}

/// The DOM after the page's script ran, from a tokio test (Chromium runs
/// on the blocking pool so the in-process hub keeps serving).
async fn dump_dom(url: String, budget_ms: u64) -> tokio::task::JoinHandle<String> {
    tokio::task::spawn_blocking(move || {
        run_chromium(
            &url,
            &[
                format!("--virtual-time-budget={budget_ms}"),
                "--dump-dom".into(),
            ],
            Duration::from_secs(90),
        )
    })
}

async fn screenshot(url: String, path: PathBuf, size: &str) {
    let size = size.to_string();
    tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_file(&path);
        run_chromium(
            &url,
            &[
                "--virtual-time-budget=3000".into(),
                format!("--window-size={size}"),
                format!("--screenshot={}", path.display()),
            ],
            Duration::from_secs(90),
        );
        let png = std::fs::read(&path).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{} is a PNG", path.display());
    })
    .await
    .unwrap();
}

/// Clients of the hub's event stream, from its metrics.
fn event_clients(addr: SocketAddr) -> u64 {
    let (_, _, m) = get(addr, "/metrics", &[]);
    String::from_utf8(m)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("anthill_hub_event_clients "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// The `<tr>` of agent `name` in a dumped DOM.
fn agent_row<'a>(dom: &'a str, name: &str) -> &'a str {
    let start = dom
        .find(&format!("data-agent=\"{name}\""))
        .unwrap_or_else(|| panic!("no row of {name} in:\n{dom}"));
    let start = dom[..start].rfind("<tr").unwrap();
    let end = start + dom[start..].find("</tr>").unwrap();
    &dom[start..end]
}

fn body_tag(dom: &str) -> &str {
    let start = dom.find("<body").expect("a body");
    &dom[start..start + dom[start..].find('>').unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chromium_renders_the_dashboard_and_the_script_applies_live_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, ih) = hub_with_release(tmp.path()).await;
    let a = FakeAgent::new(h.addr, "web-01");
    let b = FakeAgent::new(h.addr, "web-02");
    assert_eq!(a.report(&installed(&ih)), 204);
    assert_eq!(b.report(&state(&ih, "downloading", 0.4)), 204);
    // The fleet task has sampled both reports, and then gone quiet.
    wait_for(10, "a series point of both agents", || {
        let f = get_json(h.addr, "/api/fleet");
        let p = f["releases"][0]["series"].as_array()?.last()?.clone();
        (p[2] == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let base = format!("http://{}", h.addr);

    // 1. The page as rendered, after the script's first pass (no stream).
    let dom = dump_dom(format!("{base}/?updates=0"), 5000)
        .await
        .await
        .unwrap();
    let body = body_tag(&dom);
    assert!(
        body.contains("data-script=\"ready\""),
        "the script ran: {body}"
    );
    let r1 = agent_row(&dom, "web-01");
    assert!(
        r1.contains(">installed<") && r1.contains("✓ exit 0"),
        "{r1}"
    );
    let r2 = agent_row(&dom, "web-02");
    assert!(r2.contains(">downloading<") && r2.contains("40.0%"), "{r2}");
    assert!(!r2.contains("problem"), "{r2}");
    assert!(
        dom.contains("<polyline class=\"done\" points=\"") && !dom.contains("points=\"\""),
        "the chart is drawn"
    );

    // 2. Live: Chromium keeps the event stream open; once the page is
    // connected, web-02 fails; the script applies the one `agents` event
    // (`?updates=1` then closes the stream, so the virtual time budget ends).
    let clients = || event_clients(h.addr);
    assert_eq!(clients(), 0);
    let live = dump_dom(format!("{base}/?updates=1"), 3000).await;
    wait_for(60, "the page to open the event stream", || {
        (clients() >= 1).then_some(())
    })
    .await;
    assert_eq!(b.report(&failed(&ih)), 204);
    let dom = live.await.unwrap();
    let body = body_tag(&dom);
    assert!(
        body.contains("data-updates=\"1\""),
        "one live update: {body}"
    );
    let r2 = agent_row(&dom, "web-02");
    assert!(
        r2.contains("problem") && r2.contains("⚠ failed") && r2.contains("✗ exit 3"),
        "the update reached the row: {r2}"
    );
    assert!(
        r2.contains("data-updated=\"1\""),
        "built by the script: {r2}"
    );
    assert!(
        r2.contains("&lt;img src=x onerror=alert(1)&gt; disk full"),
        "the error is text: {r2}"
    );
    assert!(
        !dom.contains("<img") && !dom.contains("<script>alert"),
        "report text never becomes markup"
    );
    let stat_failed = dom
        .split("class=\"stat s-failed")
        .nth(1)
        .map(|s| &s[..s.find("</div>").unwrap()])
        .unwrap();
    assert!(
        stat_failed.starts_with(" nz") && stat_failed.contains("data-f=\"failed\">1<"),
        "the summary updated in place: {stat_failed}"
    );

    // 3. Screenshots, wide and narrow, for a human to look at.
    let dir = artifacts();
    screenshot(
        format!("{base}/?updates=0"),
        dir.join("dashboard.png"),
        "1280,900",
    )
    .await;
    screenshot(
        format!("{base}/?updates=0"),
        dir.join("dashboard-narrow.png"),
        "390,844",
    )
    .await;
    h.hub.stop().await.unwrap();
}

/// Real agents (the same `agent::Agent` that `anthill agent` runs), not
/// reports made up by the test: the page lists both with the release they
/// run, and follows a publish live (the `published` event reloads the page,
/// whose next `agents` update then shows the new release).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chromium_shows_real_agents_and_follows_a_publish() {
    let tmp = tempfile::tempdir().unwrap();
    let (h, _) = hub_with_release(tmp.path()).await;
    let feed = format!("http://{}/feed.xml", h.addr);
    let mut agents = Vec::new();
    for name in ["web-01", "web-02"] {
        let c = agent::AgentConfig {
            feeds: vec![feed.clone()],
            dir: tmp.path().join(name),
            name: Some(name.into()),
            peer_listen: vec!["127.0.0.1:0".parse().unwrap()],
            metadata_timeout_secs: 3.0,
            max_backoff_secs: 2.0,
            // Reports every second, so the page always has an update soon.
            report_interval_secs: 1.0,
            ..agent::AgentConfig::default()
        };
        agents.push(agent::Agent::start(c).await.unwrap());
    }
    let on = |release: &'static str| {
        move || {
            let v = get_json(h.addr, "/api/agents");
            let a = v["agents"].as_array()?.clone();
            (a.len() == 2
                && a.iter().all(|r| {
                    r["current"] == release
                        && r["releases"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().any(|x| x["state"] == "active"))
                }))
            .then_some(())
        }
    };
    wait_for(60, "both agents run app-1", on("app-1")).await;
    let base = format!("http://{}", h.addr);
    let dom = dump_dom(format!("{base}/?updates=0"), 5000)
        .await
        .await
        .unwrap();
    for name in ["web-01", "web-02"] {
        let r = agent_row(&dom, name);
        assert!(r.contains(">active<"), "{name}: {r}");
        assert!(!r.contains("problem"), "{name}: {r}");
    }
    assert!(!dom.contains("app-2"));

    // A publish while the page is open.
    let clients = || event_clients(h.addr);
    let live = dump_dom(format!("{base}/?updates=1"), 8000).await;
    wait_for(60, "the page to open the event stream", || {
        (clients() >= 1).then_some(())
    })
    .await;
    let src = tmp.path().join("app-2");
    make_tree(&src, 9);
    drop_ready(&h.dir, &src);
    let dom = live.await.unwrap();
    let body = body_tag(&dom);
    assert!(body.contains("data-updates=\"1\""), "{body}");
    let releases = &dom[dom.find("app-2").expect("the new release is listed")..];
    assert!(
        releases.contains("app-1"),
        "newest first: app-2 is listed before app-1"
    );
    for name in ["web-01", "web-02"] {
        agent_row(&dom, name);
    }

    wait_for(60, "both agents run app-2", on("app-2")).await;
    let dom = dump_dom(format!("{base}/?updates=0"), 5000)
        .await
        .await
        .unwrap();
    for name in ["web-01", "web-02"] {
        let r = agent_row(&dom, name);
        assert!(r.contains(">active<") && r.contains("app-2"), "{name}: {r}");
    }
    for a in agents {
        a.stop().await.unwrap();
    }
    h.hub.stop().await.unwrap();
}
