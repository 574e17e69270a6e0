// pages/setup.js — /setup?token=… : the one-time setup link `serve` prints
// while no user exists. The token moves from the address bar into
// sessionStorage (this tab only; the URL is replaced so it does not stay in
// history), and "Sign in with Plex" passes it as setupToken: the first
// sign-in with it becomes the administrator.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { Logo } from '../icons.js';
import { ThemeToggle } from '../shell.js';
import { PlexSignIn, SETUP_KEY } from './signin.js';

function takeToken(query) {
  const fromUrl = query.get('token');
  try {
    if (fromUrl) {
      sessionStorage.setItem(SETUP_KEY, fromUrl);
      history.replaceState(null, '', '/setup');
    }
    return sessionStorage.getItem(SETUP_KEY);
  } catch {
    return fromUrl;
  }
}

export function SetupPage({ query }) {
  const [token] = useState(() => takeToken(query));
  const [required, setRequired] = useState(null);        // null = not known yet
  useEffect(() => {
    document.title = 'Set up · MediaNest';
    api.get('/setup', { redirect401: false })
      .then((r) => setRequired(!!(r && r.setupRequired)))
      .catch(() => setRequired(true));
  }, []);

  let body;
  if (required === false) {
    body = html`<div class="notice" role="status" data-testid="setup-done">
        <p>MediaNest is already set up: its administrator has signed in. Sign in with your Plex account.</p></div>
      <a class="btn btn-primary" href="/signin">Go to sign-in</a>`;
  } else if (!token) {
    body = html`<div class="alert" role="alert" data-testid="setup-no-token">
        <strong>This setup link has no token</strong>
        <p>Open the full link the server printed when it started; it looks like <code>/setup?token=…</code>.</p></div>`;
  } else {
    body = html`<p>This one-time link makes the first person who signs in with it the <strong>administrator</strong> of this MediaNest.</p>
      <p class="muted">Sign in with the Plex account that owns the Plex server. Everyone else signs in normally afterwards; you can manage them from Admin.</p>
      <${PlexSignIn} next="/" setupToken=${token} label="Sign in with Plex and finish setup" />`;
  }
  return html`<main class="center-page" id="main">
    <div class="corner"><${ThemeToggle} /></div>
    <div class="card stack">
      <${Logo} />
      <h1>Set up MediaNest</h1>
      ${body}
    </div>
  </main>`;
}
