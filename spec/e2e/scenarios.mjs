// spec/e2e/scenarios.mjs — the browser scenarios, in the order they run. The
// first one claims the fresh install through the setup link (it must run on a
// database with no user); the others sign in as the demo plex.tv users:
// "owner" (owns the server -> admin), "friend" (shared -> user), "stranger"
// (no access). Each `run(t)` gets a Run (run.mjs): t.newPage(opts) opens a
// page in a fresh, monitored browser context; t.monitor.allow(...) declares
// an expected error response; t.screenshot(page, name) saves an artifact.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  signIn, approveInPopup, signInButton, signOutButton, themeToggle, navLink, adminLink,
  pageHeading, session, revokeBehindTheBrowsersBack, backdrop,
} from './lib/ui.mjs';
import { measure, ownerState, summarize, TARGETS, r } from './lib/perf.mjs';

import { SIGNED_OUT_PROBE, path, onDashboard, visibleCount, noHorizontalScroll, signedIn } from './lib/flows.mjs';

export const scenarios = [
  {
    name: 'first-run setup link: the owner signs in and lands on the dashboard as admin, with the Admin entry',
    needsSetup: false,
    async run(t) {
      assert.ok(t.setupUrl, 'the server printed no setup link (setup: open http://.../setup?token=...)');
      t.monitor.allow(SIGNED_OUT_PROBE);
      const page = await t.newPage();
      await page.goto(t.setupUrl);
      await signIn(page, 'owner');
      await onDashboard(page);
      await adminLink(page).first().waitFor({ state: 'visible' });
      const s = await session(page, t.base);
      assert.equal(s.status, 200, 'signed in, but GET /api/v1/auth/session is not 200');
      assert.equal(s.body.user.username, 'owner');
      assert.equal(s.body.user.role, 'admin', 'the setup link made the first user an admin');
      assert.ok(!page.url().includes('token='), `the setup token stays in the address bar: ${page.url()}`);
    },
  },
  {
    name: 'the friend signs in as a user: dashboard, no Admin entry',
    async run(t) {
      const page = await signedIn(t, 'friend');
      const s = await session(page, t.base);
      assert.equal(s.body?.user?.username, 'friend');
      assert.equal(s.body.user.role, 'user');
      // the navigation is there (so an absent Admin entry means something)...
      await navLink(page, 'Dashboard').first().waitFor({ state: 'visible' });
      // ...and has no Admin entry
      assert.equal(await visibleCount(adminLink(page)), 0, 'a user sees the Admin entry');
      assert.equal(await visibleCount(page.getByRole('link', { name: /^\s*admin\s*$/i })), 0, 'a user sees an Admin link');
      // typing the address does not get them in either
      await page.goto('/admin');
      await page.getByTestId('forbidden').waitFor({ state: 'visible' })
        .catch(() => { throw new Error('a user who opens /admin is not told it is for administrators'); });
      assert.equal(await visibleCount(pageHeading(page, '^\\s*admin\\s*$')), 0, 'a user sees the Admin page');
    },
  },
  {
    name: 'the stranger (no access to this Plex server) is refused with a message',
    async run(t) {
      t.monitor.allow(SIGNED_OUT_PROBE);
      t.monitor.allow({ kind: 'http', status: 403, url: /\/api\/v1\/auth\/plex\/pin\/\d+/, why: 'NO_SERVER_ACCESS' });
      const page = await t.newPage();
      await page.goto('/');
      await approveInPopup(page, 'stranger');
      const alert = page.getByRole('alert').filter({ hasText: /access to this (plex )?server/i });
      await alert.first().waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('signin-error').getAttribute('data-code'), 'NO_SERVER_ACCESS');
      assert.equal((await session(page, t.base)).status, 401, 'the stranger got a session');
      assert.equal(await visibleCount(signOutButton(page)), 0, 'the stranger sees the signed-in shell');
      await signInButton(page).waitFor({ state: 'visible' });
    },
  },
  {
    name: 'sign-out: back to the sign-in page, and the session is revoked on the server',
    async run(t) {
      const page = await signedIn(t, 'owner');
      const before = (await page.context().cookies(t.base)).find((c) => c.name === 'mn_session');
      assert.ok(before, 'no mn_session cookie after sign-in');
      await signOutButton(page).first().click();
      await signInButton(page).waitFor({ state: 'visible' });
      assert.equal((await session(page, t.base)).status, 401, 'still signed in after sign-out');
      const old = await fetch(`${t.base}/api/v1/auth/session`, { headers: { cookie: `mn_session=${before.value}` } });
      assert.equal(old.status, 401, 'the old session cookie still works after sign-out');
      // a reload stays signed out
      await page.reload();
      await signInButton(page).waitFor({ state: 'visible' });
    },
  },
  {
    name: 'session expired while the app is open: sign-in page, then back on the same page',
    async run(t) {
      t.monitor.allow(SIGNED_OUT_PROBE);
      const ctx = await t.newContext();
      // The live-updates socket goes through the test, so it can be cut the
      // way a server restart or a network blip cuts it (the app reconnects,
      // and a refused reconnect makes it check its session).
      const sockets = [];
      await ctx.routeWebSocket(/\/ws$/, (ws) => { ws.connectToServer(); sockets.push(ws); });
      const page = await ctx.newPage();
      await page.goto('/');
      await signIn(page, 'friend');
      await onDashboard(page);
      await page.getByTestId('connection').and(page.locator('[data-state="online"]')).waitFor({ state: 'attached' })
        .catch(() => { throw new Error('the live-updates connection indicator never said online'); });
      await navLink(page, 'Requests').first().click();
      await pageHeading(page, 'requests').waitFor({ state: 'visible' });
      const where = path(page);
      assert.notEqual(where, '/', 'the Requests page has its own address');

      // 1. While the app is open: the session dies on the server, the socket drops.
      await revokeBehindTheBrowsersBack(ctx, t.base);
      // From here the app's calls answer 401: that is the point.
      t.monitor.allow({ kind: 'http', status: 401, url: /\/api\/v1\//, why: 'revoked session' });
      t.monitor.allow({ kind: 'http', status: 401, url: /\/ws(\?|$)/, why: 'revoked session' });
      t.monitor.allow({ kind: 'console', text: /WebSocket connection .* failed/i, why: 'revoked session' });
      for (const ws of sockets.splice(0)) await ws.close({ code: 1012, reason: 'restart' }).catch(() => {});
      await page.getByText(/session has ended|session expired/i).first().waitFor({ state: 'visible', timeout: 20000 })
        .catch(() => { throw new Error(`the app did not notice the dead session (it shows ${page.url()})`); });
      await signIn(page, 'friend');
      await pageHeading(page, 'requests').waitFor({ state: 'visible' });
      assert.equal(path(page), where, 'after signing in again the user is not back on the page they were on');

      // 2. The app is reopened (reload) with a session that died meanwhile.
      await revokeBehindTheBrowsersBack(ctx, t.base);
      await page.reload();
      await signInButton(page).waitFor({ state: 'visible' });
      await signIn(page, 'friend');
      await pageHeading(page, 'requests').waitFor({ state: 'visible' });
      assert.equal(path(page), where, 'after a reload and signing in again the user is not back on the same page');

      // 3. The session dies, then the user moves to another page in the app.
      // The socket must be up first: a socket still connecting when the
      // session dies is refused, and the app would notice before the move.
      await page.getByTestId('connection').and(page.locator('[data-state="online"]')).waitFor({ state: 'attached' });
      await revokeBehindTheBrowsersBack(ctx, t.base);
      await navLink(page, 'YouTube').first().click();
      await page.getByTestId('session-expired').waitFor({ state: 'visible' })
        .catch(() => { throw new Error(`moving to another page did not notice the dead session (at ${page.url()})`); });
      await signIn(page, 'friend');
      await pageHeading(page, 'youtube').waitFor({ state: 'visible' });
      assert.equal(path(page), '/youtube', 'after signing in again the user is not on the page they went to');
    },
  },
  {
    name: 'offline: with the network cut, a navigation shows the offline page',
    async run(t) {
      const page = await signedIn(t, 'friend');
      const active = await page.evaluate(async () => {
        if (!('serviceWorker' in navigator)) return 'no serviceWorker API';
        const reg = await Promise.race([navigator.serviceWorker.ready, new Promise((r) => setTimeout(() => r(null), 10000))]);
        return reg && reg.active ? 'active' : 'no active service worker within 10 s';
      });
      assert.equal(active, 'active', 'the service worker is not active');
      // precaching finishes in the worker's install step; wait for it to settle
      await page.waitForLoadState('networkidle').catch(() => {});
      await page.context().setOffline(true);
      // Everything that tries the network from now on fails: expected.
      t.monitor.allow({ kind: 'requestfailed', why: 'offline' });
      t.monitor.allow({ kind: 'console', text: /ERR_INTERNET_DISCONNECTED|Failed to fetch|WebSocket|NetworkError|network/i, why: 'offline' });
      await page.goto('/library').catch((e) => { throw new Error(`navigation while offline failed (no offline page from the service worker): ${e.message}`); });
      await page.getByRole('heading', { name: /offline/i }).first().waitFor({ state: 'visible' });
      await t.screenshot(page, 'offline');
      await page.context().setOffline(false);
      await page.goto('/');
      await signOutButton(page).first().waitFor({ state: 'visible' });
    },
  },
  {
    name: 'theme: dark by default, light on switch, remembered across a reload',
    async run(t) {
      const page = await signedIn(t, 'friend', { colorScheme: 'no-preference' });
      const dark = await backdrop(page);
      assert.ok(dark.luminance < 0.2, `the default theme is not dark (background ${dark.color})`);
      await themeToggle(page).first().click();
      await page.waitForFunction((l) => {
        const c = getComputedStyle(document.body).backgroundColor;
        return c !== l;
      }, dark.color, { timeout: 5000 }).catch(() => {});
      const light = await backdrop(page);
      assert.ok(light.luminance > 0.5, `after the switch the background is still dark (${light.color})`);
      await page.reload();
      await signOutButton(page).first().waitFor({ state: 'visible' });
      const again = await backdrop(page);
      assert.equal(again.color, light.color, 'the light theme was not remembered across a reload');
      // and back
      await themeToggle(page).first().click();
      await page.waitForFunction((c) => getComputedStyle(document.body).backgroundColor !== c, light.color, { timeout: 5000 });
    },
  },
  {
    name: 'phone viewport (360x740): bottom navigation, no sideways scroll, screenshot',
    async run(t) {
      t.monitor.allow(SIGNED_OUT_PROBE);
      const page = await t.newPage({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      await page.goto('/');
      await signInButton(page).waitFor({ state: 'visible' });
      await noHorizontalScroll(page);
      await t.screenshot(page, 'phone-signin');
      await signIn(page, 'friend');
      await onDashboard(page);
      const nav = navLink(page, 'Dashboard');
      let bottom = false;
      for (const el of await nav.all()) {
        if (!(await el.isVisible())) continue;
        const b = await el.boundingBox();
        if (b && b.y > 740 * 0.75) bottom = true;
      }
      assert.ok(bottom, 'no navigation entry at the bottom of the phone screen');
      await noHorizontalScroll(page);
      const shot = await t.screenshot(page, 'phone-dashboard');
      t.note(`screenshot: ${shot}`);
    },
  },
  {
    name: '4K viewport (3840x2160): sidebar navigation, no sideways scroll, screenshot',
    async run(t) {
      t.monitor.allow(SIGNED_OUT_PROBE);
      const page = await t.newPage({ viewport: { width: 3840, height: 2160 } });
      await page.goto('/');
      await signInButton(page).waitFor({ state: 'visible' });
      await noHorizontalScroll(page);
      await signIn(page, 'owner');
      await onDashboard(page);
      const nav = navLink(page, 'Dashboard');
      let side = false;
      for (const el of await nav.all()) {
        if (!(await el.isVisible())) continue;
        const b = await el.boundingBox();
        if (b && b.x < 3840 * 0.25 && b.y < 2160 * 0.5) side = true;
      }
      assert.ok(side, 'no navigation entry in a sidebar on the left of a 4K screen');
      await adminLink(page).first().waitFor({ state: 'visible' });
      await noHorizontalScroll(page);
      const shot = await t.screenshot(page, '4k-dashboard');
      t.note(`screenshot: ${shot}`);
    },
  },
  {
    name: 'performance (150 ms RTT, 1.6/0.75 Mbit/s, CPU 4x): FCP and LCP of sign-in and shell, cold and warm, recorded',
    timeout: 150000,
    async run(t) {
      const runs = Number(process.env.E2E_PERF_RUNS || 3);
      const state = await ownerState(t.browser, t.base);
      const res = await measure(t.browser, { base: t.base, state, runs, log: (s) => t.note(`perf ${s}`) });
      const { rows, met } = summarize(res);
      for (const x of rows) {
        assert.ok(x.fcp != null, `no FCP measured for ${x.page} ${x.mode}`);
        assert.ok(x.lcp != null, `no LCP measured for ${x.page} ${x.mode}`);
        t.note(`perf median ${x.page} ${x.mode}: FCP ${r(x.fcp)}, LCP ${r(x.lcp)} (${x.runs} runs)`);
      }
      const warm = rows.filter((x) => x.mode === 'warm');
      assert.ok(warm.every((x) => x.controlled), 'the warm visits were not served through the service worker');
      assert.ok(warm.every((x) => x.swThrottled), 'the service worker could not be throttled for the warm visits');
      t.note(`perf targets (cold): FCP < ${TARGETS.fcp} ms ${met.fcp ? 'met' : 'NOT met'}, LCP < ${TARGETS.lcp} ms ${met.lcp ? 'met' : 'NOT met'}`);
      writeFileSync(join(t.artifacts, 'ui-perf.json'), JSON.stringify({ rows, met, raw: res }, null, 2));
    },
  },
];
