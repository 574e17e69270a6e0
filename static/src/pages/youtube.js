// pages/youtube.js — YouTube videos and playlists into Plex: the form and
// preview (youtube/preview.js), your limits (youtube/quota.js) and your
// downloads with live progress (youtube/queue.js). Live data arrives over
// the WebSocket (download:* events to this user's connections); a finished,
// failed or cancelled download is announced in a polite live region. When
// the YouTube tool cannot work (yt-dlp missing, disk full, Plex down), the
// page says why (GET /youtube/status: the same checks the dashboard shows).
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../lib/api.js';
import { on, state as wsState } from '../lib/ws.js';
import { PreviewForm } from './youtube/preview.js';
import { Queue } from './youtube/queue.js';
import { Quota } from './youtube/quota.js';

const FINAL = { completed: 'downloaded', failed: 'failed', cancelled: 'cancelled' };

// GET /youtube/status -> why downloads cannot work now (null: they can),
// and a note when only the Plex collections are affected.
function unavailable(st) {
  if (!st || st.available !== false) return null;
  return st.reason || 'YouTube downloads are unavailable right now.';
}

// Apply a download:progress message to the download it is about.
function applyProgress(d, m) {
  const items = (d.items || []).map((it) => {
    const ch = (m.items || []).find((x) => x.index === it.index);
    let next = ch ? { ...it, status: ch.status, progress: ch.progress, error: ch.error } : it;
    if (m.index === it.index && m.percent != null && next.status !== 'completed') {
      next = { ...next, status: 'downloading', progress: m.percent };
    }
    return next;
  });
  return { ...d, status: 'downloading', progress: m.progress, itemsDone: m.itemsDone, itemsTotal: m.itemsTotal ?? d.itemsTotal,
           bytesTotal: m.bytes, items, live: { speed: m.speed, eta: m.eta } };
}

export function Page() {
  const [downloads, setDownloads] = useState(null);
  const [quota, setQuota] = useState(null);
  const [why, setWhy] = useState(null);
  const [noPlex, setNoPlex] = useState(null);
  const [error, setError] = useState(null);
  const [said, setSaid] = useState('');

  const refreshQuota = () => api.get('/youtube/quota').then(setQuota, () => {});
  const upsert = (d) => setDownloads((list) => {
    const rest = (list || []).filter((x) => x.id !== d.id);
    const old = (list || []).find((x) => x.id === d.id);
    return [{ ...old, ...d, items: d.items || old?.items }, ...rest].sort((a, b) => b.id - a.id);
  });
  const reload = (id) => api.get('/youtube/downloads/' + id).then((r) => upsert(r.download), () => {});

  useEffect(() => {
    document.title = 'YouTube · MediaNest';
    const loadAll = () => {
      api.get('/youtube/downloads').then((r) => setDownloads(r.downloads), (e) => { setError(e); setDownloads((l) => l || []); });
      refreshQuota();
    };
    loadAll();
    // events sent while the socket was down are not replayed: read again on reconnect
    let was = wsState.get();
    const offState = wsState.subscribe((now) => { if (now === 'online' && was !== 'online') loadAll(); was = now; });
    api.get('/youtube/status').then((st) => {
      setWhy(unavailable(st));
      const plex = (st.checks || []).find((c) => c.name === 'plex');
      setNoPlex(plex && !plex.ok ? plex.message : null);
    }, () => {});
    const offs = [
      on('download:progress', (m) => setDownloads((list) => list && list.map((d) => (d.id === m.id ? applyProgress(d, m) : d)))),
      on('download:created', (d) => { upsert(d); refreshQuota(); }),
      on('download:started', (m) => reload(m.id)),
      on('download:queued', (m) => reload(m.id)),
      on('download:deleted', (m) => { setDownloads((list) => list && list.filter((d) => d.id !== m.id)); refreshQuota(); }),
      ...Object.keys(FINAL).map((ev) => on('download:' + ev, (d) => {
        reload(d.id);
        refreshQuota();
        setSaid(`${d.title || 'Download'} ${FINAL[ev]}${d.error && ev !== 'cancelled' ? ': ' + d.error : ''}.`);
      })),
    ];
    return () => { offState(); offs.forEach((off) => off()); };
  }, []);

  const cancel = async (d) => {
    try { await api.del('/youtube/downloads/' + d.id); await reload(d.id); } catch (e) { setError(e); }
  };
  const retry = async (d) => {
    try { upsert((await api.post(`/youtube/downloads/${d.id}/retry`)).download); } catch (e) { setError(e); }
  };
  const remove = async (d) => {
    if (!confirm(`Delete “${d.title || d.url}” and its files? Its videos leave the Plex collection too.`)) return;
    try {
      await api.del('/youtube/downloads/' + d.id);
      setDownloads((list) => list.filter((x) => x.id !== d.id));
      refreshQuota();
    } catch (e) { setError(e); }
  };

  return html`<section class="page yt-page" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">YouTube</h1></div>
    <p class="sr-only" role="status" aria-live="polite" data-testid="yt-announce">${said}</p>
    ${why && html`<div class="alert" role="alert" data-testid="yt-unavailable"><strong>YouTube downloads are unavailable</strong><p>${why}</p></div>`}
    ${!why && noPlex && html`<div class="notice" role="status" data-testid="yt-no-plex"><p>Plex cannot be reached
      (${noPlex}): downloads still work, but their Plex collections are made only while Plex answers.</p></div>`}
    <div class="yt-grid">
      <${PreviewForm} disabled=${!!why} onQueued=${(d) => { upsert(d); refreshQuota(); }} />
      <${Quota} q=${quota} />
    </div>
    ${error && html`<div class="alert" role="alert"><p>${describe(error)}</p></div>`}
    <section aria-labelledby="yt-queue-title">
      <h2 id="yt-queue-title">Your downloads</h2>
      <${Queue} downloads=${downloads} onCancel=${cancel} onRetry=${retry} onDelete=${remove} />
    </section>
  </section>`;
}
