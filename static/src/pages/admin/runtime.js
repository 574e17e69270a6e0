// pages/admin/runtime.js — Admin › Runtime: this instance's generations,
// plugins with versions, pools and circuit breakers, its own figures
// (uptime, requests/s, p95, memory), and Reload with its result in words
// (ok, nothing changed, or the failing plugin with the error's file:line).
// Refreshed every 5 s while visible.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { fullDate } from '../../lib/time.js';
import { useLoad, Table, ErrorLine, Skeleton, Missing } from './common.js';

const REFRESH_MS = 5000;
const BREAKER = { closed: 'Closed (calls pass)', open: 'Open (calls refused)', half_open: 'Half-open (trying again)' };

export function bytes(n) {
  if (n == null) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function duration(s) {
  if (s == null) return '—';
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : m ? `${m} min` : `${s} s`;
}

function useRefresh(list) {
  useEffect(() => {
    const t = setInterval(() => { if (document.visibilityState === 'visible') list.reload(); }, REFRESH_MS);
    return () => clearInterval(t);
  }, [list.reload]);
}

function reloadText(r) {
  if (r.busy) return 'A reload is already running; try again in a moment.';
  if (r.noop) return 'Nothing changed since the current generation was built: no reload needed (use “Force reload” to rebuild anyway).';
  if (r.ok) return `Reloaded: generation ${r.generation} replaced ${r.previous}${r.seconds != null ? ` in ${Math.round(r.seconds * 1000)} ms` : ''}.`;
  return `Reload failed${r.plugin ? ` in plugin ${r.plugin}` : ''}: ${r.error}. The previous generation keeps serving.`;
}

function Reload({ onDone }) {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const out = useRef(null);
  const run = async (force) => {
    setBusy(true); setError(null); setResult(null);
    try { setResult(await api.post('/admin/reload', { force })); } catch (e) {
      // 409 and 422 carry the result in the body, not the error envelope
      if ((e.status === 409 || e.status === 422) && e.body) setResult(e.body);
      else setError(e);
    } finally { setBusy(false); onDone(); }
  };
  return html`<div class="reload">
    <div class="form-actions">
      <button type="button" class="btn btn-primary" disabled=${busy} data-testid="reload" onClick=${() => run(false)}>${busy ? 'Reloading…' : 'Reload'}</button>
      <button type="button" class="btn" disabled=${busy} data-testid="reload-force" onClick=${() => run(true)}>Force reload</button>
    </div>
    <div role="status" aria-live="polite" ref=${out} data-testid="reload-result" data-ok=${result ? String(!!result.ok) : undefined}>
      ${result ? html`<p class=${result.ok ? 'notice' : 'alert'}>${reloadText(result)}</p>` : null}</div>
    <${ErrorLine} error=${error} />
  </div>`;
}

function Figures({ f }) {
  const items = [['Uptime', duration(f.uptimeSeconds)], ['Requests/s', f.requestsPerSecond],
    ['p95 response', f.p95Ms != null ? `${f.p95Ms} ms` : '—'], ['Requests answered', f.requests], ['Memory (RSS)', bytes(f.rssBytes)]];
  return html`<dl class="figures" data-testid="server-figures">${items.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

export function Runtime() {
  const rt = useLoad('/admin/runtime');
  const srv = useLoad('/admin/server');
  useRefresh(rt); useRefresh(srv);
  if (rt.missing) return html`<${Missing} title="Runtime" what="The runtime view is" />`;
  const d = rt.data;
  const gens = d ? d.generations : [];
  const db = d && d.pools && d.pools.database;
  return html`<section aria-labelledby="runtime-title">
    <h2 id="runtime-title">Runtime</h2>
    <${ErrorLine} error=${rt.error || srv.error} />
    <${Reload} onDone=${() => { rt.reload(); srv.reload(); }} />
    <h3>This server</h3>
    ${srv.data ? html`<${Figures} f=${srv.data.figures} />` : srv.missing ? html`<p class="muted">Figures are not available on this server.</p>` : html`<${Skeleton} rows=${1} />`}
    ${!d ? html`<${Skeleton} rows=${6} />` : html`
      <p data-testid="generation">Current generation <strong>${d.generation}</strong>${d.last_reload && d.last_reload.at ? html`; last reload ${fullDate(d.last_reload.at)}` : null}.</p>
      <${Table} caption="Generations" testid="generations" empty="No generations."
        cols=${[{ title: 'Generation', cell: (g) => g.id }, { title: 'State', cell: (g) => g.state },
                { title: 'Tasks', cell: (g) => g.tasks ?? '—' }, { title: 'Lua memory', cell: (g) => bytes(g.lua_memory) }]}
        rows=${gens.map((g) => ({ key: g.id, item: g }))} />
      <h3>Pools</h3>
      <dl class="figures">
        <div><dt>PostgreSQL in use</dt><dd>${db ? db.in_use : '—'}</dd></div>
        <div><dt>PostgreSQL idle</dt><dd>${db ? db.idle : '—'}</dd></div>
        <div><dt>PostgreSQL waiting</dt><dd>${db ? db.waiting : '—'}</dd></div>
        <div><dt>Redis</dt><dd>${!srv.data || !srv.data.pools.redis ? '—' : !srv.data.pools.redis.configured ? 'Not configured'
          : srv.data.pools.redis.available ? 'Connected' : 'Not connected'}</dd></div>
        <div><dt>Upstream connections per host</dt><dd>${srv.data ? srv.data.pools.fetch.maxHostConnections : '—'}</dd></div>
        <div><dt>WebSocket connections</dt><dd>${d.websocket ? d.websocket.connections : '—'}</dd></div>
        <div><dt>Process</dt><dd>pid ${d.process.pid}, ${bytes(d.process.rss_bytes)}</dd></div>
      </dl>
      <h3>Circuit breakers</h3>
      <${Table} caption="Circuit breakers" testid="breakers" empty="No upstream has been called yet."
        cols=${[{ title: 'Service', cell: (b) => b[0] }, { title: 'State', cell: (b) => BREAKER[b[1]] || b[1] }]}
        rows=${Object.entries(d.breakers || {}).map((b) => ({ key: b[0], item: b }))} />`}
    <h3>Plugins</h3>
    ${srv.data ? html`<${Table} caption="Plugins" testid="plugins" empty="No plugins."
        cols=${[{ title: 'Plugin', cell: (p) => p.name }, { title: 'Version', cell: (p) => p.version || '—' },
                { title: 'What it does', cell: (p) => p.description || '' }]}
        rows=${srv.data.plugins.map((p) => ({ key: p.name, item: p }))} />` : html`<${Skeleton} rows=${4} />`}
  </section>`;
}
