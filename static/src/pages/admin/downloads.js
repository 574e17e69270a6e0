// pages/admin/downloads.js — Admin › Downloads: everyone's YouTube
// downloads (issue 14's GET /admin/downloads?status=&limit=, the newest
// 100), filtered by state, and cancel for any queued or running one (POST
// /admin/downloads/{id}/cancel). Names come from the users list (a download
// carries its userId). On a server without the YouTube feature the endpoint
// answers 404 and the section says so.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { ago, fullDate } from '../../lib/time.js';
import { useLoad, Table, Confirm, Said, ErrorLine, Skeleton, Missing } from './common.js';

const STATES = [['', 'Every state'], ['queued', 'Queued'], ['downloading', 'Downloading'], ['completed', 'Completed'],
  ['failed', 'Failed'], ['cancelled', 'Cancelled']];
const ACTIVE = new Set(['queued', 'downloading']);

export function Downloads() {
  const [state, setState] = useState('');
  const list = useLoad(`/admin/downloads?limit=100${state ? `&status=${state}` : ''}`);
  const people = useLoad('/admin/users?perPage=100');
  const names = new Map((people.data ? people.data.users : []).map((u) => [u.id, u.username]));
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  if (list.missing) return html`<${Missing} title="Downloads" what="Downloads are" />`;
  const cancel = async (d) => {
    setError(null);
    try { await api.post(`/admin/downloads/${d.id}/cancel`); setSaid(`${d.title || 'The download'} was cancelled.`); await list.reload(); } catch (e) { setError(e); }
  };
  const rows = list.data ? (list.data.downloads || list.data.results || []) : [];
  const cols = [
    { title: 'Title', cell: (d) => d.title || d.url },
    { title: 'User', cell: (d) => names.get(d.userId) || (d.userId ? `user #${d.userId}` : '—') },
    { title: 'Started', cell: (d) => (d.createdAt ? html`<time datetime=${d.createdAt} title=${fullDate(d.createdAt)}>${ago(d.createdAt)}</time>` : '—') },
    { title: 'State', cell: (d) => `${d.status}${d.progress != null && ACTIVE.has(d.status) ? ` (${Math.round(d.progress)} %)` : ''}` },
    { title: 'Actions', cell: (d) => (ACTIVE.has(d.status) ? html`<${Confirm} label="Cancel"
        question=${`Cancel ${d.title || 'this download'}? What is downloaded so far is removed.`} confirmLabel="Cancel the download"
        onConfirm=${() => cancel(d)} />` : null) },
  ];
  return html`<section aria-labelledby="downloads-title">
    <h2 id="downloads-title">Downloads</h2>
    <div class="toolbar"><label for="downloads-state">State</label>
      <select id="downloads-state" value=${state} onChange=${(e) => setState(e.currentTarget.value)}>
        ${STATES.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></div>
    <${Said} text=${said} />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data ? html`<${Skeleton} />` : html`<${Table} caption="Everyone's downloads" cols=${cols} empty="No downloads."
      rows=${rows.map((d) => ({ key: d.id, item: d }))} />`}
  </section>`;
}
