// sw.js — the service worker. build.mjs replaces __BUILD__ with
// {version, precache}: the build's hash and the files of the first load.
//
// - install: precache the app's first-load files and the offline page into
//   "mn-static-<version>", then skipWaiting (a new build takes over at once);
// - activate: delete every cache of other versions, clients.claim();
// - /assets/* and /icons/* (content-hashed, immutable): cache-first;
// - /api/* GET: network-first; a successful answer is kept in
//   "mn-api-<version>" and served from there when the network is gone
//   (never /api/v1/auth/*); without a copy the answer is a JSON 503 OFFLINE;
// - page navigations: network, and the offline page when the network is gone;
// - everything else (other methods, /ws, /demo, /metrics): not touched.
// The page posts {type: "signed-out"} on sign-out: the API copies are dropped.
const BUILD = __BUILD__;
const STATIC = `mn-static-${BUILD.version}`;
const API = `mn-api-${BUILD.version}`;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(STATIC).then((c) => c.addAll(BUILD.precache)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('mn-') && key !== STATIC && key !== API) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'signed-out') event.waitUntil(caches.delete(API));
});

function offlineJson() {
  return new Response(JSON.stringify({ error: { code: 'OFFLINE', message: 'You are offline: MediaNest cannot be reached.' } }),
    { status: 503, headers: { 'Content-Type': 'application/json' } });
}

async function cacheFirst(req) {
  const hit = await caches.match(req);
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok) {
    const copy = res.clone();
    caches.open(STATIC).then((c) => c.put(req, copy));
  }
  return res;
}

async function networkFirstApi(req, url) {
  const keep = !url.pathname.includes('/auth/');
  try {
    const res = await fetch(req);
    if (keep && res.ok && res.status === 200) {
      const copy = res.clone();
      caches.open(API).then((c) => c.put(req, copy));
    }
    return res;
  } catch (e) {
    const hit = keep && (await caches.open(API).then((c) => c.match(req)));
    return hit || offlineJson();
  }
}

async function navigation(req) {
  try {
    return await fetch(req);
  } catch (e) {
    const page = await caches.match('/offline.html');
    return page || new Response('You are offline.', { status: 503, headers: { 'Content-Type': 'text/plain' } });
  }
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const p = url.pathname;
  if (p.startsWith('/demo/') || p === '/ws' || p === '/metrics' || p === '/health' || p === '/ready') return;
  if (p.startsWith('/api/')) return event.respondWith(networkFirstApi(req, url));
  if (req.mode === 'navigate') return event.respondWith(navigation(req));
  if (p.startsWith('/assets/') || p.startsWith('/icons/') || BUILD.precache.includes(p)) {
    return event.respondWith(cacheFirst(req));
  }
});
