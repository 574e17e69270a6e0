// pages/dashboard.js — the dashboard: a card per service the user may see
// (status as a word, a shape and a colour; response time, 24 h uptime, last
// check, the message; a sparkline of recent response times), how fresh that
// is, and the user's own counts. Status comes from lib/status.js (pushed
// over the WebSocket); while the socket is down the page says so, keeps
// showing when it last heard, and asks over HTTP every 30 s instead.
// Changes of a service's state are announced in a polite live region.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describe } from '../lib/api.js';
import { useStore } from '../lib/store.js';
import { state as wsState } from '../lib/ws.js';
import { status, statusError, refreshStatus } from '../lib/status.js';
import { ago, clock, fullDate } from '../lib/time.js';

const WORD = { up: 'Up', degraded: 'Degraded', down: 'Down', maintenance: 'Maintenance', unknown: 'Unknown' };
const POLL_MS = 30000;       // HTTP fallback while the socket is down
const TICK_MS = 15000;       // re-render the "… ago" times
const HISTORY_MAX = 100;     // as the API: at most 100 points

function useTick(ms) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), ms); return () => clearInterval(t); }, [ms]);
  return now;
}

// While the socket is not online, fetch over HTTP now and then.
function usePollWhileOffline(ws) {
  useEffect(() => {
    if (ws === 'online') return undefined;
    const t = setInterval(refreshStatus, POLL_MS);
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
    if (changed.length) setSaid(changed.map((s) => `${s.name} is now ${(WORD[s.status] || s.status).toLowerCase()}.`).join(' '));
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

// Response times as a line (gaps where there was none, ticks where it was down).
function Sparkline({ points }) {
  const pts = points.filter((p) => p && p.at);
  if (pts.length < 2) return html`<div class="spark spark-empty muted">No history yet</div>`;
  const times = pts.map((p) => p.responseTimeMs).filter((v) => typeof v === 'number');
  const max = Math.max(1, ...times), min = times.length ? Math.min(...times) : 0;
  const n = pts.length, W = 100, H = 24;
  const x = (i) => (i / (n - 1)) * W;
  const y = (v) => H - 2 - ((v - min) / Math.max(1, max - min)) * (H - 4);
  let d = '', pen = false;
  const ticks = [];
  pts.forEach((p, i) => {
    if (typeof p.responseTimeMs === 'number') { d += `${pen ? 'L' : 'M'}${x(i).toFixed(2)} ${y(p.responseTimeMs).toFixed(2)}`; pen = true; } else pen = false;
    if (p.status === 'down') ticks.push(x(i));
  });
  const label = times.length
    ? `Response time over the last ${n} checks: ${min} to ${max} ms, latest ${times[times.length - 1]} ms`
    : `No response times in the last ${n} checks`;
  return html`<svg class="spark" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label=${label} data-testid="sparkline">
    ${ticks.map((tx) => html`<line class="spark-down" x1=${tx} x2=${tx} y1=${H - 5} y2=${H} />`)}
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
    ${hist ? html`<${Sparkline} points=${hist} />` : html`<div class="spark spark-empty" aria-hidden="true"></div>`}
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

function Stats() {
  const [d, setD] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => { api.get('/dashboard/stats').then(setD, setErr); }, []);
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
  usePollWhileOffline(ws);
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
