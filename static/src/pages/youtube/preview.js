// pages/youtube/preview.js — paste a URL, see what it is (title, channel,
// how many videos, the first ones with their thumbnails, which of them you
// already have), choose a quality, download.
import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import { api, describe } from '../../lib/api.js';
import { duration, thumb } from './format.js';

const QUALITIES = [
  ['best', 'Best available'], ['1080', 'Up to 1080p'], ['720', 'Up to 720p'], ['480', 'Up to 480p'], ['audio', 'Audio only'],
];

export function PreviewForm({ disabled, onQueued }) {
  const [url, setUrl] = useState('');
  const [preview, setPreview] = useState(null);
  const [quality, setQuality] = useState('best');
  const [busy, setBusy] = useState(null);          // 'preview' | 'download' | null
  const [error, setError] = useState(null);
  const ctrl = useRef(null);

  async function look(e) {
    e.preventDefault();
    if (!url.trim()) return;
    ctrl.current?.abort();
    ctrl.current = new AbortController();
    setBusy('preview'); setError(null); setPreview(null);
    try {
      setPreview(await api.get('/youtube/preview?url=' + encodeURIComponent(url.trim()), { signal: ctrl.current.signal }));
    } catch (err) {
      if (err.name !== 'AbortError') setError(err);
    } finally { setBusy(null); }
  }

  async function download() {
    setBusy('download'); setError(null);
    try {
      const r = await api.post('/youtube/downloads', { url: url.trim(), quality });
      onQueued(r.download);
      setPreview(null); setUrl('');
    } catch (err) { setError(err); } finally { setBusy(null); }
  }

  return html`<section class="yt-panel" aria-labelledby="yt-new">
    <h2 id="yt-new">Download a video or playlist</h2>
    <form class="yt-url" onSubmit=${look}>
      <label for="yt-url-input">YouTube address</label>
      <div class="yt-url-row">
        <input id="yt-url-input" type="url" inputmode="url" autocomplete="off" required data-testid="yt-url"
          placeholder="https://www.youtube.com/playlist?list=…" value=${url} disabled=${disabled}
          onInput=${(e) => setUrl(e.currentTarget.value)} />
        <button class="btn" type="submit" disabled=${disabled || busy} data-testid="yt-preview">
          ${busy === 'preview' ? 'Looking…' : 'Preview'}</button>
      </div>
    </form>
    ${error && html`<div class="alert" role="alert" data-testid="yt-error"><p>${describe(error)}</p></div>`}
    ${preview && html`<${PreviewCard} p=${preview} quality=${quality} setQuality=${setQuality}
      busy=${busy === 'download'} disabled=${disabled} onDownload=${download} />`}
  </section>`;
}

function PreviewCard({ p, quality, setQuality, busy, disabled, onDownload }) {
  const have = new Set(p.alreadyDownloaded || []);
  const all = p.count > 0 && have.size >= p.count;
  return html`<article class="yt-preview" aria-labelledby="yt-preview-title" data-testid="yt-preview-card">
    <div class="yt-preview-head">
      ${p.entries[0] && html`<img class="yt-thumb" src=${thumb(p.entries[0].id)} alt="" loading="lazy" width="160" height="90" />`}
      <div>
        <h3 id="yt-preview-title">${p.title}</h3>
        <p class="muted">${p.channel ? p.channel + ' · ' : ''}${p.kind === 'playlist' ? `${p.count} videos` : 'One video'}
          ${have.size > 0 && html` · <span data-testid="yt-have">${all ? 'all' : have.size} already downloaded</span>`}</p>
      </div>
    </div>
    ${p.kind === 'playlist' && html`<ol class="yt-entries" aria-label="First videos of the playlist">
      ${p.entries.slice(0, 12).map((e) => html`<li key=${e.id}>
        <img src=${thumb(e.id)} alt="" loading="lazy" width="96" height="54" />
        <span class="yt-entry-title">${e.title}</span>
        <span class="muted">${duration(e.duration)}${e.downloaded ? ' · already downloaded' : ''}</span></li>`)}
      ${p.entries.length > 12 && html`<li class="muted">… and ${p.count - 12} more</li>`}
    </ol>`}
    <div class="yt-actions">
      <label for="yt-quality">Quality</label>
      <select id="yt-quality" value=${quality} onChange=${(e) => setQuality(e.currentTarget.value)} data-testid="yt-quality">
        ${QUALITIES.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
      </select>
      <button class="btn btn-primary" type="button" onClick=${onDownload} disabled=${busy || disabled}
        data-testid="yt-download">${busy ? 'Queuing…' : 'Download'}</button>
    </div>
  </article>`;
}
