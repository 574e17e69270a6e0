// pages/index.js — the signed-in pages, each a chunk of its own loaded when
// first visited, so the first load carries only the shell. A page module
// exports `Page({ route, user, query })`.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';

const LOADERS = {
  dashboard: () => import('./dashboard.js'),
  library: () => import('./library.js'),
  requests: () => import('./requests.js'),
  youtube: () => import('./youtube.js'),
  admin: () => import('./admin.js'),
};
const loaded = {};

export function LazyPage(props) {
  const key = props.route.key;
  const [mod, setMod] = useState(() => loaded[key] || null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (loaded[key]) { setMod(loaded[key]); return; }
    let live = true;
    setMod(null); setError(null);
    LOADERS[key]().then((m) => { loaded[key] = m; if (live) setMod(m); }, (e) => live && setError(e));
    return () => { live = false; };
  }, [key]);
  if (error) {
    return html`<section class="page"><div class="alert" role="alert" data-testid="page-load-error">
      <p>This page could not be loaded (${String(error.message || error)}). Check the connection and reload.</p></div></section>`;
  }
  if (!mod) return html`<section class="page" aria-busy="true"><p class="muted" role="status">Loading…</p></section>`;
  return html`<${mod.Page} ...${props} />`;
}
