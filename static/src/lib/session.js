// lib/session.js — who is signed in. `session` holds {user, csrfToken} or
// null (signed out) or undefined (not known yet). load() asks
// GET /auth/session; signedIn() records the PIN answer; signOut() revokes.
// Any 401 from the API (the session expired while the app was open) clears
// it and sends the user to /signin?expired=1&next=<the page they were on>;
// after signing in again they land back there.
import { api, setCsrf, setUnauthorizedHandler } from './api.js';
import { navigate, currentPath } from './router.js';
import { store } from './store.js';
import * as ws from './ws.js';

export const session = store(undefined);

// A hint (not a secret: the session itself is the HttpOnly cookie) that this
// browser signed in, so a visitor who never did goes straight to sign-in
// without asking the server (one round trip less, and no 401 in the console).
const HINT = 'mn.signedIn';
function hint(on) {
  try { if (on) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT); } catch { /* ignore */ }
}
function hinted() {
  try { return localStorage.getItem(HINT) === '1'; } catch { return true; }
}

function set(s) {
  setCsrf(s ? s.csrfToken : null);
  hint(!!s);
  session.set(s);
  if (s) ws.start(); else ws.stop();
}

export async function load() {
  if (!hinted()) { set(null); return; }
  try {
    const s = await api.get('/auth/session', { redirect401: false });
    set(s && s.user ? { user: s.user, csrfToken: s.csrfToken } : null);
  } catch (e) {
    if (e.status === 401 || e.status === 404) set(null);
    else throw e;
  }
}

export function signedIn(user, csrfToken) { set({ user, csrfToken }); }

function clearApiCache() {
  navigator.serviceWorker?.controller?.postMessage({ type: 'signed-out' });
}

export async function signOut() {
  try { await api.post('/auth/logout', {}, { redirect401: false }); } catch { /* gone already */ }
  clearApiCache();
  set(null);
  navigate('/signin', { replace: true });
}

export function expired() {
  if (!session.get()) return;
  const here = location.pathname + location.search;
  clearApiCache();
  set(null);
  const onAuthPage = /^\/(signin|setup)/.test(currentPath());
  navigate(onAuthPage ? here : '/signin?expired=1&next=' + encodeURIComponent(here), { replace: true });
}

// Is the session still alive? A 401 goes through expired(). Run on every
// page change and when the tab becomes visible again.
export function recheck() {
  if (session.get()) api.get('/auth/session').catch(() => {});
}

setUnauthorizedHandler(expired);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') recheck(); });
ws.setAuthLostHandler(recheck);
