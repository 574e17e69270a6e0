// lib/status.js — service status and feature availability, for the shell
// (greyed-out navigation) and the dashboard. Fed once by
// GET /dashboard/status and then by the WebSocket topic "status":
// `status:current` (the whole answer, on every subscribe, so also after each
// reconnect) and `service:status` {service, features} on each change.
//
//   status      store: null until the first answer, then
//               { services, features, updatedAt, receivedAt }
//               (receivedAt: this browser's clock when data last arrived —
//               what the dashboard shows when the socket is down)
//   statusError store: the last failed fetch (ApiError) or null
//   startStatus(user) / stopStatus()   the shell's lifetime (signed in)
//   refreshStatus()                    fetch over HTTP (the dashboard's fallback)
//   feature(value, key)                {available, reason} | null (not known yet)
//   onReconnect(fn)                    fn each time the socket comes online, the first
//                                      time too: what was pushed between a page's first
//                                      load and its socket joining the rooms is fetched
import { api } from './api.js';
import { store } from './store.js';
import { on, subscribe, state as wsState } from './ws.js';

export const status = store(null);
export const statusError = store(null);

let offs = [];
let version = 0;          // bumps on every update: a slow HTTP answer must not undo a newer push
let isAdmin = false;

function setAll(d) {
  if (!d || !Array.isArray(d.services)) return;
  version++;
  statusError.set(null);
  status.set({ services: d.services, features: d.features || {}, updatedAt: d.updatedAt || null, receivedAt: Date.now() });
}

// One service changed: replace it in place (or add it). A service marked
// hidden is dropped for users, should one ever reach them.
function merge(d) {
  const cur = status.get();
  const svc = d && d.service;
  if (!cur || !svc || typeof svc.id !== 'string') return;
  version++;
  const hidden = svc.visible === false && !isAdmin;
  const services = cur.services.filter((s) => s.id !== svc.id || !hidden);
  const i = services.findIndex((s) => s.id === svc.id);
  if (!hidden) { if (i >= 0) services[i] = svc; else services.push(svc); }
  status.set({ ...cur, services, features: d.features || cur.features, receivedAt: Date.now() });
}

export async function refreshStatus() {
  const asked = version;
  try {
    const d = await api.get('/dashboard/status');
    if (version === asked) setAll(d);
  } catch (e) {
    statusError.set(e);
  }
}

export function onReconnect(fn) {
  let was = wsState.get();
  return wsState.subscribe((s) => {
    if (s === 'online' && was !== 'online') fn();
    was = s;
  });
}

export function startStatus(user) {
  stopStatus();
  isAdmin = !!user && user.role === 'admin';
  offs = [on('status:current', setAll), on('service:status', merge), subscribe('status')];
  refreshStatus();
}

export function stopStatus() {
  for (const off of offs) off();
  offs = [];
  version++;
  status.set(null);
  statusError.set(null);
}

export function feature(value, key) {
  const f = value && value.features && value.features[key];
  return f && typeof f.available === 'boolean' ? f : null;
}
