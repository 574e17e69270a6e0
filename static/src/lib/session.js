// lib/session.js — who is signed in. `session` holds {user, csrfToken} or
// null (signed out) or undefined (not known yet). load() asks
// GET /auth/session; signedIn() records the PIN answer; signOut() revokes.
// Any 401 from the API (the session expired while the app was open) clears
// it and sends the user to /signin?next=<the page they were on>&expired=1;
// after signing in again they land back there.
import { api, setCsrf, setUnauthorizedHandler } from './api.js';
import { navigate, currentPath } from './router.js';
import { store } from './store.js';
import * as ws from './ws.js';

export const session = store(undefined);

function set(s) {
  setCsrf(s ? s.csrfToken : null);
  session.set(s);
  if (s) ws.start(); else ws.stop();
}

export async function load() {
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

setUnauthorizedHandler(expired);
ws.setAuthLostHandler(() => { api.get('/auth/session').catch(() => {}); });
