//! The hub's one HTTP listener (axum): the feed with conditional GETs, the
//! static files of `public/`, the BEP 19 web seed of `releases/`, the
//! embedded tracker's `/announce` and `/scrape`, the JSON API with its
//! server-sent event stream, Prometheus metrics and the HTML pages. The
//! handlers only read the core's snapshot ([`crate::View`]); no logic here.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::api::{HubEvent, ReleaseView, ReleasesView, SeedView, html, human};
use crate::dashboard::{self, AgentsQuery, ago};
use crate::{HubError, Shared, read_view};

type S = State<Arc<Shared>>;

/// Serves the router on `listener` until `cancel`.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    cancel: CancellationToken,
) -> Result<(), HubError> {
    let addr = listener.local_addr().ok();
    let listen_err = |source| HubError::Listen {
        protocol: "http",
        addr: addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        source,
    };
    listener.set_nonblocking(true).map_err(listen_err)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_err)?;
    let app = router(shared, cancel.clone());
    tracing::info!(addr = ?addr, "hub http listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(cancel.cancelled_owned())
    .await
    .map_err(listen_err)
}

struct Ctx {
    shared: Arc<Shared>,
    cancel: CancellationToken,
}

fn router(shared: Arc<Shared>, cancel: CancellationToken) -> Router {
    let public = ServeDir::new(shared.layout.public());
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(&shared),
        cancel,
    });
    Router::new()
        .route("/", get(index))
        .route("/feed.xml", get(feed))
        .route("/announce", get(tracker))
        .route("/scrape", get(tracker))
        .route("/metrics", get(metrics))
        .route("/api/releases", get(releases))
        .route("/api/releases/{name}", get(release))
        .route("/releases/{name}", get(release_page))
        .route("/webseed/{*path}", get(webseed))
        .route("/api/agents", get(agents))
        .route("/api/fleet", get(fleet))
        .route("/api/fleet/agents", get(fleet_agents))
        .route("/static/dashboard.js", get(dashboard_js))
        .route(
            "/api/agents/report",
            axum::routing::post(report).layer(axum::extract::DefaultBodyLimit::max(
                release::report::MAX_REPORT_BYTES,
            )),
        )
        .route(
            "/api/events",
            get(move |Query(q): Query<EventsQuery>| {
                let ctx = Arc::clone(&ctx);
                async move { events(&ctx, q.agents.as_deref() == Some("1")) }
            }),
        )
        .fallback_service(get({
            let shared = Arc::clone(&shared);
            move |req: Request| public_file(Arc::clone(&shared), public.clone(), req)
        }))
        .with_state(shared)
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": "not_found", "message": format!("no {what}") }).to_string(),
    )
        .into_response()
}

/// `/feed.xml`, with `ETag` / `Last-Modified` and 304 for conditional GETs.
async fn feed(State(s): S, headers: HeaderMap) -> Response {
    let feed = Arc::clone(&read_view(&s).feed);
    let last_modified =
        UNIX_EPOCH + Duration::from_secs(u64::try_from(feed.last_modified).unwrap_or(0));
    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(tags) => tags.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == feed.etag
        }),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| since >= last_modified),
    };
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&feed.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/rss+xml; charset=utf-8"),
    );
    (h, feed.xml.clone()).into_response()
}

/// The embedded tracker: the same bencoded answers as `anthill tracker`.
async fn tracker(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let uri = req.uri();
    let query = uri.query().unwrap_or("").as_bytes();
    match s.tracker.http_request(uri.path(), query, peer.ip()) {
        Some(body) => ([(header::CONTENT_TYPE, "text/plain")], body).into_response(),
        None => not_found("such tracker endpoint"),
    }
}

async fn metrics(State(s): S) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&s),
    )
        .into_response()
}

fn seed_view(s: &Shared, ih: &metainfo::Infohash) -> Option<SeedView> {
    let seeding = s.seeding.lock().unwrap_or_else(|e| e.into_inner());
    seeding.get(ih).map(|h| {
        let p = h.progress();
        SeedView {
            uploaded: p.uploaded,
            peers: p.peers,
            upload_rate: p.upload_rate,
        }
    })
}

fn releases_view(s: &Shared) -> ReleasesView {
    let view = read_view(s);
    ReleasesView {
        hub: s.key_id.clone(),
        public_key: s.public_key.clone(),
        feed_url: s.urls.feed(),
        releases: view
            .releases
            .iter()
            .map(|r| ReleaseView::new(r, &s.urls, seed_view(s, &r.infohash)))
            .collect(),
        rejected: view.rejected.clone(),
        rejected_total: view.rejected_total,
        foreign: view.foreign.as_ref().clone(),
    }
}

async fn releases(State(s): S) -> Response {
    axum::Json(releases_view(&s)).into_response()
}

async fn release(State(s): S, Path(name): Path<String>) -> Response {
    let view = read_view(&s);
    match view.releases.iter().find(|r| r.name.as_str() == name) {
        Some(r) => {
            axum::Json(ReleaseView::new(r, &s.urls, seed_view(&s, &r.infohash))).into_response()
        }
        None => not_found("published release of that name"),
    }
}

/// `POST /api/agents/report`: an agent's latest state (JSON, bounded).
async fn report(State(s): S, body: axum::body::Bytes) -> Response {
    let parsed = serde_json::from_slice::<release::AgentReport>(&body)
        .map_err(|e| release::ReportError::Invalid(e.to_string()))
        .and_then(release::AgentReport::validate);
    let recorded = parsed.and_then(|r| s.agents.record(r));
    match recorded {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let status = match e {
                release::ReportError::Full(_) => StatusCode::SERVICE_UNAVAILABLE,
                release::ReportError::Invalid(_) => StatusCode::BAD_REQUEST,
            };
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "error": "bad_report", "message": e.to_string() }).to_string(),
            )
                .into_response()
        }
    }
}

/// `GET /api/agents`: the latest report of every agent, with staleness.
async fn agents(State(s): S) -> Response {
    let stale_after = s.config.agent_stale_after.get();
    axum::Json(serde_json::json!({
        "stale_after_secs": stale_after.as_secs(),
        "agents": s.agents.list(stale_after),
    }))
    .into_response()
}

/// Counts open event streams.
struct SseClient(Arc<Shared>);

impl Drop for SseClient {
    fn drop(&mut self) {
        self.0.metrics.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `/api/events?agents=1`.
#[derive(Debug, serde::Deserialize)]
struct EventsQuery {
    /// `1`: also send `agents` events (the dashboard asks; agents don't).
    agents: Option<String>,
}

/// `/api/events`: a `hello` (hub key id, newest seq), then every publish,
/// rejection and retirement as it happens; with `?agents=1` also, at most
/// once a second, an `agents` event (`api::AgentsTick`) while agents
/// report. Only dashboards ask for those: the fleet's own agents follow
/// this stream too, and 10 000 of them must not each get the fleet's
/// updates every second. A client that falls behind gets
/// `lagged` and should re-read `/api/releases`. Streams end at shutdown.
fn events(ctx: &Ctx, with_agents: bool) -> impl IntoResponse + use<> {
    let s = Arc::clone(&ctx.shared);
    s.metrics.sse_clients.fetch_add(1, Ordering::Relaxed);
    let guard = SseClient(Arc::clone(&s));
    let hello = HubEvent::Hello {
        hub: s.key_id.clone(),
        newest_seq: read_view(&s).releases.first().map_or(0, |r| r.seq),
    };
    let rx = s.events.subscribe();
    let live = futures_util::stream::unfold((rx, guard), move |(mut rx, guard)| async move {
        let ev = loop {
            match rx.recv().await {
                Ok(HubEvent::Agents(_)) if !with_agents => continue,
                Ok(ev) => break to_sse(&ev),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    break Event::default().event("lagged").data(n.to_string());
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        };
        Some((ev, (rx, guard)))
    });
    let stream = futures_util::stream::once(async move { to_sse(&hello) })
        .chain(live)
        .map(Ok::<_, Infallible>)
        .take_until(ctx.cancel.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn to_sse(ev: &HubEvent) -> Event {
    let data = serde_json::to_string(ev).unwrap_or_default();
    let e = Event::default().event(ev.kind()).data(data);
    match ev {
        HubEvent::Published(r) => e.id(r.seq.to_string()),
        _ => e,
    }
}

/// BEP 19 web seed: `/webseed/NAME[/PATH]` serves `releases/NAME[/PATH]`
/// with range requests, for published releases only, never hidden paths;
/// and the release's BEP 47 pad files `NAME/.pad/N` as N zero bytes.
async fn webseed(State(s): S, Path(path): Path<String>, req: Request) -> Response {
    let parts: Vec<&str> = path.split('/').collect();
    let view = read_view(&s);
    let Some(release) = view.releases.iter().find(|r| r.name.as_str() == parts[0]) else {
        return not_found("published file at that path");
    };
    if let [_, ".pad", len] = parts.as_slice() {
        // Our pad files are shorter than a piece; their names are their lengths.
        return match len.parse::<u64>() {
            Ok(n) if n > 0 && n < release.piece_length && n.to_string() == *len => {
                let r = pad_file(n, req.headers());
                count_webseed(&s, &release.infohash, &r);
                r
            }
            _ => not_found("published file at that path"),
        };
    }
    if parts.iter().any(|c| c.is_empty() || c.starts_with('.')) {
        return not_found("published file at that path");
    }
    let (mut p, body) = req.into_parts();
    let Ok(uri) = format!("/{path}").parse() else {
        return not_found("published file at that path");
    };
    p.uri = uri;
    match ServeDir::new(s.layout.releases())
        .oneshot(Request::from_parts(p, body))
        .await
    {
        Ok(r) => {
            let r = r.map(Body::new).into_response();
            count_webseed(&s, &release.infohash, &r);
            r
        }
        Err(e) => match e {},
    }
}

/// Adds a web seed response's length to the release's origin bytes (what
/// is sent, unless the client hangs up early).
fn count_webseed(s: &Shared, ih: &metainfo::Infohash, r: &Response) {
    if !r.status().is_success() {
        return;
    }
    let len = r
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut m = s.webseed_bytes.lock().unwrap_or_else(|e| e.into_inner());
    let c = m.entry(*ih).or_insert(0);
    *c = c.saturating_add(len);
}

/// A pad file of `len` zero bytes, with a single byte range if asked.
/// Clients that do not know BEP 47 (aria2 1.36) fetch pad files from the
/// web seed like any other file; without them a piece that ends in padding
/// could not be completed from the web seed.
fn pad_file(len: u64, headers: &HeaderMap) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(Ok(None), |v| byte_range(v, len));
    let (status, start, end) = match range {
        Ok(None) => (StatusCode::OK, 0, len - 1),
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Err(()) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
    };
    let body = vec![0u8; usize::try_from(end - start + 1).unwrap_or(0)];
    let mut r = (
        status,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::ACCEPT_RANGES, "bytes".to_string()),
        ],
        body,
    )
        .into_response();
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

/// A `Range` header for a body of `len > 0` bytes: `Ok(None)` to send it
/// whole (no single byte range: RFC 9110 lets a server ignore the header),
/// `Ok(Some((first, last)))`, or `Err` if it starts past the end.
fn byte_range(v: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some((a, b)) = v
        .trim()
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
    else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if b.contains(',') || a.contains(',') {
        return Ok(None);
    }
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => Err(()),
            Ok(n) => Ok(Some((len.saturating_sub(n), len - 1))),
            Err(_) => Ok(None),
        };
    }
    let Ok(first) = a.parse::<u64>() else {
        return Ok(None);
    };
    let last = match b {
        "" => len - 1,
        b => match b.parse::<u64>() {
            Ok(l) if l >= first => l.min(len - 1),
            _ => return Ok(None),
        },
    };
    if first >= len {
        return Err(());
    }
    Ok(Some((first, last)))
}

/// Files of `public/` (torrents, manifests, signatures, index, public key).
async fn public_file(shared: Arc<Shared>, dir: ServeDir, req: Request) -> Response {
    if req.uri().path().split('/').any(|c| c.starts_with('.')) {
        return not_found("such file");
    }
    let torrent = req.uri().path().ends_with(".torrent") && req.method() == axum::http::Method::GET;
    match dir.oneshot(req).await {
        Ok(r) => {
            if torrent && r.status().is_success() {
                let n = r
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                shared
                    .torrent_file_bytes
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
            r.map(Body::new).into_response()
        }
        Err(e) => match e {},
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(dashboard::page(
        title,
        "",
        "",
        &format!("<main>{body}</main>"),
    ))
}

/// What the hub's pages may load: their own script and API, inline style
/// (the page's sheet and bar widths), nothing else; a second fence should
/// report text ever slip through unescaped.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/`: the dashboard (`?offset=&limit=&problems=1` page the agents).
async fn index(State(s): S, Query(q): Query<AgentsQuery>) -> Response {
    let v = releases_view(&s);
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(dashboard::index(&s, &v, &q)),
    )
        .into_response()
}

/// `/static/dashboard.js`: the page's script, cached for a year (its URL
/// carries its version).
async fn dashboard_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        dashboard::JS,
    )
        .into_response()
}

/// `GET /api/fleet`: per release, the fleet summary and its series.
async fn fleet(State(s): S) -> Response {
    axum::Json(dashboard::fleet_view(&s)).into_response()
}

/// `GET /api/fleet/agents?release=&offset=&limit=&problems=1`: one page of
/// agent rows for a release (default the newest), problems first.
async fn fleet_agents(State(s): S, Query(q): Query<AgentsQuery>) -> Response {
    match dashboard::agents_page(&s, &q, dashboard::MAX_ROWS) {
        Some(p) => axum::Json(p).into_response(),
        None => not_found("published release of that name or infohash"),
    }
}

/// `/releases/NAME`: one release (the feed items' `link`).
async fn release_page(State(s): S, Path(name): Path<String>) -> Response {
    let view = read_view(&s);
    let Some(r) = view.releases.iter().find(|r| r.name.as_str() == name) else {
        return (
            StatusCode::NOT_FOUND,
            page("not found", "<p>No published release of that name.</p>"),
        )
            .into_response();
    };
    let v = ReleaseView::new(r, &s.urls, seed_view(&s, &r.infohash));
    let b = format!(
        "<p><a href=\"/\">← dashboard</a></p><h1>{n}</h1><div class=\"table-wrap\"><table class=\"plain\">\
         <tr><th>seq</th><td>{}</td></tr><tr><th>infohash</th><td><code>{}</code></td></tr>\
         <tr><th>size</th><td>{} in {} files</td></tr><tr><th>pieces</th><td>{} × {}</td></tr>\
         <tr><th>published</th><td>{}</td></tr>\
         <tr><th>files</th><td><a href=\"{}\">torrent</a> · <a href=\"{}\">manifest</a> · <a href=\"{}\">signature</a></td></tr>\
         <tr><th>check</th><td><code>minisign -V -p hub.pub -m {n}.json -x {n}.json.minisig</code></td></tr></table></div>",
        v.seq,
        v.infohash,
        human(v.total_size),
        v.file_count,
        v.pieces,
        human(v.piece_length),
        ago(v.published_at),
        html(&v.torrent_url),
        html(&v.manifest_url),
        html(&v.signature_url),
        n = html(&v.name),
    );
    ([(header::CONTENT_SECURITY_POLICY, CSP)], page(&v.name, &b)).into_response()
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges_of_a_pad_file() {
        assert_eq!(byte_range("bytes=0-15", 100), Ok(Some((0, 15))));
        assert_eq!(byte_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=90-500", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-500", 100), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=-0", 100), Err(()));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range("bytes=5-2", 100), Ok(None));
    }
}
