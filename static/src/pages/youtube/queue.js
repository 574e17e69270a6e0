// pages/youtube/queue.js — your downloads, live: status (in words, never by
// colour alone), a bar per download and per video, speed and time left,
// cancel / retry / delete, and the collection in Plex once done.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { bytes, eta, speed, thumb, STATUS, ITEM_STATUS } from './format.js';

export function Queue({ downloads, onCancel, onRetry, onDelete }) {
  if (!downloads) return html`<p class="muted" role="status">Loading your downloads…</p>`;
  if (downloads.length === 0) return html`<p class="muted" data-testid="yt-empty">Nothing downloaded yet.</p>`;
  return html`<ul class="yt-queue" data-testid="yt-queue">
    ${downloads.map((d) => html`<${Row} key=${d.id} d=${d} onCancel=${onCancel} onRetry=${onRetry} onDelete=${onDelete} />`)}
  </ul>`;
}

function plexLink(c) {
  return c && c.webUrl ? c.webUrl : null;
}

function Row({ d, onCancel, onRetry, onDelete }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const active = d.status === 'queued' || d.status === 'downloading';
  const live = d.live || {};
  const act = (fn) => async () => { setBusy(true); try { await fn(d); } finally { setBusy(false); } };
  const itemsId = `yt-items-${d.id}`;
  // every video is there: the server is scanning Plex and making the collection
  const toPlex = d.status === 'downloading' && d.itemsTotal > 0 && d.itemsDone >= d.itemsTotal;
  const cover = d.kind === 'video' ? d.youtubeId : d.items && d.items[0] && d.items[0].videoId;
  return html`<li class="yt-item" data-status=${d.status} data-testid="yt-download" data-id=${d.id}>
    <div class="yt-item-head">
      ${cover && html`<img class="yt-thumb" src=${thumb(cover)} alt="" loading="lazy" width="120" height="68" />`}
      <div class="yt-item-main">
        <h3>${d.title || d.url}</h3>
        <p class="yt-status"><span class="yt-badge" data-testid="yt-status">${toPlex ? 'Adding to Plex' : STATUS[d.status] || d.status}</span>
          <span>${d.itemsDone} of ${d.itemsTotal ?? '?'} videos · ${bytes(d.bytesTotal ?? d.bytes)}</span>
          ${d.status === 'downloading' && live.speed ? html`<span>${speed(live.speed)}</span>` : ''}
          ${d.status === 'downloading' && live.eta != null ? html`<span>${eta(live.eta)}</span>` : ''}</p>
        ${active && html`<progress max="100" value=${d.progress || 0} data-testid="yt-progress"
          aria-label=${`${d.title || 'Download'}: ${Math.round(d.progress || 0)}%`}></progress>`}
        ${d.error && html`<p class=${d.status === 'failed' ? 'yt-error' : 'muted'} data-testid="yt-reason">${d.error}</p>`}
        ${d.collection && html`<p data-testid="yt-collection">In Plex as the collection <strong>${d.collection.title}</strong>
          ${plexLink(d.collection) && html` · <a href=${plexLink(d.collection)} target="_blank" rel="noopener">Open in Plex</a>`}</p>`}
      </div>
    </div>
    <div class="yt-buttons">
      ${(d.items || []).length > 1 && html`<button class="btn btn-small" type="button" aria-expanded=${open}
        aria-controls=${itemsId} onClick=${() => setOpen(!open)}>${open ? 'Hide videos' : 'Show videos'}</button>`}
      ${active && html`<button class="btn btn-small" type="button" disabled=${busy} onClick=${act(onCancel)}
        data-testid="yt-cancel">Cancel</button>`}
      ${(d.status === 'failed' || d.status === 'cancelled') && html`<button class="btn btn-small" type="button"
        disabled=${busy} onClick=${act(onRetry)} data-testid="yt-retry">Retry</button>`}
      ${!active && html`<button class="btn btn-small" type="button" disabled=${busy} onClick=${act(onDelete)}
        data-testid="yt-delete">Delete</button>`}
    </div>
    ${open && html`<ol class="yt-videos" id=${itemsId}>
      ${d.items.map((it) => html`<li key=${it.index} data-status=${it.status}>
        <span class="yt-entry-title">${it.title || it.videoId}</span>
        <span class="yt-badge">${ITEM_STATUS[it.status] || it.status}</span>
        ${it.status === 'downloading' && html`<progress max="100" value=${it.progress || 0}
          aria-label=${`${it.title || it.videoId}: ${Math.round(it.progress || 0)}%`}></progress>`}
        ${it.error && html`<span class="yt-error">${it.error}</span>`}
      </li>`)}
    </ol>`}
  </li>`;
}
