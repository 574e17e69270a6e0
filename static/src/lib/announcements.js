// lib/announcements.js — the admins' banners (maintenance, news). GET
// /announcements gives the current ones; every signed-in connection gets
// `announcement:new` {announcement} and `announcement:removed` {id} without
// subscribing. A scheduled one is shown only while startsAt <= now < endsAt:
// a timer wakes at the next start or end. Messages are plain text (the
// banner renders them as text nodes, never as HTML).
//
//   shown    store: the announcements to show now, newest first
//   startAnnouncements() / stopAnnouncements()
//   dismiss(id)   hides an info or warning one in this browser (critical ones stay)
import { api } from './api.js';
import { store } from './store.js';
import { on } from './ws.js';
import { onReconnect } from './status.js';

export const shown = store([]);
const DISMISSED = 'mn.dismissed';
const MAX_WAIT = 3600e3;    // re-check at least hourly (setTimeout caps near 24.8 days anyway)
let all = [];
let offs = [];
let timer = null;
let generation = 0;

const ms = (t) => (t ? Date.parse(t) : NaN);

function dismissed() {
  try { return JSON.parse(localStorage.getItem(DISMISSED) || '[]'); } catch { return []; }
}

function active(a, now, hidden) {
  if (hidden.includes(a.id) && a.level !== 'critical') return false;
  const s = ms(a.startsAt), e = ms(a.endsAt);
  return !(s > now) && !(e <= now);
}

// Show what is current, and wake at the next start or end.
function recompute() {
  clearTimeout(timer);
  const now = Date.now(), hidden = dismissed();
  shown.set(all.filter((a) => active(a, now, hidden)).sort((x, y) => ms(y.createdAt) - ms(x.createdAt)));
  const next = Math.min(...all.flatMap((a) => [ms(a.startsAt), ms(a.endsAt)]).filter((t) => t > now));
  if (Number.isFinite(next)) timer = setTimeout(recompute, Math.min(next - now + 50, MAX_WAIT));
}

async function load() {
  const g = generation;
  try {
    const d = await api.get('/announcements');
    if (g !== generation) return;
    all = Array.isArray(d.announcements) ? d.announcements : [];
    recompute();
  } catch (e) {
    console.warn('announcements unavailable', e);
  }
}

function added(d) {
  const a = d && d.announcement;
  if (!a || a.id == null) return;
  all = [a, ...all.filter((x) => x.id !== a.id)];
  recompute();
}

function removed(d) {
  if (!d || d.id == null) return;
  all = all.filter((x) => x.id !== d.id);
  recompute();
}

export function dismiss(id) {
  const ids = [id, ...dismissed().filter((x) => x !== id)].slice(0, 50);
  try { localStorage.setItem(DISMISSED, JSON.stringify(ids)); } catch { /* private mode: this page only */ }
  recompute();
}

export function startAnnouncements() {
  stopAnnouncements();
  offs = [on('announcement:new', added), on('announcement:removed', removed), onReconnect(load)];
  load();
}

export function stopAnnouncements() {
  for (const off of offs) off();
  offs = [];
  generation++;
  all = [];
  clearTimeout(timer);
  shown.set([]);
}
