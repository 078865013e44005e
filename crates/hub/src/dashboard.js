// anthill hub dashboard: keeps the server-rendered page current from the
// hub's event stream (/api/events?agents=1, `agents` events) and /api/fleet.
// Report data is untrusted text: it only ever goes into textContent and
// attributes, never in as markup. The rows built here mirror
// dashboard.rs (`row`) cell for cell.
// `?updates=N` stops listening after N `agents` events (screenshots, tests).
(function () {
  'use strict';
  var body = document.body;
  var params = new URLSearchParams(location.search);
  var maxUpdates = params.has('updates') ? parseInt(params.get('updates'), 10) : Infinity;
  var release = body.dataset.release || '';
  var offset = parseInt(body.dataset.offset, 10) || 0;
  var limit = parseInt(body.dataset.limit, 10) || 200;
  var problemsOnly = body.dataset.problems === '1';
  var skew = (parseInt(body.dataset.at, 10) || Date.now() / 1000) - Date.now() / 1000;
  var series = {};
  var published = {};
  var rowsByName = new Map();
  var updates = 0;
  var es = null;
  var lastRefetch = 0;
  var refetchTimer = null;
  var W = 600, H = 100;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function now() { return Date.now() / 1000 + skew; }
  function human(b) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var v = b, u = 0;
    while (v >= 1024 && u + 1 < units.length) { v /= 1024; u++; }
    return u === 0 ? b + ' B' : v.toFixed(1) + ' ' + units[u];
  }
  function age(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h';
    return Math.floor(s / 86400) + ' days';
  }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    function two(a, ua, b, ub) { return b === 0 ? a + ' ' + ua : a + ' ' + ua + ' ' + b + ' ' + ub; }
    if (s < 60) return s + ' s';
    if (s < 3600) return two(Math.floor(s / 60), 'min', s % 60, 's');
    return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min');
  }
  function setLive(state, text) {
    body.dataset.live = state;
    var l = $('#live');
    if (l) { l.textContent = text; l.className = 'live live-' + state; }
  }
  function setField(root, name, text) {
    var e = $('[data-f="' + name + '"]', root);
    if (e) e.textContent = text;
  }

  // ---- releases: summaries and charts ----
  function fillSummary(ih, s) {
    var card = $('article.rel[data-release="' + ih + '"]');
    if (!card) return;
    ['installed', 'downloading', 'failed', 'stale', 'other'].forEach(function (k) {
      setField(card, k, String(s[k]));
      var box = $('.stat.s-' + k, card);
      if (box) box.classList.toggle('nz', s[k] > 0);
    });
    var of = $('.stat.s-installed small', card);
    if (of) of.textContent = 'of ' + (s.agents - s.stale);
    setField(card, 'full', s.time_to_full_secs === null ? '—' : duration(s.time_to_full_secs));
    setField(card, 'bytes', human(s.origin_bytes) + ' / ' + human(s.delivered_bytes));
    setField(card, 'ratio', s.origin_bytes > 0 && s.delivered_bytes > 0
      ? '×' + (s.delivered_bytes / s.origin_bytes).toFixed(1) + ' delivered per origin byte'
      : 'hub sent / agents received');
    setField(card, 'mean', (s.mean_progress * 100).toFixed(1) + '%');
  }
  function drawChart(ih) {
    var fig = $('figure.chart[data-chart="' + ih + '"]');
    var pts = series[ih] || [];
    if (!fig) return;
    var last = pts.length ? pts[pts.length - 1] : null;
    var end = Math.max(last ? last[0] : 0, Math.floor(now() - (published[ih] || now())));
    var tmax = Math.max(60, end);
    var done = [], mean = [];
    var all = last && last[0] < end ? pts.concat([[end, last[1], last[2], last[3]]]) : pts;
    all.forEach(function (p) {
      var x = (p[0] / tmax * W).toFixed(1);
      var share = p[2] === 0 ? 0 : p[1] / p[2];
      done.push(x + ',' + (H - Math.min(1, share) * H).toFixed(1));
      mean.push(x + ',' + (H - Math.min(1, p[3]) * H).toFixed(1));
    });
    $('polyline.done', fig).setAttribute('points', done.join(' '));
    $('polyline.mean', fig).setAttribute('points', mean.join(' '));
    var none = $('.none', fig);
    if (none && pts.length) none.remove();
    setField(fig, 'span', '0 – ' + duration(end) + ' after publish');
  }
  function addPoint(ih, p) {
    var s = series[ih] || (series[ih] = []);
    var last = s[s.length - 1];
    if (last && p[0] < last[0]) return;
    if (last && p[0] - last[0] < 1) s[s.length - 1] = p; else s.push(p);
    if (s.length > 1200) loadFleet();
    drawChart(ih);
  }

  // ---- agents table ----
  function cell(tr, label) {
    var td = el('td');
    td.dataset.label = label;
    var div = el('div');
    td.appendChild(div);
    tr.appendChild(td);
    return div;
  }
  function lastLine(s) {
    var lines = s.split('\n');
    for (var i = lines.length - 1; i >= 0; i--) if (lines[i].trim()) return lines[i];
    return '';
  }
  function fillRow(tr, r) {
    var st = r.status;
    tr.dataset.agent = r.name;
    tr.className = 'st-' + st + (r.problem ? ' problem' : '');
    while (tr.firstChild) tr.removeChild(tr.firstChild);
    var c = cell(tr, 'agent');
    c.appendChild(el('span', 'name', r.name));
    var sub = [];
    if (r.version !== null) sub.push('v' + r.version);
    if (r.current !== null) sub.push('current ' + r.current);
    c.appendChild(el('small', null, sub.join(' · ')));
    c = cell(tr, 'state');
    c.appendChild(el('span', 'badge b-' + (r.stale ? 'other' : st), (st === 'failed' ? '⚠ ' : '') + r.state));
    if (r.stale) { c.appendChild(document.createTextNode(' ')); c.appendChild(el('span', 'badge b-stale', '⚠ stale')); }
    c = cell(tr, 'progress');
    var pct = (r.progress * 100).toFixed(1) + '%';
    var bar = el('span', 'bar progress'), fill = el('i');
    fill.style.width = pct;
    bar.appendChild(fill);
    c.appendChild(bar);
    c.appendChild(el('span', 'pct', pct));
    c = cell(tr, 'rate');
    c.appendChild(el('span', 'num', '↓ ' + human(r.download_rate) + '/s'));
    c.appendChild(document.createTextNode(' '));
    c.appendChild(el('span', 'num', '↑ ' + human(r.upload_rate) + '/s'));
    c = cell(tr, 'from peers / hub');
    var total = r.from_peers + r.from_hub;
    if (total === 0) c.textContent = '—';
    else {
      var peers = r.from_peers / total * 100;
      var sb = el('span', 'bar split'), sf = el('i');
      sf.style.width = peers.toFixed(1) + '%';
      sb.appendChild(sf);
      c.appendChild(sb);
      c.appendChild(el('small', null, peers.toFixed(0) + '% peers · ' + (100 - peers).toFixed(0) + '% hub · ' + human(total)));
    }
    c = cell(tr, 'hook');
    if (!r.hook_ran) c.textContent = '—';
    else {
      if (r.hook_exit === 0) c.appendChild(el('span', 'ok', '✓ exit 0'));
      else if (r.hook_exit !== null) c.appendChild(el('span', 'bad', '✗ exit ' + r.hook_exit));
      else if (r.state === 'hook_running') c.appendChild(document.createTextNode('running'));
      else c.appendChild(el('span', 'bad', '✗ killed'));
      var t = el('small', 'tail', lastLine(r.hook_output));
      t.title = r.hook_output;
      c.appendChild(t);
    }
    c = cell(tr, 'last error');
    if (r.error === null) c.textContent = '—';
    else c.appendChild(el('span', 'err', '⚠ ' + r.error));
    c = cell(tr, 'last report');
    var a = el('span', null, age(now() - r.reported_at) + ' ago');
    a.dataset.ago = String(r.reported_at);
    c.appendChild(a);
    if (r.stale) c.appendChild(el('small', 'warn', 'no recent report'));
    tr.dataset.updated = String(updates);
  }
  function tbody() { return $('#agent-rows'); }
  function indexRows() {
    rowsByName = new Map();
    var tb = tbody();
    if (!tb) return;
    Array.prototype.forEach.call(tb.rows, function (tr) { rowsByName.set(tr.dataset.agent, tr); });
  }
  function applyRows(rows) {
    var tb = tbody();
    if (!tb) return;
    rows.forEach(function (r) {
      var tr = rowsByName.get(r.name);
      if (!tr) {
        if (problemsOnly && !r.problem) return;
        if (offset !== 0 || tb.rows.length >= limit) return;
        tr = el('tr');
        tb.appendChild(tr);
        rowsByName.set(r.name, tr);
      }
      fillRow(tr, r);
    });
    var none = $('#no-agents');
    if (none) none.hidden = tb.rows.length > 0;
  }
  function setPager(total) {
    var n = tbody() ? tbody().rows.length : 0;
    setField(document, 'total', String(total));
    setField(document, 'shown', (n ? offset + 1 : 0) + '–' + (offset + n));
  }
  function replaceRows(page) {
    var tb = tbody();
    if (!tb) return;
    while (tb.firstChild) tb.removeChild(tb.firstChild);
    rowsByName = new Map();
    page.agents.forEach(function (r) {
      var tr = el('tr');
      fillRow(tr, r);
      tb.appendChild(tr);
      rowsByName.set(r.name, tr);
    });
    setPager(page.total);
    var none = $('#no-agents');
    if (none) none.hidden = page.total > 0;
  }
  // Re-reads the rows shown, at most every 3 s (more agents changed than an event carries).
  function refetchRows() {
    if (refetchTimer) return;
    var wait = Math.max(0, lastRefetch + 3000 - Date.now());
    refetchTimer = setTimeout(function () {
      refetchTimer = null;
      lastRefetch = Date.now();
      var q = '?release=' + encodeURIComponent(release) + '&offset=' + offset + '&limit=' + limit + (problemsOnly ? '&problems=1' : '');
      fetch('/api/fleet/agents' + q).then(function (r) { return r.json(); }).then(replaceRows).catch(function () {});
    }, wait);
  }
  function tickAges() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-ago]'), function (e) {
      e.textContent = age(now() - parseInt(e.dataset.ago, 10)) + ' ago';
    });
  }

  // ---- the event stream ----
  function onAgents(ev) {
    var d = JSON.parse(ev.data);
    updates++;
    skew = d.at - Date.now() / 1000;
    if ((d.release || '') !== release) { location.reload(); return; }
    setField(document, 'agents', String(d.agents));
    d.releases.forEach(function (r) {
      if (!(r.infohash in published)) return;
      fillSummary(r.infohash, r.summary);
      if (r.point) addPoint(r.infohash, r.point);
    });
    applyRows(d.changed);
    if (!problemsOnly) setPager(d.agents);
    if (d.changed_total > d.changed.length) refetchRows();
    body.dataset.updated = String(d.tick);
    body.dataset.updates = String(updates);
    if (updates >= maxUpdates) {
      es.close();
      setLive('paused', 'paused after ' + updates + ' updates');
    }
  }
  // Without the stream, reload every 5 s (once the hub answers again).
  function fallback() {
    setLive('offline', 'offline · retrying');
    setTimeout(function () {
      fetch('/api/fleet', { cache: 'no-store' })
        .then(function (r) { if (r.ok) location.reload(); else fallback(); })
        .catch(fallback);
    }, 5000);
  }
  function connect() {
    if (!('EventSource' in window)) { fallback(); return; }
    if (maxUpdates <= 0) { setLive('paused', 'not following updates'); return; }
    var lost = null;
    es = new EventSource('/api/events?agents=1');
    var broken = false;
    es.addEventListener('open', function () {
      if (lost) { clearTimeout(lost); lost = null; }
      // Back after a break: events were missed, so start from a fresh page.
      if (broken) { location.reload(); return; }
      setLive('live', 'live');
    });
    es.addEventListener('agents', onAgents);
    ['published', 'retired'].forEach(function (k) {
      es.addEventListener(k, function () { location.reload(); });
    });
    es.addEventListener('lagged', function () { location.reload(); });
    es.addEventListener('error', function () {
      if (es.readyState === EventSource.CLOSED) { fallback(); return; }
      broken = true;
      setLive('offline', 'reconnecting');
      if (!lost) lost = setTimeout(function () { es.close(); fallback(); }, 5000);
    });
  }
  function loadFleet() {
    return fetch('/api/fleet').then(function (r) { return r.json(); }).then(function (f) {
      skew = f.at - Date.now() / 1000;
      f.releases.forEach(function (r) {
        published[r.infohash] = r.published_at;
        series[r.infohash] = r.series;
        fillSummary(r.infohash, r.summary);
        drawChart(r.infohash);
      });
    });
  }

  var ticks = 0;
  indexRows();
  setInterval(function () {
    tickAges();
    if (++ticks % 5 === 0) Object.keys(published).forEach(drawChart);
  }, 1000);
  loadFleet().catch(function () {}).then(function () {
    body.dataset.script = 'ready';
    connect();
  });
})();
