// lib/api.mjs — the API and the demo upstreams' controls, called from the
// test itself (Node's fetch), not from a page: what a scenario arranges
// (an admin hiding a monitor, posting an announcement, a monitor going down)
// then reaches the pages only the way it would in production.

// A client acting as the user signed in in `context`: their session cookie
// and the CSRF token the app itself uses (from GET /auth/session).
export async function apiAs(context, base) {
  const c = (await context.cookies(base)).find((x) => x.name === 'mn_session');
  if (!c) throw new Error('apiAs: the browser context has no mn_session cookie (not signed in?)');
  const headers = { cookie: `mn_session=${c.value}`, accept: 'application/json' };
  const s = await fetch(`${base}/api/v1/auth/session`, { headers });
  if (s.status !== 200) throw new Error(`apiAs: GET /api/v1/auth/session answered ${s.status}`);
  const { csrfToken } = await s.json();
  const call = async (method, path, body) => {
    const r = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { ...headers, 'x-csrf-token': csrfToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: r.status, json, text };
  };
  return {
    get: (p) => call('GET', p),
    post: (p, b = {}) => call('POST', p, b),
    patch: (p, b = {}) => call('PATCH', p, b),
    del: (p) => call('DELETE', p),
  };
}

// POST a demo upstream's control endpoint (public, demo mode only), e.g.
// demo(base, 'kuma/_control/monitors/4', {status: 0}).
export async function demo(base, path, body = {}) {
  const r = await fetch(`${base}/demo/${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`POST /demo/${path} answered ${r.status}: ${await r.text()}`);
  return r.json().catch(() => null);
}

// Polls fn() until it returns a truthy value (which it resolves to), or
// throws `what` after `timeout` ms.
export async function eventually(fn, { timeout = 10000, every = 200, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > end) throw new Error(`${what}: not true within ${timeout / 1000}s${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
