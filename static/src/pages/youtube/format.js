// pages/youtube/format.js — numbers for people: bytes, durations, ETAs,
// dates, and the words for a download's or an item's status.
export function bytes(n) {
  if (n == null || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];      // as the quota is set (10 GiB)
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(s) {
  if (s == null || !Number.isFinite(s)) return '';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? h + ':' : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

export function eta(s) {
  if (s == null || !Number.isFinite(s)) return '';
  if (s < 60) return `${Math.max(1, Math.round(s))} s left`;
  if (s < 3600) return `${Math.round(s / 60)} min left`;
  return `${(s / 3600).toFixed(1)} h left`;
}

export function speed(bps) {
  return bps ? `${bytes(bps)}/s` : '';
}

export function time(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export const STATUS = {
  queued: 'Queued', downloading: 'Downloading', completed: 'Done', failed: 'Failed', cancelled: 'Cancelled',
};
export const ITEM_STATUS = {
  pending: 'Waiting', downloading: 'Downloading', completed: 'Done', failed: 'Failed', skipped: 'Already downloaded',
};

// A video's thumbnail through MediaNest (same origin; a placeholder when
// YouTube cannot be reached).
export function thumb(videoId) {
  return videoId ? `/api/v1/youtube/thumbnails/${encodeURIComponent(videoId)}` : null;
}
