// lib/time.js — times for people: "14:05:03" and "3 min ago" in the
// browser's locale, from the API's ISO 8601 UTC strings (or epoch ms).
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const rel = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

const toMs = (t) => (typeof t === 'number' ? t : Date.parse(t));

export function clock(t) {
  const ms = toMs(t);
  return Number.isFinite(ms) ? clockFmt.format(ms) : '—';
}

export function fullDate(t) {
  const ms = toMs(t);
  return Number.isFinite(ms) ? dateFmt.format(ms) : '';
}

export function ago(t, now = Date.now()) {
  const ms = toMs(t);
  if (!Number.isFinite(ms)) return 'never';
  const s = Math.round((ms - now) / 1000);
  if (Math.abs(s) < 10) return 'just now';
  if (Math.abs(s) < 60) return rel.format(s, 'second');
  if (Math.abs(s) < 3600) return rel.format(Math.round(s / 60), 'minute');
  if (Math.abs(s) < 86400) return rel.format(Math.round(s / 3600), 'hour');
  return rel.format(Math.round(s / 86400), 'day');
}
