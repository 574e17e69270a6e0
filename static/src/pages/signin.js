// pages/signin.js — "Sign in with Plex" (docs/auth.md#the-flow) and the sign-in page.
//
// The popup is opened synchronously in the click handler (about:blank, so
// no pop-up blocker objects), then sent to Plex's auth page once
// POST /auth/plex/pin answers. The page polls GET /auth/plex/pin/{id} about
// once a second until the PIN is approved (the session cookie is set; the
// user lands on `next`), expires, is refused (NO_SERVER_ACCESS,
// SETUP_REQUIRED), or the popup is closed. Every outcome that is not success
// shows a message saying what happened and what to do (role=alert,
// data-testid="signin-error", data-code=<code>).
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describe } from '../lib/api.js';
import { navigate, safeNext } from '../lib/router.js';
import { signedIn } from '../lib/session.js';
import { Logo } from '../icons.js';
import { ThemeToggle } from '../shell.js';

export const SETUP_KEY = 'mn.setupToken';
const POLL_MS = 1000;

const MESSAGES = {
  NO_SERVER_ACCESS: ['No access to this Plex server',
    'Plex recognised your account, but this Plex server is not shared with it. Ask the server\'s owner to share it with you, then sign in again.'],
  PIN_EXPIRED: ['The sign-in code expired',
    'Plex was not approved in time. Start again, and approve MediaNest in the Plex window.'],
  POPUP_CLOSED: ['The Plex window was closed',
    'Sign-in did not finish because the Plex window was closed. Start again, and approve MediaNest in the Plex window.'],
  POPUP_BLOCKED: ['Your browser blocked the Plex window',
    'Allow pop-ups for this site and start again, or open the Plex page with the link below; this page keeps waiting for your approval.'],
  PLEX_UNREACHABLE: ['Plex cannot be reached',
    'MediaNest could not reach Plex to check your sign-in. Try again in a moment.'],
  SETUP_REQUIRED: ['MediaNest is not set up yet',
    'The first sign-in must use the one-time setup link that the server printed when it started (it looks like /setup?token=…). Open that link to become the administrator.'],
  NETWORK: ['MediaNest cannot be reached',
    'Your device could not reach the MediaNest server. Check your connection and try again.'],
  PIN_UNKNOWN: ['The sign-in code is no longer valid',
    'The server does not know this sign-in attempt any more (it may have restarted). Start again.'],
  USER_DISABLED: ['Your MediaNest account is disabled',
    'An administrator of this MediaNest has disabled your account. Ask them to enable it again.'],
  NOT_AVAILABLE: ['Sign-in is not available',
    'This MediaNest server does not offer Plex sign-in right now. Ask its operator.'],
};

function errorFrom(e) {
  let code = e.code || 'ERROR';
  if (e.status === 404 && e.pin) code = 'PIN_UNKNOWN';
  else if (e.status === 404) code = 'NOT_AVAILABLE';
  else if (e.status === 502 || e.status === 504) code = "PLEX_UNREACHABLE";
  const known = MESSAGES[code];
  return {
    code,
    title: known ? known[0] : 'Sign-in failed',
    text: known ? known[1] : e.message,
    requestId: e.requestId || null,
  };
}

const local = (code) => ({ code, title: MESSAGES[code][0], text: MESSAGES[code][1] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function SignInError({ error }) {
  return html`<div class="alert" role="alert" data-testid="signin-error" data-code=${error.code}>
    <strong>${error.title}</strong>
    <p>${error.text}</p>
    ${error.requestId ? html`<p class="reqid">Request id: ${error.requestId}</p>` : null}
    ${error.link ? html`<p><a href=${error.link} target="_blank" rel="noopener" data-native>Open the Plex sign-in page</a></p>` : null}
  </div>`;
}

// The button and the whole flow; `next` is where to land, `setupToken` is
// passed along on the setup page.
export function PlexSignIn({ next = '/', setupToken = null, label = 'Sign in with Plex' }) {
  const [phase, setPhase] = useState('idle');         // idle | starting | waiting
  const [error, setError] = useState(null);
  const flow = useRef(null);

  useEffect(() => () => { if (flow.current) flow.current.cancel(); }, []);

  function finish(err) {
    const f = flow.current;
    if (f) {
      f.cancelled = true;
      if (f.popup && !f.popup.closed) { try { f.popup.close(); } catch { /* ignore */ } }
    }
    flow.current = null;
    setPhase('idle');
    setError(err);
  }

  async function poll(f, pin) {
    const deadline = Date.now() + Math.max(30, Number(pin.expiresIn) || 600) * 1000 + 5000;
    let netFailures = 0;
    while (!f.cancelled) {
      await sleep(POLL_MS);
      if (f.cancelled) return;
      const closed = f.popup && f.popup.closed;
      let r;
      try {
        r = await api.get(`/auth/plex/pin/${encodeURIComponent(pin.id)}`, { redirect401: false });
        netFailures = 0;
      } catch (e) {
        if (f.cancelled) return;
        if (e.status === 0 && ++netFailures < 4) continue;
        if (e.status === 429) { await sleep((e.retryAfter || 2) * 1000); continue; }
        e.pin = true;
        return finish(errorFrom(e));
      }
      if (f.cancelled) return;
      if (r && r.status === 'approved') {
        try { sessionStorage.removeItem(SETUP_KEY); } catch { /* ignore */ }
        if (f.popup && !f.popup.closed) { try { f.popup.close(); } catch { /* ignore */ } }
        f.cancelled = true;
        flow.current = null;
        signedIn(r.user, r.csrfToken);
        navigate(safeNext(next), { replace: true });
        return;
      }
      if (r && r.status === 'expired') return finish(local('PIN_EXPIRED'));
      if (Date.now() > deadline) return finish(local('PIN_EXPIRED'));
      if (closed) return finish(local('POPUP_CLOSED'));
    }
  }

  async function start() {
    if (flow.current) flow.current.cancel();
    setError(null);
    // Synchronously, inside the click: a pop-up opened later is blocked.
    const popup = window.open('about:blank', 'medianest-plex', 'popup,width=600,height=720');
    if (popup) {
      try { popup.document.title = 'Plex sign-in'; popup.document.body.textContent = 'Opening Plex…'; } catch { /* ignore */ }
    }
    const f = { popup, cancelled: false, cancel() { this.cancelled = true; } };
    flow.current = f;
    setPhase('starting');
    let pin;
    try {
      pin = await api.post('/auth/plex/pin', setupToken ? { setupToken } : {}, { redirect401: false });
    } catch (e) {
      if (f.cancelled) return;
      return finish(errorFrom(e));
    }
    if (f.cancelled) return;
    if (popup && !popup.closed) {
      popup.location.href = pin.authUrl;
    } else if (!popup) {
      setError({ ...local('POPUP_BLOCKED'), link: pin.authUrl });
    } else {
      return finish(local('POPUP_CLOSED'));
    }
    setPhase('waiting');
    poll(f, pin);
  }

  function cancel() {
    finish(null);
  }

  return html`<div class="stack">
    ${error ? html`<${SignInError} error=${error} />` : null}
    ${phase === 'idle'
      ? html`<button type="button" class="btn btn-primary" data-testid="signin-plex" onClick=${start}>${label}</button>`
      : html`<div class="stack">
          <p class="waiting" role="status" data-testid="signin-waiting"><span class="spinner" aria-hidden="true"></span>
            ${phase === 'starting' ? 'Asking Plex for a sign-in code…' : 'Waiting for you to approve MediaNest in the Plex window…'}</p>
          <button type="button" class="btn" onClick=${cancel}>Cancel</button>
        </div>`}
  </div>`;
}

export function SignInPage({ query }) {
  const next = safeNext(query.get('next') || '/');
  const expired = query.get('expired') === '1';
  const [setupRequired, setSetupRequired] = useState(false);
  useEffect(() => {
    document.title = 'Sign in · MediaNest';
    api.get('/setup', { redirect401: false }).then((r) => setSetupRequired(!!(r && r.setupRequired))).catch(() => {});
  }, []);
  let token = null;
  try { token = sessionStorage.getItem(SETUP_KEY); } catch { /* ignore */ }
  return html`<main class="center-page" id="main">
    <div class="corner"><${ThemeToggle} /></div>
    <div class="card stack">
      <${Logo} />
      <h1>Sign in to MediaNest</h1>
      <p class="muted">Use your Plex account. Anyone the Plex server is shared with can sign in.</p>
      ${expired ? html`<div class="notice" role="status" data-testid="session-expired"><p>Your session has ended. Sign in again to return to the page you were on.</p></div>` : null}
      ${setupRequired && !token ? html`<div class="notice" role="status" data-testid="setup-required"><p>This MediaNest has no administrator yet. The first person to sign in must use the one-time setup link the server printed when it started.</p></div>` : null}
      <${PlexSignIn} next=${next} setupToken=${token} />
    </div>
  </main>`;
}
