// features/status.mjs — the dashboard, the notification bell, announcements
// and greyed-out features in a real browser, against `serve --demo`: the
// demo Uptime Kuma's monitors are flipped through its control API, the
// admin's actions go through the API with the owner's session, and the
// pages must follow live (no reload). The server polls every
// MN_E2E_STATUS_INTERVAL seconds (scripts/lib/e2e.sh).
import assert from 'node:assert/strict';
import { signIn } from '../lib/ui.mjs';
import { SIGNED_OUT_PROBE, signedIn, onDashboard, noHorizontalScroll } from '../lib/flows.mjs';
import { apiAs, demo, eventually } from '../lib/api.mjs';

const INTERVAL = Number(process.env.MN_E2E_STATUS_INTERVAL || 3) * 1000;
const NAS = { kuma: 4, name: 'NAS' };            // plugins/demo-upstreams/kuma.lua, monitor 4

// A service's card by its accessible name: "<name> <source>" (Kuma may watch
// a "Plex" too); `name` alone means Kuma's monitor for NAS, MediaNest's own
// check for the others.
const SOURCE = { NAS: 'Uptime Kuma' };
const card = (page, name) => page.getByRole('article', { name: `${name} ${SOURCE[name] || 'MediaNest check'}`, exact: true });
const bell = (page) => page.getByRole('button', { name: /^Notifications, / });

// Waits for the card to say `word`, checked on every animation frame (a
// locator's wait polls with back-off, which would add up to half a second
// to the time measured against the poll interval).
async function waitSays(page, name, word, timeout, why) {
  const id = await card(page, name).getAttribute('data-service');
  await page.waitForFunction(([sid, w]) => {
    const pill = document.querySelector(`[data-testid=service][data-service="${CSS.escape(sid)}"] [data-testid=service-status]`);
    return !!pill && pill.textContent.trim().toLowerCase() === w;
  }, [id, word.toLowerCase()], { polling: 'raf', timeout }).catch(async () => {
    const now = await card(page, name).getByTestId('service-status').textContent({ timeout: 500 }).catch(() => 'no card');
    throw new Error(`${why}: the ${name} card did not say "${word}" within ${timeout / 1000}s (it says ${JSON.stringify(now)})`);
  });
}

async function unreadCount(page) {
  const name = await bell(page).getAttribute('aria-label');
  const m = /Notifications, (\d+) unread/.exec(name || '');
  return m ? Number(m[1]) : 0;
}

// A marker that a reload would wipe: the page must follow without one.
const markPage = (page) => page.evaluate(() => { window.__mnSamePage = true; });
async function assertSamePage(page) {
  assert.equal(await page.evaluate(() => window.__mnSamePage === true), true, 'the page was reloaded');
}

async function nasUp(t, page) {
  await demo(t.base, `kuma/_control/monitors/${NAS.kuma}`, { status: 1 });
  await waitSays(page, NAS.name, 'up', 2 * INTERVAL + 5000, 'before the scenario');
}

async function monitorId(admin, name) {
  const r = await admin.get('/admin/monitors');
  assert.equal(r.status, 200, `GET /admin/monitors answered ${r.status}: ${r.text}`);
  const m = (r.json.monitors || []).find((x) => x.name === name);
  assert.ok(m, `no monitor named ${name} in GET /admin/monitors`);
  return m.id;
}


export const scenarios = [
  {
    name: 'status: a Kuma monitor goes down and comes back, live on the dashboard; the admin gets both notifications in the bell',
    timeout: 90000,
    async run(t) {
      const page = await signedIn(t, 'owner');
      await nasUp(t, page);
      await markPage(page);
      const before = await unreadCount(page);

      const t0 = Date.now();
      await demo(t.base, `kuma/_control/monitors/${NAS.kuma}`, { status: 0, msg: 'e2e: NAS unplugged' });
      await waitSays(page, NAS.name, 'down', INTERVAL + 1000, 'after the monitor went down');
      const downMs = Date.now() - t0;
      await card(page, NAS.name).getByText('e2e: NAS unplugged').waitFor({ timeout: 2000 })
        .catch(() => { throw new Error("the card does not show Kuma's message for the monitor"); });
      await page.getByTestId('status-live').filter({ hasText: /NAS is now down/ }).waitFor({ state: 'attached', timeout: 2000 })
        .catch(() => { throw new Error('the change was not announced in the live region'); });

      // The admin is told once the outage outlasts the flap guard (two cycles).
      await eventually(async () => (await unreadCount(page)) >= before + 1, { timeout: 4 * INTERVAL + 5000, what: 'the down notification in the bell' });
      await page.getByTestId('bell-live').filter({ hasText: /NAS/ }).waitFor({ state: 'attached', timeout: 2000 })
        .catch(() => { throw new Error('the arrival was not announced in the live region'); });

      const t1 = Date.now();
      await demo(t.base, `kuma/_control/monitors/${NAS.kuma}`, { status: 1 });
      await waitSays(page, NAS.name, 'up', INTERVAL + 1000, 'after the monitor came back');
      const upMs = Date.now() - t1;
      // The sparkline grew with the pushed checks: a line, with the outage marked.
      const spark = card(page, NAS.name).getByRole('img', { name: /^Response time over the last 24 hours: \d+ to \d+ ms, latest \d+ ms$/ });
      await spark.waitFor({ timeout: 2000 }).catch(() => { throw new Error('the NAS card has no response-time sparkline with a readable name'); });
      assert.ok(await spark.locator('line').count() >= 1, 'the sparkline does not mark the outage');
      await eventually(async () => (await unreadCount(page)) >= before + 2, { timeout: 4 * INTERVAL + 5000, what: 'the recovery notification in the bell' });
      assert.equal(await bell(page).getAttribute('aria-label'), `Notifications, ${before + 2} unread`);

      // The list, by keyboard: Enter opens it with focus inside, Escape closes it, focus returns.
      await bell(page).focus();
      await page.keyboard.press('Enter');
      const panel = page.getByRole('dialog', { name: 'Notifications' });
      await panel.waitFor({ state: 'visible' });
      await page.waitForFunction(() => document.activeElement?.id === 'bell-title', null, { timeout: 1000 })
        .catch(() => { throw new Error('focus did not move into the list'); });
      const nas = panel.getByTestId('notification').filter({ hasText: /NAS/ });
      assert.ok(await nas.count() >= 2, `expected two notifications about NAS, got ${await nas.count()}`);
      assert.ok(await nas.filter({ hasText: /down/i }).count() >= 1, 'no "down" notification about NAS');
      assert.ok(await nas.filter({ hasText: /\bup\b|back|recover/i }).count() >= 1, 'no "back up" notification about NAS');
      assert.equal(await panel.locator('[data-testid=notification][data-read=false]').count(), before + 2);

      // One read: the count drops by one, focus stays in the list.
      await nas.filter({ hasText: /down/i }).getByRole('button', { name: /^Mark “.+” read$/ }).first().press('Enter');
      await page.getByRole('button', { name: `Notifications, ${before + 1} unread` }).waitFor()
        .catch(() => { throw new Error('"Mark read" did not lower the unread count by one'); });
      await page.waitForFunction(() => document.activeElement?.dataset.testid === 'notification', null, { timeout: 1000 })
        .catch(() => { throw new Error('focus left the list after "Mark read"'); });

      // A second tab of the same browser follows what the first one marks.
      const other = await page.context().newPage();
      await other.goto('/');
      await other.getByRole('button', { name: `Notifications, ${before + 1} unread` }).waitFor();
      await other.locator('[data-testid=connection][data-state=online]').waitFor();

      await page.getByRole('heading', { name: 'Notifications' }).focus();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'mark-all-read', 'Tab does not reach "Mark all read"');
      await page.keyboard.press('Enter');
      await page.getByRole('button', { name: 'Notifications, none unread' }).waitFor()
        .catch(() => { throw new Error('"Mark all read" did not clear the unread count'); });
      assert.equal(await panel.locator('[data-testid=notification][data-read=false]').count(), 0);
      await other.getByRole('button', { name: 'Notifications, none unread' }).waitFor({ timeout: 5000 })
        .catch(() => { throw new Error("the other tab's bell still counts unread notifications"); });
      const api = await (await apiAs(page.context(), t.base)).get('/notifications');
      assert.equal(api.json.unread, 0, 'the server still counts unread notifications');

      await page.keyboard.press('Escape');
      await panel.waitFor({ state: 'hidden' });
      await page.waitForFunction(() => document.activeElement?.dataset.testid === 'bell', null, { timeout: 1000 })
        .catch(() => { throw new Error('focus did not return to the bell'); });
      await assertSamePage(page);
      t.note(`card turned down ${downMs} ms and up ${upMs} ms after the flip (poll interval ${INTERVAL} ms)`);
    },
  },
  {
    name: 'status: a user does not see a monitor the admin hid, in the page, the API or the socket',
    timeout: 60000,
    async run(t) {
      const opage = await signedIn(t, 'owner');
      const admin = await apiAs(opage.context(), t.base);
      const id = await monitorId(admin, NAS.name);
      await nasUp(t, opage);
      try {
        const hid = await admin.patch(`/admin/monitors/${encodeURIComponent(id)}`, { visible: false });
        assert.equal(hid.status, 200, `PATCH /admin/monitors/${id} answered ${hid.status}: ${hid.text}`);
        assert.equal(hid.json.monitor.visible, false);

        const fpage = await signedIn(t, 'friend');
        const frames = [];
        fpage.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
        await fpage.reload();
        await onDashboard(fpage);
        await card(fpage, 'Plex').waitFor({ state: 'visible' });
        assert.equal(await card(fpage, NAS.name).count(), 0, 'the user sees the hidden monitor');

        const user = await apiAs(fpage.context(), t.base);
        const all = await user.get('/dashboard/status');
        assert.equal(all.status, 200);
        assert.ok(!all.json.services.some((s) => s.id === id), 'GET /dashboard/status lists the hidden monitor to a user');
        assert.equal((await user.get(`/dashboard/status/${encodeURIComponent(id)}`)).status, 404, 'a hidden monitor is not 404 for a user');

        // The admin still sees it, marked; and its changes reach only them.
        await opage.reload();
        await card(opage, NAS.name).getByTestId('service-hidden').waitFor({ state: 'visible' });
        await demo(t.base, `kuma/_control/monitors/${NAS.kuma}`, { status: 0 });
        await waitSays(opage, NAS.name, 'down', INTERVAL + 1000, 'the admin, hidden monitor down');
        await demo(t.base, `kuma/_control/monitors/${NAS.kuma}`, { status: 1 });
        await waitSays(opage, NAS.name, 'up', INTERVAL + 1000, 'the admin, hidden monitor back');
        assert.equal(await card(fpage, NAS.name).count(), 0, 'the user sees the hidden monitor after it changed');
        assert.ok(frames.length > 0, 'the user page received nothing over its socket (was it connected?)');
        const leaked = frames.filter((f) => f.includes(`"${id}"`) || f.includes('"NAS"'));
        assert.deepEqual(leaked, [], 'the hidden monitor reached the user over the WebSocket');
      } finally {
        await demo(t.base, `kuma/_control/monitors/${NAS.kuma}`, { status: 1 }).catch(() => {});
        await admin.patch(`/admin/monitors/${encodeURIComponent(id)}`, { visible: true });
      }
    },
  },
  {
    name: 'status: an announcement reaches a user live as plain text, scheduled ones show only in their window, removal is live',
    timeout: 60000,
    async run(t) {
      const opage = await signedIn(t, 'owner');
      const admin = await apiAs(opage.context(), t.base);
      const fpage = await signedIn(t, 'friend');
      await markPage(fpage);
      const made = [];
      const banner = (text) => fpage.getByTestId('announcement').filter({ hasText: text });
      try {
        const msg = 'Maintenance tonight <img src=x onerror="window.__mnXss=1"> <b>22:00</b> & after';
        const a = await admin.post('/admin/announcements', { message: msg, level: 'warning' });
        assert.equal(a.status, 201, `POST /admin/announcements answered ${a.status}: ${a.text}`);
        made.push(a.json.announcement.id);
        await banner('Maintenance tonight').waitFor({ state: 'visible' });
        assert.equal((await banner('Maintenance tonight').locator('.banner-text').textContent()).trim(), msg, 'the message is not shown as written');
        assert.equal(await fpage.locator('[data-testid=announcements] img, [data-testid=announcements] b').count(), 0, 'the message was rendered as HTML');
        assert.equal(await fpage.evaluate(() => window.__mnXss), undefined, 'script in the message ran');
        await banner('Maintenance tonight').getByText('Warning').waitFor();

        // Scheduled: in the window [startsAt, endsAt) only.
        const start = Date.now() + 3000, end = start + 3000;
        const s = await admin.post('/admin/announcements', {
          message: 'Scheduled e2e window', level: 'info', startsAt: new Date(start).toISOString(), endsAt: new Date(end).toISOString(),
        });
        assert.equal(s.status, 201, `scheduled POST answered ${s.status}: ${s.text}`);
        made.push(s.json.announcement.id);
        await banner('Scheduled e2e window').waitFor({ state: 'visible', timeout: 8000 });
        assert.ok(Date.now() >= start - 250, `a scheduled announcement showed ${start - Date.now()} ms before its start`);
        await banner('Scheduled e2e window').waitFor({ state: 'detached', timeout: 8000 });
        assert.ok(Date.now() >= end - 250, 'a scheduled announcement went away before its end');

        // A fresh page asks the API; removal is live.
        await fpage.reload();
        await banner('Maintenance tonight').waitFor({ state: 'visible' });
        await markPage(fpage);
        const d = await admin.del(`/admin/announcements/${made[0]}`);
        assert.equal(d.status, 204, `DELETE answered ${d.status}`);
        made.shift();
        await banner('Maintenance tonight').waitFor({ state: 'detached', timeout: 5000 })
          .catch(() => { throw new Error('the removed announcement stays on the page'); });
        await assertSamePage(fpage);
      } finally {
        for (const id of made) await admin.del(`/admin/announcements/${id}`).catch(() => {});
      }
    },
  },
  {
    name: 'status: a feature whose service is down is greyed out with the reason, and its page says why, until it is back',
    timeout: 60000,
    async run(t) {
      const page = await signedIn(t, 'friend');
      await markPage(page);
      const link = page.getByTestId('nav-requests').first();
      try {
        await demo(t.base, 'overseerr/_control', { failure_rate: 1, failure_status: 503 });
        await eventually(async () => (await link.getAttribute('aria-disabled')) === 'true',
          { timeout: 3 * INTERVAL + 3000, what: 'the Requests entry greyed out while Overseerr fails' });
        const tipId = await link.getAttribute('aria-describedby');
        assert.ok(tipId, 'the greyed-out entry has no description');
        const tip = page.locator(`[id="${tipId}"]`);
        assert.match(await tip.textContent(), /^Requests is unavailable: \S/, 'the description does not say why');
        assert.equal(await tip.isVisible(), false, 'the reason shows without hover or focus');
        await link.focus();
        await tip.waitFor({ state: 'visible' }).catch(() => { throw new Error('the reason is not shown on focus'); });
        await page.keyboard.press('Enter');
        assert.equal(new URL(page.url()).pathname, '/', 'a greyed-out entry navigated');

        await page.goto('/requests');
        const notice = page.getByTestId('feature-unavailable');
        await notice.waitFor({ state: 'visible' });
        assert.match(await notice.textContent(), /Requests is unavailable: \S/);
        await markPage(page);

        await demo(t.base, 'overseerr/_control', { failure_rate: 0 });
        await notice.waitFor({ state: 'detached', timeout: 3 * INTERVAL + 3000 })
          .catch(() => { throw new Error('the page did not come back by itself after Overseerr recovered'); });
        assert.equal(await link.getAttribute('aria-disabled'), null, 'the entry stays greyed out');
        await assertSamePage(page);
      } finally {
        await demo(t.base, 'overseerr/_control', { failure_rate: 0 }).catch(() => {});
      }
    },
  },
  {
    name: 'status: the dashboard says when it is not live (socket down) and becomes live again',
    timeout: 60000,
    async run(t) {
      t.monitor.allow(SIGNED_OUT_PROBE);
      const ctx = await t.newContext();
      let blocked = false;
      const open = new Set();
      await ctx.routeWebSocket(/\/ws(\?|$)/, (ws) => {
        if (blocked) { ws.close({ code: 1011, reason: 'e2e: blocked' }); return; }
        ws.connectToServer();
        open.add(ws);
      });
      const page = await ctx.newPage();
      await page.goto('/');
      await signIn(page, 'owner');
      await onDashboard(page);
      const fresh = page.getByTestId('freshness');
      await page.locator('[data-testid=freshness][data-live=true]').waitFor();
      assert.match(await fresh.textContent(), /^\s*Live/);
      await card(page, 'Plex').waitFor();

      blocked = true;
      for (const ws of open) await ws.close({ code: 1011, reason: 'e2e: cut' });
      await page.locator('[data-testid=freshness][data-live=false]').waitFor({ timeout: 5000 })
        .catch(() => { throw new Error('the dashboard still says live after the socket dropped'); });
      assert.match(await fresh.textContent(), /Not live .*last updated/s);
      assert.notEqual(await page.getByTestId('connection').getAttribute('data-state'), 'online');

      blocked = false;
      await page.locator('[data-testid=freshness][data-live=true]').waitFor({ timeout: 40000 })
        .catch(() => { throw new Error('the dashboard did not become live again after the socket came back'); });
    },
  },
  {
    name: 'status: the dashboard and the bell fit 320 and 360 px without sideways scroll, and use the width at 4K',
    timeout: 60000,
    async run(t) {
      const page = await signedIn(t, 'owner', { viewport: { width: 320, height: 640 } });
      // the counts below the cards are there
      assert.match(await page.getByTestId('stat-requests').textContent({ timeout: 5000 }), /^\d+$/, 'no request count');
      for (const width of [320, 360]) {
        await page.setViewportSize({ width, height: 740 });
        await card(page, 'Plex').waitFor();
        await noHorizontalScroll(page);
        await bell(page).click();
        await page.getByRole('dialog', { name: 'Notifications' }).waitFor();
        await noHorizontalScroll(page);
        await t.screenshot(page, `dashboard-${width}`);
        await page.keyboard.press('Escape');
      }
      await page.setViewportSize({ width: 3840, height: 2160 });
      await card(page, 'Plex').waitFor();
      await noHorizontalScroll(page);
      const tops = await page.getByTestId('service').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().top)));
      const firstRow = tops.filter((y) => y === tops[0]).length;
      assert.ok(firstRow >= Math.min(4, tops.length), `at 4K only ${firstRow} of ${tops.length} cards share the first row`);
      await t.screenshot(page, 'dashboard-4k');

      // Moving to a page whose chunk is not loaded yet: its heading shows at
      // once and keeps the focus when the page itself arrives.
      await page.getByTestId('nav-library').first().click();
      await page.getByRole('heading', { level: 1, name: 'Library' }).waitFor();
      await page.waitForFunction(() => !document.querySelector('[aria-busy=true]'));
      await page.waitForFunction(() => document.activeElement?.id === 'page-title', null, { timeout: 1000 })
        .catch(() => { throw new Error("focus is not on the new page's heading"); });
    },
  },
];
