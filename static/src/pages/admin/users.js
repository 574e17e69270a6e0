// pages/admin/users.js — Admin › Users: search, role, disable / enable,
// delete (saying first what happens to the user's requests and downloads).
// An admin's own row offers none of these (the API refuses them too).
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { ago, fullDate } from '../../lib/time.js';
import { useLoad, Table, Confirm, Said, ErrorLine, Skeleton, Pager } from './common.js';

const when = (t) => (t ? html`<time datetime=${t} title=${fullDate(t)}>${ago(t)}</time>` : 'never');

function Actions({ u, me, change, remove }) {
  if (u.id === me.id) return html`<span class="muted">You</span>`;
  const role = u.role === 'admin' ? 'user' : 'admin';
  return html`<div class="row-actions">
    <button type="button" class="btn btn-small" data-testid="user-role-btn"
      onClick=${() => change(u, { role }, `${u.username} is now ${role === 'admin' ? 'an admin' : 'a user'}.`)}>
      ${role === 'admin' ? 'Make admin' : 'Make user'}<span class="sr-only"> (${u.username})</span></button>
    ${u.disabled
      ? html`<button type="button" class="btn btn-small" data-testid="user-enable"
          onClick=${() => change(u, { disabled: false }, `${u.username} is enabled; they sign in again.`)}>Enable<span class="sr-only"> ${u.username}</span></button>`
      : html`<${Confirm} label="Disable" testid="user-disable" confirmLabel="Disable"
          question=${`Disable ${u.username}? They are signed out everywhere at once.`}
          onConfirm=${() => change(u, { disabled: true }, `${u.username} is disabled and signed out.`)} />`}
    <${Confirm} label="Delete" testid="user-delete" confirmLabel="Delete for good"
      question=${`Delete ${u.username}? Their sessions, tokens, downloads and notifications go; their media requests stay, without a requester.`}
      onConfirm=${() => remove(u)} />
  </div>`;
}

export function Users({ user }) {
  const [q, setQ] = useState('');
  const [page, setPage] = useState(1);
  const path = `/admin/users?perPage=25&page=${page}${q ? `&q=${encodeURIComponent(q)}` : ''}`;
  const list = useLoad(path);
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  const change = async (u, body, done) => {
    setError(null);
    try { await api.patch(`/admin/users/${u.id}`, body); setSaid(done); await list.reload(); } catch (e) { setError(e); }
  };
  const remove = async (u) => {
    setError(null);
    try {
      await api.del(`/admin/users/${u.id}`); setSaid(`${u.username} was deleted.`); await list.reload();
      document.getElementById('users-search')?.focus();
    } catch (e) { setError(e); }
  };
  const cols = [
    { title: 'Name', cell: (u) => html`<span class="user-cell">${u.username}${u.email ? html`<span class="muted small">${u.email}</span>` : null}</span>` },
    { title: 'Role', cell: (u) => html`<span data-testid="user-role">${u.role}</span>` },
    { title: 'Last seen', cell: (u) => when(u.lastLoginAt) },
    { title: 'Sessions', cell: (u) => (u.activeSessions == null ? '—' : String(u.activeSessions)) },
    { title: 'State', cell: (u) => html`<span data-testid="user-state">${u.disabled ? 'Disabled' : 'Active'}</span>` },
    { title: 'Actions', cell: (u) => html`<${Actions} u=${u} me=${user} change=${change} remove=${remove} />` },
  ];
  const users = list.data ? list.data.users : [];
  return html`<section aria-labelledby="users-title">
    <h2 id="users-title">Users</h2>
    <form class="toolbar" role="search" onSubmit=${(e) => e.preventDefault()}>
      <label for="users-search">Search users</label>
      <input id="users-search" type="search" value=${q} placeholder="Name or e-mail" maxlength="100"
        onInput=${(e) => { setQ(e.currentTarget.value); setPage(1); }} />
    </form>
    <${Said} text=${said} testid="users-said" />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data && list.loading ? html`<${Skeleton} />` : html`<${Table} caption="Users" testid="users" cols=${cols}
      empty=${q ? `No user matches “${q}”.` : 'No users yet.'}
      rows=${users.map((u) => ({ key: u.id, item: u, testid: `user-${u.username}` }))} />`}
    ${list.data ? html`<${Pager} page=${page} totalPages=${list.data.totalPages} onPage=${setPage} />` : null}
  </section>`;
}
