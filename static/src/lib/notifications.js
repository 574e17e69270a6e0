// lib/notifications.js — the signed-in user's notifications, for the bell in
// the top bar. GET /notifications (newest first, paged by `before`) gives the
// list and the unread count; the WebSocket event `notification` adds one as
// it happens; POST /notifications/read marks some or all read and answers
// the new unread count, and `notification:read` {ids | all, unread} brings
// the same news to the user's other tabs. After a reconnect the first page
// is fetched again (what arrived while the socket was down is not replayed).
//
//   notices   store: { items, unread, nextBefore, loaded, error }
//   arrived   store: the latest notification pushed live (for the live region)
//   startNotifications() / stopNotifications()
//   loadOlder(), markRead(ids), markAllRead()
import { api } from './api.js';
import { store } from './store.js';
import { on } from './ws.js';
import { onReconnect } from './status.js';

const EMPTY = { items: [], unread: 0, nextBefore: null, loaded: false, error: null };
const MAX_ITEMS = 200;     // what the open list keeps; older ones stay on the server

export const notices = store(EMPTY);
export const arrived = store(null);
let offs = [];
let generation = 0;

function patch(p) { notices.set({ ...notices.get(), ...p }); }

async function loadFirst() {
  const g = generation;
  try {
    const d = await api.get('/notifications?limit=20');
    if (g !== generation) return;
    patch({ items: d.notifications || [], unread: d.unread || 0, nextBefore: d.nextBefore ?? null, loaded: true, error: null });
  } catch (e) {
    if (g === generation) patch({ error: e, loaded: true });
  }
}

export async function loadOlder() {
  const cur = notices.get();
  if (cur.nextBefore == null) return;
  const g = generation;
  const d = await api.get(`/notifications?limit=20&before=${encodeURIComponent(cur.nextBefore)}`);
  if (g !== generation) return;
  const now = notices.get();
  const have = new Set(now.items.map((n) => n.id));
  const more = (d.notifications || []).filter((n) => !have.has(n.id));
  patch({ items: [...now.items, ...more].slice(0, MAX_ITEMS), nextBefore: d.nextBefore ?? null, unread: d.unread ?? now.unread });
}

function add(n) {
  if (!n || n.id == null) return;
  const cur = notices.get();
  if (cur.items.some((x) => x.id === n.id)) return;
  patch({ items: [n, ...cur.items].slice(0, MAX_ITEMS), unread: cur.unread + (n.read ? 0 : 1) });
  arrived.set(n);
}

function markLocally(match, unread) {
  const at = new Date().toISOString();
  patch({ items: notices.get().items.map((n) => (match(n) && !n.read ? { ...n, read: true, readAt: at } : n)), unread });
}

// Marked read elsewhere (another tab, or this one's own POST echoed).
function readElsewhere(d) {
  if (!d || typeof d.unread !== 'number') return;
  const ids = new Set(Array.isArray(d.ids) ? d.ids : []);
  markLocally((n) => d.all === true || ids.has(n.id), d.unread);
}

export async function markRead(ids) {
  const d = await api.post('/notifications/read', { ids });
  const set = new Set(ids);
  markLocally((n) => set.has(n.id), d.unread ?? 0);
}

export async function markAllRead() {
  const d = await api.post('/notifications/read', { all: true });
  markLocally(() => true, d.unread ?? 0);
}

export function startNotifications() {
  stopNotifications();
  offs = [on('notification', add), on('notification:read', readElsewhere), onReconnect(loadFirst)];
  loadFirst();
}

export function stopNotifications() {
  for (const off of offs) off();
  offs = [];
  generation++;
  notices.set(EMPTY);
  arrived.set(null);
}
