//! The live rollout dashboard at `/`: rendered here on the server, so it is
//! complete without JavaScript, then kept current by `dashboard.js` (no
//! build step, embedded like `dashboard.css`) from the `agents` events of
//! `/api/events` and, when more agents changed than an event carries, from
//! `/api/fleet/agents`.
//!
//! Report data is untrusted free text (errors, hook output): it is escaped
//! here with [`html`], and the script only ever sets it through
//! `textContent` and attributes, never as markup. The rows the script
//! builds mirror [`row`] cell for cell; change both together.

use std::fmt::Write;
use std::sync::LazyLock;

use serde::Serialize;
use sha1::Digest;

use crate::Shared;
use crate::api::{ReleasesView, html, human};
use crate::fleet::{AgentRow, Point, Status, Summary};

/// The page's style sheet (inlined into every page).
pub(crate) const CSS: &str = include_str!("dashboard.css");
/// The page's script, served at `/static/dashboard.js?v=VERSION`.
pub(crate) const JS: &str = include_str!("dashboard.js");

/// The script's version: the start of its SHA-1, so its URL changes with
/// it and it can be cached for a year.
pub(crate) static JS_VERSION: LazyLock<String> =
    LazyLock::new(|| hex::encode(&sha1::Sha1::digest(JS.as_bytes())[..6]));

/// Agents listed per page by default, and at most.
pub(crate) const PAGE_ROWS: usize = 200;
/// Most rows one `/api/fleet/agents` request returns.
pub(crate) const MAX_ROWS: usize = 1000;

/// One release in `/api/fleet`.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseFleet {
    /// Sequence number.
    pub seq: u64,
    /// Name.
    pub name: String,
    /// Infohash, hex.
    pub infohash: String,
    /// Unix seconds.
    pub published_at: i64,
    /// Content bytes.
    pub total_size: u64,
    /// Files.
    pub file_count: u64,
    /// The manifest and its signature are stored and their files
    /// (`public/manifests/NAME.json`, `.json.minisig`) exist.
    pub signed: bool,
    /// The fleet's state of it now.
    pub summary: Summary,
    /// The rollout over time, `[t, installed, fleet, mean_progress]` points.
    pub series: Vec<Point>,
}

/// `/api/fleet`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetView {
    /// The hub's clock (unix s).
    pub at: i64,
    /// The hub's `agent_stale_after`, seconds.
    pub stale_after_secs: u64,
    /// Agents that ever reported.
    pub agents: usize,
    /// Published releases, newest first.
    pub releases: Vec<ReleaseFleet>,
}

/// The fleet now: summaries computed fresh, series as the fleet task keeps them.
pub(crate) fn fleet_view(s: &Shared) -> FleetView {
    let view = crate::read_view(s);
    let releases = crate::fleet_releases(s, &view);
    let stale_after = s.config.agent_stale_after.get();
    let summaries = s.agents.summaries(stale_after, &releases);
    let fleet = s.fleet.lock().unwrap_or_else(|e| e.into_inner());
    let out = view
        .releases
        .iter()
        .zip(summaries)
        .map(|(r, summary)| {
            let ih = r.infohash.to_hex();
            ReleaseFleet {
                seq: r.seq,
                name: r.name.to_string(),
                series: fleet.series(&ih).to_vec(),
                infohash: ih,
                published_at: r.published_at,
                total_size: r.total_size,
                file_count: r.file_count,
                signed: !r.signature.is_empty()
                    && !r.manifest.is_empty()
                    && s.layout.public_signature(&r.name).is_file()
                    && s.layout.public_manifest(&r.name).is_file(),
                summary,
            }
        })
        .collect();
    drop(fleet);
    FleetView {
        at: release::unix_now(),
        stale_after_secs: stale_after.as_secs(),
        agents: s.agents.len(),
        releases: out,
    }
}

/// Which agents a page or `/api/fleet/agents` lists.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct AgentsQuery {
    /// A release's name or infohash (default: the newest).
    pub(crate) release: Option<String>,
    /// Rows to skip.
    pub(crate) offset: Option<usize>,
    /// Rows to list.
    pub(crate) limit: Option<usize>,
    /// `1`: problems only.
    pub(crate) problems: Option<String>,
}

impl AgentsQuery {
    pub(crate) fn problems(&self) -> bool {
        matches!(self.problems.as_deref(), Some("1" | "true" | "yes"))
    }
}

/// A release as `/api/fleet/agents` names it.
#[derive(Debug, Clone, Serialize)]
pub struct RowsRelease {
    /// Sequence number.
    pub seq: u64,
    /// Name.
    pub name: String,
    /// Infohash, hex.
    pub infohash: String,
}

/// `/api/fleet/agents`: one page of agent rows for one release.
#[derive(Debug, Clone, Serialize)]
pub struct AgentsPage {
    /// The release the rows describe (`null` if none is published).
    pub release: Option<RowsRelease>,
    /// Rows matching (all pages).
    pub total: usize,
    /// First row listed.
    pub offset: usize,
    /// Rows per page.
    pub limit: usize,
    /// Only problems are listed.
    pub problems: bool,
    /// The rows: problems first, then by name.
    pub agents: Vec<AgentRow>,
}

/// One page of rows; `None` if `q.release` names no published release.
pub(crate) fn agents_page(s: &Shared, q: &AgentsQuery, max: usize) -> Option<AgentsPage> {
    let view = crate::read_view(s);
    let r =
        match q.release.as_deref() {
            None | Some("") => view.releases.first(),
            Some(want) => Some(view.releases.iter().find(|r| {
                r.name.as_str() == want || r.infohash.to_hex().eq_ignore_ascii_case(want)
            })?),
        };
    let ih = r.map(|r| r.infohash.to_hex()).unwrap_or_default();
    let stale_after = s.config.agent_stale_after.get();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(PAGE_ROWS).clamp(1, max);
    let (total, agents) = s.agents.page(stale_after, &ih, q.problems(), offset, limit);
    Some(AgentsPage {
        release: r.map(|r| RowsRelease {
            seq: r.seq,
            name: r.name.to_string(),
            infohash: ih.clone(),
        }),
        total,
        offset,
        limit,
        problems: q.problems(),
        agents,
    })
}

/// `12 s ago`.
pub(crate) fn ago(unix: i64) -> String {
    let secs = (release::unix_now() - unix).max(0);
    format!("{} ago", age(u64::try_from(secs).unwrap_or(0)))
}

fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86400),
    }
}

/// `3 min 20 s`: a duration, two units at most.
pub(crate) fn duration(secs: u64) -> String {
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a} {ua}")
        } else {
            format!("{a} {ua} {b} {ub}")
        }
    };
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => two(secs / 60, "min", secs % 60, "s"),
        _ => two(secs / 3600, "h", secs % 3600 / 60, "min"),
    }
}

/// A page with the dashboard's style; `head` goes into `<head>`.
pub(crate) fn page(title: &str, head: &str, body_attrs: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title>{head}<style>{CSS}</style></head><body{body_attrs}>{body}</body></html>",
        html(title)
    )
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 100.0;

/// The `points` of the chart's two lines: installed share and mean
/// progress over time, the last state held until `now` (seconds since the
/// publish); the time axis spans at least a minute (`dashboard.js`,
/// `drawChart`, draws the same).
fn chart_lines(series: &[Point], now: u64) -> (String, String) {
    let end = series.last().map_or(0, |p| p.0).max(now);
    let tmax = end.max(60) as f64;
    let (mut done, mut mean) = (String::new(), String::new());
    let held = series
        .last()
        .filter(|p| p.0 < end)
        .map(|p| Point(end, p.1, p.2, p.3));
    for p in series.iter().chain(held.as_ref()) {
        let x = p.0 as f64 / tmax * CHART_W;
        let share = if p.2 == 0 {
            0.0
        } else {
            p.1 as f64 / p.2 as f64
        };
        let _ = write!(done, "{x:.1},{:.1} ", CHART_H - share.min(1.0) * CHART_H);
        let _ = write!(mean, "{x:.1},{:.1} ", CHART_H - p.3.min(1.0) * CHART_H);
    }
    (done.trim_end().to_string(), mean.trim_end().to_string())
}

fn chart(ih: &str, series: &[Point], now: u64) -> String {
    let (done, mean) = chart_lines(series, now);
    let span = series.last().map_or(0, |p| p.0).max(now);
    format!(
        "<figure class=\"chart\" data-chart=\"{ih}\">\
         <svg viewBox=\"0 0 {CHART_W} {CHART_H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"rollout progress over time\">\
         <line class=\"grid\" x1=\"0\" x2=\"{CHART_W}\" y1=\"25\" y2=\"25\"/><line class=\"grid\" x1=\"0\" x2=\"{CHART_W}\" y1=\"50\" y2=\"50\"/>\
         <line class=\"grid\" x1=\"0\" x2=\"{CHART_W}\" y1=\"75\" y2=\"75\"/>\
         <polyline class=\"mean\" points=\"{mean}\"/><polyline class=\"done\" points=\"{done}\"/></svg>\
         <span class=\"y y1\">100%</span><span class=\"y y0\">0%</span>{}<figcaption><span><i class=\"k done\"></i>agents installed</span><span><i class=\"k mean\"></i>mean progress</span>\
         <span class=\"span\" data-f=\"span\">{}</span></figcaption></figure>",
        if series.is_empty() {
            "<p class=\"none\">no agent has reported this release yet</p>"
        } else {
            ""
        },
        span_text(span),
    )
}

fn span_text(span: u64) -> String {
    format!("0 – {} after publish", duration(span))
}

fn stat(status: Status, s: &Summary) -> String {
    let n = s.count(status);
    let extra = match status {
        Status::Installed => format!(" <small>of {}</small>", s.fleet()),
        _ => String::new(),
    };
    format!(
        "<div class=\"stat s-{st}{nz}\"><dt>{st}</dt><dd><span data-f=\"{st}\">{n}</span>{extra}</dd></div>",
        st = status.as_str(),
        nz = if n > 0 { " nz" } else { "" },
    )
}

/// `1.2 MiB sent · 9.8 MiB delivered`, and how many times the hub's bytes
/// were multiplied by the swarm.
fn bytes_text(s: &Summary) -> (String, String) {
    let main = format!("{} / {}", human(s.origin_bytes), human(s.delivered_bytes));
    let ratio = if s.origin_bytes > 0 && s.delivered_bytes > 0 {
        format!(
            "×{:.1} delivered per origin byte",
            s.delivered_bytes as f64 / s.origin_bytes as f64
        )
    } else {
        "hub sent / agents received".to_string()
    };
    (main, ratio)
}

fn release_card(r: &crate::api::ReleaseView, f: &ReleaseFleet, newest: bool) -> String {
    let s = &f.summary;
    let seeding = r.seeding.as_ref().map_or(
        "<span class=\"bad\">⚠ not seeded</span>".to_string(),
        |sv| format!("seeding to {} peers", sv.peers),
    );
    let (bytes, ratio) = bytes_text(s);
    let mut stats = String::new();
    for st in Status::ALL {
        if st != Status::Other || s.other > 0 {
            stats.push_str(&stat(st, s));
        }
    }
    format!(
        "<article class=\"rel\" data-release=\"{ih}\" data-published=\"{published}\">\
         <h3><span class=\"seq\">#{seq}</span> <a href=\"/releases/{n}\">{n}</a>{badge}</h3>\
         <p class=\"meta\">{size} · {files} files · published <span data-ago=\"{published}\">{ago}</span> · {sig} · {seeding} · \
         <a href=\"{torrent}\">torrent</a> · <a href=\"{manifest}\">manifest</a> · <a href=\"{sigurl}\">signature</a> · <a href=\"{magnet}\">magnet</a></p>\
         <div class=\"rel-body\"><dl class=\"stats\">{stats}\
         <div class=\"stat\"><dt>time to full fleet</dt><dd data-f=\"full\">{full}</dd></div>\
         <div class=\"stat wide\"><dt>origin / delivered</dt><dd data-f=\"bytes\">{bytes}</dd><small data-f=\"ratio\">{ratio}</small></div>\
         <div class=\"stat\"><dt>mean progress</dt><dd data-f=\"mean\">{mean:.1}%</dd></div></dl>\
         {chart}</div></article>",
        ih = f.infohash,
        published = f.published_at,
        seq = f.seq,
        n = html(&f.name),
        badge = if newest {
            " <span class=\"badge b-downloading\">newest</span>"
        } else {
            ""
        },
        size = human(f.total_size),
        files = f.file_count,
        ago = ago(f.published_at),
        sig = if f.signed {
            "<span class=\"ok\">✓ signed</span>"
        } else {
            "<span class=\"bad\">⚠ signature missing</span>"
        },
        torrent = html(&r.torrent_url),
        manifest = html(&r.manifest_url),
        sigurl = html(&r.signature_url),
        magnet = html(&r.magnet),
        full = s.time_to_full_secs.map_or("—".to_string(), duration),
        mean = s.mean_progress * 100.0,
        chart = chart(
            &f.infohash,
            &f.series,
            u64::try_from(release::unix_now() - f.published_at).unwrap_or(0)
        ),
    )
}

fn cell(label: &str, inner: &str) -> String {
    format!("<td data-label=\"{label}\"><div>{inner}</div></td>")
}

/// The last non-empty line of a hook's output.
fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// One agent's row (`dashboard.js`, `fillRow`, builds the same).
pub(crate) fn row(r: &AgentRow) -> String {
    let st = r.status.as_str();
    let mut b = String::new();
    let _ = write!(
        b,
        "<tr data-agent=\"{}\" class=\"st-{st}{}\">",
        html(&r.name),
        if r.problem { " problem" } else { "" }
    );
    let mut sub = Vec::new();
    if let Some(v) = &r.version {
        sub.push(format!("v{}", html(v)));
    }
    if let Some(c) = &r.current {
        sub.push(format!("current {}", html(c)));
    }
    b.push_str(&cell(
        "agent",
        &format!(
            "<span class=\"name\">{}</span><small>{}</small>",
            html(&r.name),
            sub.join(" · ")
        ),
    ));
    let mut state = format!(
        "<span class=\"badge b-{}\">{}{}</span>",
        if r.stale { "other" } else { st },
        if r.status == Status::Failed {
            "⚠ "
        } else {
            ""
        },
        html(&r.state)
    );
    if r.stale {
        state.push_str(" <span class=\"badge b-stale\">⚠ stale</span>");
    }
    b.push_str(&cell("state", &state));
    let pct = r.progress * 100.0;
    b.push_str(&cell(
        "progress",
        &format!(
            "<span class=\"bar progress\"><i style=\"width:{pct:.1}%\"></i></span><span class=\"pct\">{pct:.1}%</span>"
        ),
    ));
    b.push_str(&cell(
        "rate",
        &format!(
            "<span class=\"num\">↓ {}/s</span> <span class=\"num\">↑ {}/s</span>",
            human(r.download_rate),
            human(r.upload_rate)
        ),
    ));
    let total = r.from_peers.saturating_add(r.from_hub);
    let source = if total == 0 {
        "—".to_string()
    } else {
        let peers = r.from_peers as f64 / total as f64 * 100.0;
        format!(
            "<span class=\"bar split\"><i style=\"width:{peers:.1}%\"></i></span><small>{peers:.0}% peers · {:.0}% hub · {}</small>",
            100.0 - peers,
            human(total)
        )
    };
    b.push_str(&cell("from peers / hub", &source));
    let hook = if !r.hook_ran {
        "—".to_string()
    } else {
        let head = match r.hook_exit {
            Some(0) => "<span class=\"ok\">✓ exit 0</span>".to_string(),
            Some(c) => format!("<span class=\"bad\">✗ exit {c}</span>"),
            None if r.state == "hook_running" => "running".to_string(),
            None => "<span class=\"bad\">✗ killed</span>".to_string(),
        };
        format!(
            "{head}<small class=\"tail\" title=\"{}\">{}</small>",
            html(&r.hook_output),
            html(last_line(&r.hook_output))
        )
    };
    b.push_str(&cell("hook", &hook));
    b.push_str(&cell(
        "last error",
        &match &r.error {
            Some(e) => format!("<span class=\"err\">⚠ {}</span>", html(e)),
            None => "—".to_string(),
        },
    ));
    b.push_str(&cell(
        "last report",
        &format!(
            "<span data-ago=\"{}\">{}</span>{}",
            r.reported_at,
            ago(r.reported_at),
            if r.stale {
                "<small class=\"warn\">no recent report</small>"
            } else {
                ""
            }
        ),
    ));
    b.push_str("</tr>");
    b
}

/// `/`: the releases with their rollout, the agents, rejections and
/// foreign torrents.
pub(crate) fn index(s: &Shared, v: &ReleasesView, q: &AgentsQuery) -> String {
    let fleet = fleet_view(s);
    let page_q = AgentsQuery {
        release: None,
        ..q.clone()
    };
    let rows = agents_page(s, &page_q, PAGE_ROWS).unwrap_or(AgentsPage {
        release: None,
        total: 0,
        offset: 0,
        limit: PAGE_ROWS,
        problems: false,
        agents: Vec::new(),
    });
    let newest = fleet.releases.first();
    let mut b = format!(
        "<header class=\"top\"><div><h1>{}</h1><p class=\"sub\">hub key <code>{}</code> · <span data-f=\"agents\">{}</span> agents · stale after {}</p></div>\
         <nav><a href=\"{feed}\">feed</a><a href=\"/hub.pub\">public key</a><a href=\"/index.json\">signed index</a>\
         <a href=\"/api/fleet\">fleet API</a><a href=\"/api/releases\">releases API</a><a href=\"/metrics\">metrics</a></nav>\
         <span id=\"live\" class=\"live\">static page</span></header><main>",
        html(&s.config.title),
        html(&v.hub),
        fleet.agents,
        duration(fleet.stale_after_secs),
        feed = html(&v.feed_url),
    );
    b.push_str("<section id=\"releases\"><h2>Releases</h2>");
    if v.releases.is_empty() {
        b.push_str("<p class=\"empty\">No release yet: drop a directory into <code>incoming/</code> or run <code>anthill publish</code>.</p>");
    }
    // Two snapshots: a publish in between must not pair a card with the
    // wrong release.
    for (i, r) in v.releases.iter().enumerate() {
        let ih = r.infohash.to_hex();
        if let Some(f) = fleet.releases.iter().find(|f| f.infohash == ih) {
            b.push_str(&release_card(r, f, i == 0));
        }
    }
    b.push_str("</section>");

    let _ = write!(
        b,
        "<section id=\"agents\"><h2>Agents <small>{}</small></h2>",
        match newest {
            Some(r) => format!("— state of {} (newest)", html(&r.name)),
            None => String::new(),
        }
    );
    let shown_to = (rows.offset + rows.agents.len()).min(rows.total);
    let mut pager = format!(
        "<p class=\"pager\">Showing <span data-f=\"shown\">{}–{shown_to}</span> of <span data-f=\"total\">{}</span>{}, problems first · ",
        if rows.agents.is_empty() {
            0
        } else {
            rows.offset + 1
        },
        rows.total,
        if rows.problems { " with problems" } else { "" },
    );
    if rows.problems {
        pager.push_str("<a href=\"/\">all agents</a>");
    } else {
        pager.push_str("<a href=\"/?problems=1\">problems only</a>");
    }
    let link = |offset: usize| {
        format!(
            "/?offset={offset}&amp;limit={}{}",
            rows.limit,
            if rows.problems { "&amp;problems=1" } else { "" }
        )
    };
    if rows.offset > 0 {
        let _ = write!(
            pager,
            " · <a href=\"{}\">previous</a>",
            link(rows.offset.saturating_sub(rows.limit))
        );
    }
    if shown_to < rows.total {
        let _ = write!(pager, " · <a href=\"{}\">next</a>", link(shown_to));
    }
    pager.push_str("</p>");
    b.push_str(&pager);
    b.push_str(
        "<div class=\"table-wrap\"><table class=\"agents collapse\"><thead><tr><th>agent</th><th>state</th><th>progress</th>\
         <th>rate</th><th>from peers / hub</th><th>hook</th><th>last error</th><th>last report</th></tr></thead><tbody id=\"agent-rows\">",
    );
    for r in &rows.agents {
        b.push_str(&row(r));
    }
    b.push_str("</tbody></table></div>");
    let _ = write!(
        b,
        "<p class=\"empty\" id=\"no-agents\"{}>No agent has reported yet: agents POST to <code>/api/agents/report</code>.</p></section>",
        if rows.total == 0 { "" } else { " hidden" }
    );

    if !v.rejected.is_empty() {
        let _ = write!(
            b,
            "<section><h2 class=\"bad\">Rejected ({})</h2><div class=\"table-wrap\"><table class=\"plain collapse\"><thead><tr><th>entry</th><th>reason</th><th>when</th><th>moved to</th></tr></thead><tbody>",
            v.rejected_total
        );
        for r in v.rejected.iter().take(20) {
            let _ = write!(
                b,
                "<tr>{}{}{}{}</tr>",
                cell("entry", &html(&r.name)),
                cell(
                    "reason",
                    &format!("<span class=\"err\">{}</span>", html(&r.reason))
                ),
                cell("when", &ago(r.at)),
                cell("moved to", &html(r.moved_to.as_deref().unwrap_or("-")))
            );
        }
        b.push_str("</tbody></table></div></section>");
    }
    if !v.foreign.is_empty() {
        b.push_str("<section><h2>Torrents from torrents/</h2><div class=\"table-wrap\"><table class=\"plain collapse\"><thead><tr><th>name</th><th>size</th><th>infohash</th></tr></thead><tbody>");
        for f in &v.foreign {
            let _ = write!(
                b,
                "<tr>{}{}{}</tr>",
                cell(
                    "name",
                    &format!(
                        "<a href=\"/foreign/{}\">{}</a>",
                        html(&f.file),
                        html(&f.name)
                    )
                ),
                cell("size", &human(f.total_size)),
                cell("infohash", &format!("<code>{}</code>", f.infohash))
            );
        }
        b.push_str("</tbody></table></div></section>");
    }
    let _ = write!(
        b,
        "</main><script src=\"/static/dashboard.js?v={}\" defer></script>",
        *JS_VERSION
    );
    let attrs = format!(
        " data-release=\"{}\" data-offset=\"{}\" data-limit=\"{}\" data-problems=\"{}\" data-at=\"{}\" data-live=\"static\"",
        newest.map_or("", |r| r.infohash.as_str()),
        rows.offset,
        rows.limit,
        u8::from(rows.problems),
        fleet.at,
    );
    page(
        &s.config.title,
        "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>",
        &attrs,
        &b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_charts() {
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(200), "3 min 20 s");
        assert_eq!(duration(7500), "2 h 5 min");
        assert_eq!(duration(3600), "1 h");
        let (done, mean) = chart_lines(&[Point(0, 0, 2, 0.0), Point(120, 1, 2, 0.75)], 60);
        assert_eq!(done, "0.0,100.0 600.0,50.0");
        assert_eq!(mean, "0.0,100.0 600.0,25.0");
        let (done, _) = chart_lines(&[Point(0, 0, 2, 0.0), Point(30, 2, 2, 1.0)], 240);
        assert_eq!(
            done, "0.0,100.0 75.0,0.0 600.0,0.0",
            "the last state holds until now"
        );
        assert_eq!(chart_lines(&[], 5), (String::new(), String::new()));
    }

    #[test]
    fn rows_escape_report_text() {
        let report = release::AgentReport {
            name: "web-01".into(),
            version: Some("<i>1</i>".into()),
            current: None,
            releases: vec![],
        };
        let rr = release::ReleaseReport {
            infohash: "ab".repeat(20),
            name: None,
            state: "failed".into(),
            progress: 0.5,
            download_rate: 0,
            upload_rate: 0,
            from_peers: 1,
            from_hub: 1,
            hook: Some(release::HookReport {
                exit_code: Some(2),
                output_tail: "\"><script>alert(1)</script>".into(),
            }),
            error: Some("<img src=x onerror=alert(1)>".into()),
            switched_at_ms: None,
        };
        let html = row(&AgentRow::new(&report, Some(&rr), 0, 0, false));
        assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<i>1"));
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(
            html.contains("✗ exit 2") && html.contains("⚠ failed"),
            "{html}"
        );
        assert!(html.contains("class=\"st-failed problem\""), "{html}");
    }
}
