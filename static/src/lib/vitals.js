// lib/vitals.js — web-vitals (FCP, LCP, CLS, INP, TTFB) measured with the
// `web-vitals` package, loaded after first paint, and sent with
// navigator.sendBeacon to POST /api/v1/analytics/rum as text/plain JSON:
//   {"metrics": [{"name": "LCP", "value": 812.4, "page": "/", "id": "v5-…", "rating": "good"}]}
// Values are milliseconds as web-vitals reports them (CLS unitless). Metrics
// are batched and flushed when the page is hidden (or after 5 s).
import { pageKey } from '../routes.js';

const queue = [];
let timer = null;

function flush() {
  clearTimeout(timer);
  timer = null;
  if (!queue.length) return;
  const body = JSON.stringify({ metrics: queue.splice(0, 10) });
  const url = '/api/v1/analytics/rum';
  let sent = false;
  try { sent = navigator.sendBeacon && navigator.sendBeacon(url, body); } catch { sent = false; }
  if (!sent) fetch(url, { method: 'POST', body, keepalive: true, credentials: 'same-origin' }).catch(() => {});
  if (queue.length) flush();
}

function report(m) {
  queue.push({ name: m.name, value: Math.round(m.value * 1000) / 1000, page: pageKey(location.pathname),
               id: m.id, rating: m.rating });
  if (!timer) timer = setTimeout(flush, 5000);
}

export async function startVitals() {
  const { onFCP, onLCP, onCLS, onINP, onTTFB } = await import('web-vitals');
  onFCP(report); onLCP(report); onCLS(report); onINP(report); onTTFB(report);
  addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flush(); });
  addEventListener('pagehide', flush);
}
