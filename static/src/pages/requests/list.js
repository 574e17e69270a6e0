// pages/requests/list.js — "My requests" and "Following": each request with
// its status (in words), its timeline, and what can be done with it
// (cancel while pending, stop following). Rows update live: the page feeds
// `request:update` events into `items`.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { describe } from '../../lib/api.js';
import { STATUS, poster, cancel, unfollow, one } from './data.js';
import { Timeline } from './timeline.js';

function Row({ item, kind, onChange }) {
  const [open, setOpen] = useState(false);
  const [history, setHistory] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const toggle = async () => {
    setOpen(!open);
    if (!open) {
      try { setHistory((await one(item.id)).history); } catch (e) { setError(describe(e)); }
    }
  };
  const act = async (fn) => {
    setBusy(true); setError(null);
    try { onChange(await fn(item.id)); } catch (e) { setError(describe(e)); } finally { setBusy(false); }
  };
  const src = poster(item.posterPath, 'w92');
  // the history of an open row follows live updates too
  const hist = history && item.status !== history[history.length - 1]?.status
    ? [...history, { status: item.status, at: item.updatedAt }] : history;
  return html`<li class="rq-row" data-testid=${`request-${item.id}`}>
    ${src ? html`<img src=${src} alt="" width="46" height="69" loading="lazy" />` : html`<span class="rq-thumb" />`}
    <div class="rq-row-main">
      <p class="rq-row-title"><strong>${item.title}</strong>${item.year ? ` (${item.year})` : ''}
        ${item.seasons && item.seasons.length ? html` <span class="muted">· Seasons ${item.seasons.join(', ')}</span>` : ''}</p>
      <p><span class=${`rq-status rq-${item.status}`} data-testid="request-status">${STATUS[item.status] || item.status}</span>
        ${kind === 'following' && item.requestedBy ? html` <span class="muted">· asked by ${item.requestedBy.username}</span>` : ''}
        ${item.statusMessage ? html` <span class="muted">· ${item.statusMessage}</span>` : ''}</p>
      <div class="rq-actions">
        <button class="btn btn-small" type="button" aria-expanded=${open} onClick=${toggle}>
          ${open ? 'Hide history' : 'History'}</button>
        ${kind === 'mine' && item.status === 'pending' && html`<button class="btn btn-small" type="button"
          disabled=${busy} onClick=${() => act(cancel)}>Cancel request</button>`}
        ${kind === 'following' && html`<button class="btn btn-small" type="button" disabled=${busy}
          onClick=${() => act(unfollow)}>Stop following</button>`}
      </div>
      ${error && html`<p class="alert" role="alert">${error}</p>`}
      ${open && html`<${Timeline} history=${hist} />`}
    </div>
  </li>`;
}

export function RequestList({ items, kind, onChange, empty }) {
  if (!items) return html`<p class="muted" role="status">Loading…</p>`;
  if (!items.length) return html`<p class="muted">${empty}</p>`;
  return html`<ul class="rq-list" data-testid=${`list-${kind}`}>${items.map((it) =>
    html`<${Row} key=${it.id} item=${it} kind=${kind} onChange=${onChange} />`)}</ul>`;
}
