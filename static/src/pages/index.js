// pages/index.js — the signed-in pages, each a chunk of its own loaded when
// first visited, so the first load carries only the shell. A page module
// exports `Page({ route, user, query })`. A page whose feature is
// unavailable (routes.js `feature`, lib/status.js) shows the reason instead,
// and comes back by itself when the feature does.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useStore } from '../lib/store.js';
import { status, feature } from '../lib/status.js';
import { unavailableText } from '../shell.js';

const LOADERS = {
  dashboard: () => import('./dashboard.js'),
  library: () => import('./library.js'),
  requests: () => import('./requests.js'),
  youtube: () => import('./youtube.js'),
  admin: () => import('./admin.js'),
  settings: () => import('./settings.js'),
};
const loaded = {};

// What a page shows before (or instead of) its chunk: its heading at once —
// the same h1 the page draws, so the title does not wait for the chunk
// (nor does the largest paint) — and a line below it.
function Frame({ route, busy, children }) {
  return html`<section class="page" aria-labelledby="page-title" aria-busy=${busy ? 'true' : undefined}>
    <div class="page-head"><h1 id="page-title" tabindex="-1">${route.title}</h1></div>${children}</section>`;
}

function Unavailable({ route, f }) {
  return html`<${Frame} route=${route}>
    <div class="notice notice-off" role="status" data-testid="feature-unavailable" data-feature=${route.feature}>
      <p>${unavailableText(route, f)}</p>
      <p class="muted">This page comes back by itself as soon as it is available again; the dashboard shows the services' status.</p>
    </div></${Frame}>`;
}

export function LazyPage(props) {
  const { route } = props;
  const key = route.key;
  const f = feature(useStore(status), route.feature);
  const [mod, setMod] = useState(() => loaded[key] || null);
  const [error, setError] = useState(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (loaded[key]) { setMod(loaded[key]); return undefined; }
    let live = true;
    setMod(null); setError(null);
    LOADERS[key]().then((m) => {
      loaded[key] = m;
      // the shell focused the stand-in heading: the page's own takes over
      refocus.current = document.activeElement?.id === 'page-title';
      if (live) setMod(m);
    }, (e) => live && setError(e));
    return () => { live = false; };
  }, [key]);
  useEffect(() => {
    if (mod && refocus.current) { refocus.current = false; document.getElementById('page-title')?.focus(); }
  }, [mod]);
  if (f && !f.available) return html`<${Unavailable} route=${route} f=${f} />`;
  if (error) {
    return html`<${Frame} route=${route}><div class="alert" role="alert" data-testid="page-load-error">
      <p>This page could not be loaded (${String(error.message || error)}). Check the connection and reload.</p></div></${Frame}>`;
  }
  if (!mod) return html`<${Frame} route=${route} busy><p class="muted" role="status">Loading…</p></${Frame}>`;
  return html`<${mod.Page} ...${props} />`;
}
