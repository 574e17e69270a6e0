// spec/e2e/lib/perf.mjs — first paint figures of the web UI under a slow
// phone's conditions, measured in the page (PerformanceObserver: 'paint' for
// FCP, 'largest-contentful-paint' for LCP), with the network and CPU slowed
// through the Chrome DevTools Protocol. Used by the e2e perf scenario and by
// bench/ui-perf (spec/e2e/perf.mjs).
//
//   cold: a fresh browser context (empty HTTP cache, no service worker)
//   warm: the same context's second visit, once the service worker is active
import { signIn, signOutButton, signInButton } from './ui.mjs';

// 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up (DevTools takes bytes/s),
// CPU 4x slower than this machine.
export const THROTTLE = { latency: 150, down: 1.6e6 / 8, up: 750e3 / 8, cpu: 4 };
export const TARGETS = { fcp: 1000, lcp: 1500 };

const OBSERVE = `(() => {
  const out = window.__mnPaint = { fcp: null, lcp: null, lcpEl: null,
    controlled: !!(navigator.serviceWorker && navigator.serviceWorker.controller) };
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.name === 'first-contentful-paint') out.fcp = e.startTime; })
      .observe({ type: 'paint', buffered: true });
    new PerformanceObserver((l) => { for (const e of l.getEntries()) { out.lcp = e.startTime; out.lcpEl = e.element ? e.element.tagName + (e.element.className ? '.' + String(e.element.className).split(' ')[0] : '') : e.url || null; } })
      .observe({ type: 'largest-contentful-paint', buffered: true });
  } catch (e) { out.error = String(e); }
})();`;

async function throttle(context, page, t = THROTTLE) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: t.latency, downloadThroughput: t.down, uploadThroughput: t.up,
  });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: t.cpu });
  return cdp;
}

// One measured visit of `path` in `context`: resolves with {fcp, lcp, ...} in ms.
// `ready` is what the page shows when it is done (the sign-in button, or the
// signed-in shell); LCP is read once that is visible and the page has settled.
async function visit(context, base, path, ready) {
  const page = await context.newPage();
  await page.addInitScript(OBSERVE);
  const cdp = await throttle(context, page);
  const t0 = Date.now();
  await page.goto(base + path, { waitUntil: 'commit', timeout: 60000 });
  // The page's clock starts when the navigation does; add the (small) gap
  // between our goto and that start, so figures count from the request.
  const offset = Math.max(0, (await page.evaluate(() => performance.timeOrigin)) - t0);
  await page.waitForLoadState('load', { timeout: 60000 });
  await ready(page).waitFor({ state: 'visible', timeout: 60000 });
  const wall = Date.now() - t0;
  // LCP candidates stop once the page is idle; give late ones (fonts, images)
  // a moment under the slowed CPU.
  await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
  await page.waitForTimeout(300);
  const m = await page.evaluate(() => ({
    ...window.__mnPaint,
    html: performance.getEntriesByType('navigation')[0]?.responseEnd ?? null,
    transfer: performance.getEntriesByType('resource').reduce((s, r) => s + (r.transferSize || 0), 0)
      + (performance.getEntriesByType('navigation')[0]?.transferSize || 0),
  }));
  await cdp.detach().catch(() => {});
  await page.close();
  const add = (v) => (v == null ? null : v + offset);
  return { ...m, fcp: add(m.fcp), lcp: add(m.lcp), html: add(m.html), offset, wall };
}

// DevTools emulation is per target: a page's throttling does not cover the
// requests its service worker makes (on a warm visit, the page navigation
// itself and the /api calls). So the worker targets are throttled too,
// through a browser-level session (the worker's own CPU is not slowed).
class WorkerThrottle {
  constructor(browser) { this.browser = browser; this.session = null; this.attached = new Set(); this.id = 0; }
  async apply(base, t = THROTTLE) {
    if (!this.session) this.session = await this.browser.newBrowserCDPSession();
    const { targetInfos } = await this.session.send('Target.getTargets');
    let n = 0;
    for (const ti of targetInfos) {
      if (ti.type !== 'service_worker' || !ti.url.startsWith(base) || this.attached.has(ti.targetId)) continue;
      const { sessionId } = await this.session.send('Target.attachToTarget', { targetId: ti.targetId, flatten: false });
      const send = (method, params) => this.session.send('Target.sendMessageToTarget',
        { sessionId, message: JSON.stringify({ id: ++this.id, method, params }) });
      await send('Network.enable', {});
      await send('Network.emulateNetworkConditions',
        { offline: false, latency: t.latency, downloadThroughput: t.down, uploadThroughput: t.up });
      this.attached.add(ti.targetId);
      n++;
    }
    return n;
  }
  async close() { if (this.session) await this.session.detach().catch(() => {}); }
}

async function swActive(context, base) {
  const page = await context.newPage();
  await page.goto(base + '/', { waitUntil: 'load' });
  const ok = await page.evaluate(async () => {
    if (!('serviceWorker' in navigator)) return false;
    const reg = await Promise.race([navigator.serviceWorker.ready, new Promise((r) => setTimeout(() => r(null), 10000))]);
    return !!(reg && reg.active);
  });
  // Let the worker finish precaching before the warm visit.
  await page.waitForLoadState('networkidle', { timeout: 10000 }).catch(() => {});
  await page.close();
  return ok;
}

// measure(browser, {base, state, runs}) -> { signin: {cold: [...], warm: [...]}, shell: {...} }
// state: a signed-in browser state (ownerState) for the dashboard shell.
export async function measure(browser, { base, state, runs = 3, log = () => {} }) {
  const out = {};
  const targets = {
    signin: { path: '/', ready: (p) => signInButton(p), state: undefined },
    shell: { path: '/', ready: (p) => signOutButton(p).first(), state },
  };
  const workers = new WorkerThrottle(browser);
  try {
  for (const [name, tgt] of Object.entries(targets)) {
    out[name] = { cold: [], warm: [] };
    for (let i = 0; i < runs; i++) {
      const ctx = await browser.newContext({ colorScheme: 'dark', viewport: { width: 412, height: 823 }, storageState: tgt.state });
      try {
        const cold = await visit(ctx, base, tgt.path, tgt.ready);
        out[name].cold.push(cold);
        const sw = await swActive(ctx, base);
        const throttled = sw ? await workers.apply(base) : 0;
        const warm = await visit(ctx, base, tgt.path, tgt.ready);
        warm.swActive = sw;
        warm.swThrottled = throttled > 0;
        out[name].warm.push(warm);
        log(`${name} run ${i + 1}: cold FCP ${r(cold.fcp)} LCP ${r(cold.lcp)}; warm FCP ${r(warm.fcp)} LCP ${r(warm.lcp)} (worker ${sw ? 'active' : 'none'}${warm.swThrottled ? ', throttled' : ''}, page controlled ${warm.controlled})`);
      } finally {
        await ctx.close();
      }
    }
  }
  } finally {
    await workers.close();
  }
  return out;
}

// A signed-in owner's browser state (session cookie + the app's local
// storage, as a returning user has): sign in through the UI, unthrottled.
export async function ownerState(browser, base, entryUrl, user = 'owner') {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    await page.goto(entryUrl || base + '/');
    await signIn(page, user);
    const state = await ctx.storageState();
    if (!state.cookies.some((c) => c.name === 'mn_session')) throw new Error('signed in but no mn_session cookie');
    // the service worker and HTTP cache are not part of it: a cold visit stays cold
    return state;
  } finally {
    await ctx.close();
  }
}

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function summarize(res) {
  const rows = [];
  for (const [page, byMode] of Object.entries(res)) {
    for (const [mode, runs] of Object.entries(byMode)) {
      rows.push({
        page, mode, runs: runs.length,
        fcp: median(runs.map((x) => x.fcp)), lcp: median(runs.map((x) => x.lcp)),
        html: median(runs.map((x) => x.html)), wall: median(runs.map((x) => x.wall)),
        transfer: median(runs.map((x) => x.transfer)),
        lcpEl: runs.map((x) => x.lcpEl).filter(Boolean)[0] || '',
        controlled: runs.every((x) => x.controlled),
        swThrottled: runs.every((x) => x.swThrottled),
      });
    }
  }
  const cold = rows.filter((x) => x.mode === 'cold');
  const met = {
    fcp: cold.every((x) => x.fcp != null && x.fcp < TARGETS.fcp),
    lcp: cold.every((x) => x.lcp != null && x.lcp < TARGETS.lcp),
  };
  return { rows, met };
}

export function r(ms) { return ms == null ? 'n/a' : `${Math.round(ms)} ms`; }
