// pages/admin/monitors.js — Admin › Monitors: every service the status
// poller knows (MediaNest's own checks and Uptime Kuma's monitors), its
// state in words — live: the shell's status store (lib/status.js, pushed
// over the WebSocket; admins get hidden services too) wins over the list's
// answer — and whether users see it on their dashboard.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { useStore } from '../../lib/store.js';
import { status } from '../../lib/status.js';
import { useLoad, Table, Said, ErrorLine, Skeleton, Missing } from './common.js';

const WORD = { up: 'Up', degraded: 'Degraded', down: 'Down', maintenance: 'Maintenance', unknown: 'Unknown' };
const SOURCE = { self: 'MediaNest', uptime_kuma: 'Uptime Kuma' };

export function Monitors() {
  const list = useLoad('/admin/monitors');
  const st = useStore(status);
  const live = new Map((st && st.services || []).map((x) => [x.id, x.status]));
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  if (list.missing) return html`<${Missing} title="Monitors" what="Monitors are" />`;
  const toggle = async (m) => {
    setError(null);
    try {
      const r = await api.patch(`/admin/monitors/${encodeURIComponent(m.id)}`, { visible: !m.visible });
      list.set({ monitors: list.data.monitors.map((x) => (x.id === m.id ? r.monitor : x)) });
      setSaid(`${m.name} is now ${r.monitor.visible ? 'shown to' : 'hidden from'} users.`);
    } catch (e) { setError(e); }
  };
  const cols = [
    { title: 'Monitor', cell: (m) => m.name },
    { title: 'Source', cell: (m) => SOURCE[m.source] || m.source },
    { title: 'State', cell: (m) => {
      const now = live.get(m.id) || m.status;
      return html`<span class=${`state state-${now}`} data-testid="monitor-state">
        <span class="dot" aria-hidden="true"></span>${WORD[now] || now || 'Unknown'}</span>`;
    } },
    { title: 'Shown to users', cell: (m) => html`<label class="switch">
      <input type="checkbox" checked=${m.visible} data-testid="monitor-visible" onChange=${() => toggle(m)} />
      <span>${m.visible ? 'Shown' : 'Hidden'}<span class="sr-only"> (${m.name})</span></span></label>` },
  ];
  return html`<section aria-labelledby="monitors-title">
    <h2 id="monitors-title">Monitors</h2>
    <p class="muted">Which services users see on their dashboard. Admins always see every one.</p>
    <${Said} text=${said} testid="monitors-said" />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data ? html`<${Skeleton} />` : html`<${Table} caption="Monitors" testid="monitors" cols=${cols}
      empty="No monitors yet: configure services, or Uptime Kuma." rows=${list.data.monitors.map((m) => ({ key: m.id, item: m, testid: `monitor-${m.id}` }))} />`}
  </section>`;
}
