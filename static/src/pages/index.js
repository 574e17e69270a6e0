// pages/index.js — the signed-in pages, each a chunk of its own loaded when
// first visited, so the first load carries only the shell. A page module
// exports `Page({ route, user, query })`. A page whose feature is
// unavailable (routes.js `feature`, lib/status.js) shows the reason instead,
// and comes back by itself when the feature does.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { useStore } from '../lib/store.js';
import { status, feature } from '../lib/status.js';
import { unavailableText } from '../shell.js';

const LOADERS = {
  dashboard: () => import('./dashboard.js'),
  library: () => import('./library.js'),
  requests: () => import('./requests.js'),
  youtube: () => import('./youtube.js'),
  admin: () => import('./admin.js'),
};
const loaded = {};

function Unavailable({ route, f }) {
  return html`<section class="page" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">${route.title}</h1></div>
    <div class="notice notice-off" role="status" data-testid="feature-unavailable" data-feature=${route.feature}>
      <p>${unavailableText(route, f)}</p>
      <p class="muted">This page comes back by itself as soon as it is available again; the dashboard shows the services' status.</p>
    </div></section>`;
}

export function LazyPage(props) {
  const key = props.route.key;
  const f = feature(useStore(status), props.route.feature);
  const [mod, setMod] = useState(() => loaded[key] || null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (loaded[key]) { setMod(loaded[key]); return; }
    let live = true;
    setMod(null); setError(null);
    LOADERS[key]().then((m) => { loaded[key] = m; if (live) setMod(m); }, (e) => live && setError(e));
    return () => { live = false; };
  }, [key]);
  if (f && !f.available) return html`<${Unavailable} route=${props.route} f=${f} />`;
  if (error) {
    return html`<section class="page"><div class="alert" role="alert" data-testid="page-load-error">
      <p>This page could not be loaded (${String(error.message || error)}). Check the connection and reload.</p></div></section>`;
  }
  if (!mod) return html`<section class="page" aria-busy="true"><p class="muted" role="status">Loading…</p></section>`;
  return html`<${mod.Page} ...${props} />`;
}
