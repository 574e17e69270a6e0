// pages/admin/requests.js — Admin › Requests: everyone's media requests
// (issue 13's GET /admin/requests?status=&page= → {results, page,
// totalPages}), filtered by status, with approve and decline
// (POST /admin/requests/{id}/approve|decline) passed to Overseerr. On a server without the requests feature the
// endpoint answers 404 and the section says so.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { ago, fullDate } from '../../lib/time.js';
import { useLoad, Table, Confirm, Said, ErrorLine, Skeleton, Missing, Pager } from './common.js';

const STATUSES = [['', 'Every status'], ['pending', 'Pending'], ['approved', 'Approved'], ['processing', 'Processing'],
  ['partially_available', 'Partly available'], ['available', 'Available'], ['declined', 'Declined'], ['failed', 'Failed'],
  ['cancelled', 'Cancelled']];
const WORD = Object.fromEntries(STATUSES.slice(1));

const who = (r) => r.requestedBy?.username || r.user?.username || r.username || '—';

export function Requests() {
  const [status, setStatus] = useState('');
  const [page, setPage] = useState(1);
  const list = useLoad(`/admin/requests?page=${page}${status ? `&status=${status}` : ''}`);
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  if (list.missing) return html`<${Missing} title="Requests" what="Requests are" />`;
  const act = async (r, verb) => {
    setError(null);
    try { await api.post(`/admin/requests/${r.id}/${verb}`); setSaid(`${r.title} ${verb === 'approve' ? 'approved' : 'declined'}.`); await list.reload(); } catch (e) { setError(e); }
  };
  const rows = list.data ? (list.data.requests || list.data.results || []) : [];
  const cols = [
    { title: 'Title', cell: (r) => r.title || `#${r.tmdbId || r.id}` },
    { title: 'Type', cell: (r) => (r.mediaType === 'tv' ? 'Show' : 'Movie') },
    { title: 'Requested by', cell: who },
    { title: 'When', cell: (r) => (r.createdAt ? html`<time datetime=${r.createdAt} title=${fullDate(r.createdAt)}>${ago(r.createdAt)}</time>` : '—') },
    { title: 'Status', cell: (r) => WORD[r.status] || r.status },
    { title: 'Actions', cell: (r) => (r.status === 'pending' ? html`<div class="row-actions">
      <button type="button" class="btn btn-small" onClick=${() => act(r, 'approve')}>Approve<span class="sr-only"> ${r.title}</span></button>
      <${Confirm} label="Decline" question=${`Decline ${r.title}? The requester is told.`} onConfirm=${() => act(r, 'decline')} /></div>` : null) },
  ];
  return html`<section aria-labelledby="requests-title">
    <h2 id="requests-title">Requests</h2>
    <div class="toolbar"><label for="requests-status">Status</label>
      <select id="requests-status" value=${status} onChange=${(e) => { setStatus(e.currentTarget.value); setPage(1); }}>
        ${STATUSES.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></div>
    <${Said} text=${said} />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data ? html`<${Skeleton} />` : html`<${Table} caption="Everyone's requests" cols=${cols} empty="No requests."
      rows=${rows.map((r) => ({ key: r.id, item: r }))} />
      <${Pager} page=${page} totalPages=${list.data.totalPages} onPage=${setPage} />`}
  </section>`;
}
