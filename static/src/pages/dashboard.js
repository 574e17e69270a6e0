// pages/dashboard.js — the dashboard: a card per service the user may see
// (status as a word, a shape and a colour; response time, 24 h uptime, last
// check, the message; a sparkline of recent response times), how fresh that
// is, and the user's own counts. Status comes from lib/status.js (pushed
// over the WebSocket); while the socket is down the page says so, keeps
// showing when it last heard, and asks over HTTP every 30 s instead (every
// 60 s while live: the socket pushes changes of state, not each check's figures).
// Changes of a service's state are announced in a polite live region.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describe } from '../lib/api.js';
import { useStore } from '../lib/store.js';
import { state as wsState, on } from '../lib/ws.js';
import { status, statusError, refreshStatus } from '../lib/status.js';
import { ago, clock, fullDate } from '../lib/time.js';

const WORD = { up: 'Up', degraded: 'Degraded', down: 'Down', maintenance: 'Maintenance', unknown: 'Unknown' };
const POLL_MS = 30000;       // HTTP fallback while the socket is down
const POLL_LIVE_MS = 60000;  // the figures the socket does not push
const TICK_MS = 15000;       // re-render the "… ago" times
const HISTORY_MAX = 100;     // as the API: at most 100 points

function useTick(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), ms); return () => clearInterval(t); }, [ms]);
  return now;
}

// The socket pushes changes of state at once, but not every check's figures
// (response time, last check): those come over HTTP every minute while the
// page is visible, and every 30 s while the socket is down.
function usePoll(ws) {
  useEffect(() => {
    const t = setInterval(() => { if (document.visibilityState === 'visible') refreshStatus(); },
      ws === 'online' ? POLL_LIVE_MS : POLL_MS);
    return () => clearInterval(t);
  }, [ws]);
}

// "Plex is now down": one polite sentence per change of state.
function useChangeAnnouncer(services) {
  const prev = useRef(null);
  const [said, setSaid] = useState('');
  useEffect(() => {
    if (!services) return;
    const before = prev.current;
    prev.current = new Map(services.map((s) => [s.id, s.status]));
    if (!before) return;
    const changed = services.filter((s) => before.has(s.id) && before.get(s.id) !== s.status);
    if (!changed.length) return;
    const text = changed.map((s) => `${s.name} is now ${(WORD[s.status] || s.status).toLowerCase()}.`).join(' ');
    // the same words again must still change the region, or nothing is read
    setSaid((was) => (was === text ? `${text}\u00a0` : text));
  }, [services]);
  return said;
}

function Freshness({ st, ws, now }) {
  if (!st) return null;
  const live = ws === 'online';
  const t = st.receivedAt;
  return html`<p class="fresh" data-testid="freshness" data-live=${String(live)}>
    ${live
      ? html`<span class="fresh-dot" aria-hidden="true"></span>Live — updated <time datetime=${new Date(t).toISOString()}>${clock(t)}</time>`
      : html`<span class="fresh-dot fresh-stale" aria-hidden="true"></span>Not live (${ws === 'offline' ? 'offline' : 'reconnecting'}) —
          last updated <time datetime=${new Date(t).toISOString()}>${clock(t)}</time>, ${ago(t, now)}`}
  </p>`;
}

// The status glyph: a different shape per state, so colour is never the only cue.
const SHAPES = {
  up: html`<circle cx="6" cy="6" r="5" />`,
  degraded: html`<path d="M6 1l5 10H1z" />`,
  down: html`<rect x="1.5" y="1.5" width="9" height="9" />`,
  maintenance: html`<path d="M6 .8l5.2 5.2L6 11.2.8 6z" />`,
  unknown: html`<circle cx="6" cy="6" r="4.5" fill="none" stroke-width="1.6" />`,
};

function StatusPill({ s }) {
  const k = WORD[s] ? s : 'unknown';
  return html`<span class="pill" data-status=${k} data-testid="service-status">
    <svg viewBox="0 0 12 12" aria-hidden="true" focusable="false" fill="currentColor" stroke="currentColor">${SHAPES[k]}</svg>${WORD[k]}</span>`;
}

// Response times over the last 24 h as a line on a time axis (the API gives
// 14-minute buckets; pushed checks add points on the right); no line across
// a gap of more than half an hour, ticks where the service was down.
const DAY_MS = 864e5, GAP_MS = 30 * 60e3;

function Sparkline({ points, now }) {
  const pts = points.map((p) => ({ ...p, t: Date.parse(p.at) })).filter((p) => Number.isFinite(p.t) && p.t > now - DAY_MS);
  const times = pts.map((p) => p.responseTimeMs).filter((v) => typeof v === 'number');
  // a lone dot on a day-wide axis says nothing: words until there is a line
  if (times.length < 2) return html`<div class="spark spark-empty muted">History builds up as checks run</div>`;
  const max = Math.max(1, ...times), min = times.length ? Math.min(...times) : 0;
  const W = 100, H = 24;
  const x = (t) => Math.max(0, Math.min(W, ((t - (now - DAY_MS)) / DAY_MS) * W)).toFixed(2);
  const y = (v) => (H - 2 - ((v - min) / Math.max(1, max - min)) * (H - 4)).toFixed(2);
  let d = '', prev = null;
  for (const p of pts) {
    if (typeof p.responseTimeMs !== 'number') { prev = null; continue; }
    // a new segment starts with a zero-length stroke: a lone point shows as a dot
    d += prev != null && p.t - prev <= GAP_MS ? `L${x(p.t)} ${y(p.responseTimeMs)}` : `M${x(p.t)} ${y(p.responseTimeMs)}h0`;
    prev = p.t;
  }
  const label = `Response time over the last 24 hours: ${min} to ${max} ms, latest ${times[times.length - 1]} ms`;
  return html`<svg class="spark" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label=${label} data-testid="sparkline">
    ${pts.filter((p) => p.status === 'down').map((p) => html`<line class="spark-down" x1=${x(p.t)} x2=${x(p.t)} y1=${H - 5} y2=${H} />`)}
    <path d=${d} /></svg>`;
}

// The card's history: fetched once, then extended by each pushed check.
function useHistory(svc) {
  const [hist, setHist] = useState(null);
  useEffect(() => {
    let live = true;
    api.get(`/dashboard/status/${encodeURIComponent(svc.id)}`, {})
      .then((d) => live && setHist(Array.isArray(d.history) ? d.history : []), () => live && setHist([]));
    return () => { live = false; };
  }, [svc.id]);
  useEffect(() => {
    if (!svc.lastCheckAt) return;
    const point = { at: svc.lastCheckAt, status: svc.status, responseTimeMs: svc.responseTimeMs };
    setHist((h) => (!h || (h.length && h[h.length - 1].at >= point.at) ? h : [...h, point].slice(-HISTORY_MAX)));
  }, [svc.lastCheckAt, svc.status]);
  return hist;
}

const fmtMs = (v) => (typeof v === 'number' ? `${Math.round(v)} ms` : '—');
const fmtPct = (v) => (typeof v === 'number' ? `${v >= 99.995 ? '100' : v.toFixed(v >= 99 ? 2 : 1)} %` : '—');

const INTEGRATION = {
  token_rejected: 'The Plex token was rejected: an admin must sign in again as the owner or update it in Admin › Services.',
  key_rejected: 'The Overseerr API key was rejected: an admin must update it in Admin › Services.',
};

function ServiceCard({ svc, isAdmin, now }) {
  const hist = useHistory(svc);
  const hid = `svc-${svc.id.replace(/[^\w-]/g, '-')}`;
  const source = svc.source === 'uptime_kuma' ? 'Uptime Kuma' : 'MediaNest check';
  // the source is part of the name: Kuma may watch "Plex" too
  return html`<li><article class="svc" aria-labelledby=${`${hid} ${hid}-src`} data-testid="service" data-service=${svc.id} data-status=${svc.status}>
    <header class="svc-head">
      <h3 id=${hid}>${svc.name}</h3>
      <${StatusPill} s=${svc.status} />
    </header>
    ${hist ? html`<${Sparkline} points=${hist} now=${now} />` : html`<div class="spark spark-empty" aria-hidden="true"></div>`}
    <dl class="svc-facts">
      <div><dt>Response</dt><dd data-testid="service-response">${fmtMs(svc.responseTimeMs)}</dd></div>
      <div><dt>Uptime 24 h</dt><dd>${fmtPct(svc.uptime24h)}</dd></div>
      <div><dt>Last check</dt><dd>${svc.lastCheckAt
        ? html`<time datetime=${svc.lastCheckAt} title=${fullDate(svc.lastCheckAt)}>${ago(svc.lastCheckAt, now)}</time>` : 'never'}</dd></div>
    </dl>
    ${svc.message ? html`<p class="svc-msg" data-testid="service-message">${svc.message}</p>` : null}
    ${INTEGRATION[svc.integration] ? html`<p class="svc-warn" role="note">${INTEGRATION[svc.integration]}</p>` : null}
    <p class="svc-src muted"><span id=${`${hid}-src`}>${source}</span>
      ${isAdmin && svc.visible === false ? html` · <span class="svc-hidden" data-testid="service-hidden">hidden from users</span>` : null}</p>
  </article></li>`;
}

function Services({ st, err, isAdmin, now }) {
  if (!st) {
    return err
      ? html`<div class="alert" role="alert" data-testid="status-error"><p>Service status could not be loaded: ${describe(err)}</p></div>`
      : html`<p class="muted" role="status">Loading service status…</p>`;
  }
  if (!st.services.length) return html`<p class="notice" data-testid="no-services">No services to show.</p>`;
  return html`<ul class="svc-grid">${st.services.map((s) => html`<${ServiceCard} key=${s.id} svc=${s} isAdmin=${isAdmin} now=${now} />`)}</ul>`;
}

const STAT_GROUPS = [
  ['requests', 'Your requests', ['pending', 'approved', 'processing', 'available', 'declined', 'failed']],
  ['downloads', 'Your downloads', ['queued', 'downloading', 'completed', 'failed', 'cancelled']],
];
const cap = (w) => w[0].toUpperCase() + w.slice(1);

// The user's requests and downloads change as they happen: count again
// (at most once a second) when one of theirs does.
const STAT_EVENTS = ['request:update', 'download:created', 'download:completed', 'download:failed', 'download:cancelled'];

function useStats() {
  const [d, setD] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    let live = true, timer = null;
    const load = () => api.get('/dashboard/stats').then((v) => live && (setD(v), setErr(null)), (e) => live && setErr(e));
    const soon = () => { if (!timer) timer = setTimeout(() => { timer = null; load(); }, 1000); };
    const offs = STAT_EVENTS.map((ev) => on(ev, soon));
    load();
    return () => { live = false; clearTimeout(timer); offs.forEach((off) => off()); };
  }, []);
  return [d, err];
}

function Stats() {
  const [d, err] = useStats();
  if (err) return html`<p class="alert" role="alert">Your counts could not be loaded: ${describe(err)}</p>`;
  if (!d) return html`<p class="muted">Loading…</p>`;
  const lib = d.library || {};
  return html`<div class="stats" data-testid="stats">
    ${STAT_GROUPS.map(([k, title, parts]) => html`<div class="stat" key=${k}>
      <h3>${title}</h3><p class="stat-total" data-testid=${`stat-${k}`}>${d[k]?.total ?? 0}</p>
      <dl class="stat-parts">${parts.filter((p) => d[k]?.[p]).map((p) => html`<div key=${p}><dt>${cap(p)}</dt><dd>${d[k][p]}</dd></div>`)}</dl>
    </div>`)}
    <div class="stat"><h3>Library</h3>
      <p class="stat-total" data-testid="stat-library">${lib.items ?? '—'}</p>
      <p class="muted">${lib.items == null ? 'Not known while Plex is unavailable' : `items in ${lib.sections ?? '?'} sections`}</p></div>
  </div>`;
}

export function Page({ user }) {
  const st = useStore(status);
  const err = useStore(statusError);
  const ws = useStore(wsState);
  const now = useTick(TICK_MS);
  usePoll(ws);
  const said = useChangeAnnouncer(st && st.services);
  return html`<section class="page dash" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">Dashboard</h1><${Freshness} st=${st} ws=${ws} now=${now} /></div>
    <div class="sr-only" role="status" aria-live="polite" data-testid="status-live">${said}</div>
    <section class="dash-section" aria-labelledby="services-title">
      <h2 id="services-title">Services</h2>
      <${Services} st=${st} err=${err} isAdmin=${user.role === 'admin'} now=${now} />
    </section>
    <section class="dash-section" aria-labelledby="stats-title">
      <h2 id="stats-title">Your activity</h2>
      <${Stats} />
    </section>
  </section>`;
}
