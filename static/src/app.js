// app.js — the root component: waits for the session, then shows the
// sign-in and setup pages to visitors and the shell to signed-in users.
// Visiting a signed-in page while signed out goes to /signin?next=<page>.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { useStore } from './lib/store.js';
import { route, navigate, safeNext } from './lib/router.js';
import { session, load, recheck } from './lib/session.js';
import { describe } from './lib/api.js';
import { findRoute } from './routes.js';
import { Shell, Forbidden, NotFound } from './shell.js';
import { LazyPage } from './pages/index.js';
import { SignInPage } from './pages/signin.js';
import { SetupPage } from './pages/setup.js';
import { Logo } from './icons.js';

function Boot({ error, retry }) {
  return html`<main class="center-page" id="main">
    <${Logo} />
    <p class="boot-name">MediaNest</p>
    ${error
      ? html`<div class="alert" role="alert" data-testid="boot-error"><strong>MediaNest could not start</strong>
          <p>${describe(error)}</p><p><button type="button" class="btn" onClick=${retry}>Try again</button></p></div>`
      : html`<p class="boot-note" role="status">Loading…</p>`}
  </main>`;
}

export function App() {
  const s = useStore(session);
  const loc = useStore(route);
  const [bootError, setBootError] = useState(null);
  const boot = () => { setBootError(null); load().catch(setBootError); };
  useEffect(boot, []);

  const url = new URL(loc, location.origin);
  const path = url.pathname;
  const isAuthPage = path === '/signin' || path === '/setup';

  // Every page change while signed in checks the session is still alive.
  useEffect(() => { if (s && !isAuthPage) recheck(); }, [path]);

  // Redirects, after render so history stays consistent.
  useEffect(() => {
    if (s === undefined) return;
    if (!s && !isAuthPage) navigate('/signin?next=' + encodeURIComponent(loc), { replace: true });
    else if (s && isAuthPage) navigate(safeNext(url.searchParams.get('next') || '/'), { replace: true });
  }, [s, loc]);

  if (s === undefined) return html`<${Boot} error=${bootError} retry=${boot} />`;
  if (path === '/setup' && !s) return html`<${SetupPage} query=${url.searchParams} />`;
  if (!s) return isAuthPage ? html`<${SignInPage} query=${url.searchParams} />` : html`<${Boot} />`;
  if (isAuthPage) return html`<${Boot} />`;

  const current = findRoute(path);
  let page;
  if (!current) page = html`<${NotFound} />`;
  else if (current.admin && s.user.role !== 'admin') page = html`<${Forbidden} />`;
  else page = html`<${LazyPage} route=${current} user=${s.user} query=${url.searchParams} key=${current.key} />`;
  return html`<${Shell} user=${s.user} current=${current}>${page}</${Shell}>`;
}
