// features/admin.mjs — the admin area in a real browser against `serve
// --demo`, signed in as the owner: roles and disabling take effect on the
// user's next request, a wrong Overseerr key is reported by Test connection
// and fixed, a reload from the Runtime page, RUM figures after browsing, a
// thrown client error listed under Errors, announcements, the sections
// whose backend may be missing, and axe-core on every page as user and admin.
import assert from 'node:assert/strict';
import { signedIn, noHorizontalScroll } from '../lib/flows.mjs';
import { pageHeading } from '../lib/ui.mjs';
import { apiAs, demo, eventually } from '../lib/api.mjs';
import { axeViolations } from '../lib/axe.mjs';

const section = async (page, key, title) => {
  await page.getByTestId(`admin-${key}`).click();
  await page.getByRole('heading', { level: 2, name: title }).waitFor();
};

// A fresh friend session in its own context; its API client.
async function friend(t) {
  const page = await signedIn(t, 'friend');
  return { page, api: await apiAs(page.context(), t.base) };
}

export const scenarios = [
  {
    name: "admin: the owner changes the friend's role and it applies to their next request; disable signs them out, enable lets them back",
    timeout: 90000,
    async run(t) {
      const owner = await signedIn(t, 'owner');
      const f = await friend(t);
      assert.equal((await f.api.get('/admin/users')).status, 403, 'the friend is not an admin yet');
      await owner.goto('/admin/users');
      await pageHeading(owner, '^\\s*admin\\s*$').waitFor();
      const row = owner.getByTestId('user-friend');
      await row.getByRole('button', { name: /make admin/i }).click();
      await owner.getByTestId('users-said').filter({ hasText: 'friend is now an admin' }).waitFor();
      await row.getByTestId('user-role').filter({ hasText: 'admin' }).waitFor();
      assert.equal((await f.api.get('/admin/users')).status, 200, "the friend's next request is an admin's");
      await row.getByRole('button', { name: /make user/i }).click();
      await row.getByTestId('user-role').filter({ hasText: /^user$/ }).waitFor();
      assert.equal((await f.api.get('/admin/users')).status, 403, 'demoted at once');
      // the owner's own row offers nothing
      assert.equal(await owner.getByTestId('user-owner').getByRole('button').count(), 0, 'the owner can change themself');

      t.monitor.allow({ kind: 'http', status: 401, why: 'the friend is disabled: their pages are signed out' });
      t.monitor.allow({ kind: 'console', text: /401|WebSocket/, why: 'the friend is disabled' });
      await row.getByTestId('user-disable').click();
      await row.getByTestId('user-disable-yes').click();
      await row.getByTestId('user-state').filter({ hasText: 'Disabled' }).waitFor();
      const s = await fetch(`${t.base}/api/v1/auth/session`, { headers: { cookie: (await f.page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') } });
      assert.equal(s.status, 401, "a disabled user's session ends at once");
      await row.getByTestId('user-enable').click();
      await row.getByTestId('user-state').filter({ hasText: 'Active' }).waitFor();
      await noHorizontalScroll(owner);
    },
  },
  {
    name: 'admin: Overseerr saved with a wrong key — Test connection says the key is refused; fixed, it works; a bad URL is refused at its field',
    timeout: 60000,
    async run(t) {
      const page = await signedIn(t, 'owner');
      await page.goto('/admin/services');
      const form = page.getByTestId('service-overseerr');
      await form.waitFor();
      // server-side validation, shown at the field and tied to it
      const url = form.getByLabel('URL', { exact: true });
      const was = await url.inputValue();
      t.monitor.allow({ kind: 'http', status: 400, url: /\/admin\/services\/overseerr$/, why: 'a bad URL is refused' });
      await url.fill('ftp://overseerr');
      await form.getByTestId('service-save').click();
      await form.locator('#overseerr-url-error').waitFor();
      assert.equal(await url.getAttribute('aria-invalid'), 'true');
      assert.match(await url.getAttribute('aria-describedby'), /overseerr-url-error/);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'overseerr-url', 'focus goes to the field in error');
      await url.fill(was);

      await form.getByLabel(/^API key/).fill('e2e-wrong-key');
      await form.getByTestId('service-save').click();
      await form.getByTestId('service-said').filter({ hasText: 'saved' }).waitFor();
      assert.match(await form.getByLabel(/^API key/).evaluate((e) => e.labels[0].textContent), /\(set\)/);
      await form.getByTestId('service-test').click();
      const check = form.locator('[data-testid=test-result] [data-check=apiKey]');
      await check.waitFor({ timeout: 20000 });
      assert.equal(await check.getAttribute('data-ok'), 'false');
      assert.match(await check.textContent(), /API key refused/);

      await form.getByLabel(/^API key/).fill('demo-overseerr-key');
      await form.getByTestId('service-save').click();
      await form.getByTestId('service-said').filter({ hasText: 'saved' }).waitFor();
      await form.getByTestId('service-test').click();
      await eventually(async () => (await check.getAttribute('data-ok').catch(() => null)) === 'true',
        { timeout: 20000, what: 'the apiKey check passing with the right key' });
      assert.match(await form.getByTestId('webhook-url').textContent(), /\/api\/v1\/webhooks\/overseerr$/);
    },
  },
  {
    name: 'admin: Reload from the Runtime page shows the result; plugins, figures and generations are listed',
    timeout: 60000,
    async run(t) {
      const page = await signedIn(t, 'owner');
      await page.goto('/admin/runtime');
      await page.getByTestId('plugins').getByRole('rowheader', { name: 'serverinfo' }).waitFor();
      await page.getByTestId('server-figures').getByText('Uptime').waitFor();
      const gen = Number((await page.getByTestId('generation').textContent()).match(/\d+/)[0]);
      await page.getByTestId('reload-force').click();
      const out = page.getByTestId('reload-result');
      await out.filter({ hasText: /Reloaded: generation \d+ replaced \d+/ }).waitFor({ timeout: 30000 });
      assert.equal(await out.getAttribute('data-ok'), 'true');
      await eventually(async () => Number((await page.getByTestId('generation').textContent()).match(/\d+/)[0]) > gen,
        { what: 'the page showing the new generation' });
      await page.getByTestId('reload').click();
      await out.filter({ hasText: /Nothing changed/ }).waitFor({ timeout: 30000 });
    },
  },
  {
    name: 'admin: Experience shows RUM figures after browsing; Errors lists a deliberately thrown client error',
    timeout: 60000,
    async run(t) {
      const page = await signedIn(t, 'owner');
      const admin = await apiAs(page.context(), t.base);
      await page.goto('/library');
      await pageHeading(page, 'library').waitFor();
      const stamp = `e2e deliberate ${Date.now()}`;
      t.monitor.allow({ kind: 'pageerror', text: new RegExp(stamp), why: 'the scenario throws it' });
      t.monitor.allow({ kind: 'pageerror', text: /Unhandled rejection e2e/, why: 'the scenario rejects it' });
      // the same error three times from the same place, and a rejection: two reports
      await page.evaluate((m) => { for (let i = 0; i < 3; i++) setTimeout(function boom() { throw new Error(m); }, 0); }, stamp);
      await page.evaluate((m) => { Promise.reject(new Error(`Unhandled rejection e2e ${m}`)); }, stamp);
      await page.waitForTimeout(0);
      // leaving sends the web-vitals beacon (pagehide first: Playwright cannot
      // watch a beacon from a document already gone)
      await page.evaluate(() => window.dispatchEvent(new Event('pagehide')));
      await page.goto('/admin/users');
      await eventually(async () => {
        const r = await admin.get('/admin/rum?range=24h');
        return r.json && r.json.pages.some((p) => p.page === '/library' && p.metrics.TTFB.count > 0);
      }, { timeout: 15000, what: "the library page's RUM samples stored" });
      await section(page, 'experience', 'Experience');
      const all = page.locator('[data-testid=rum-page][data-page="*"]');
      await all.waitFor();
      assert.ok(Number(await all.locator('tr[data-metric=TTFB] [data-testid=rum-count]').textContent()) > 0);
      await page.locator('[data-testid=rum-page][data-page="/library"]').waitFor();

      const mine = async () => (await admin.get('/admin/errors')).json.errors.filter((e) => e.message.includes(stamp));
      await eventually(async () => (await mine()).length === 2, { timeout: 10000, what: 'the error and the rejection stored' });
      const thrown = (await mine()).find((e) => !/rejection/.test(e.message));
      assert.equal(thrown.count, 1, 'the same error was reported more than once in one page load');
      await section(page, 'errors', 'Errors');
      const group = page.getByTestId('error-group').filter({ hasText: `Uncaught Error: ${stamp}` });
      await group.waitFor();
      assert.match(await group.textContent(), /\/library/);
      assert.match(await group.textContent(), /Chrome/);
    },
  },
  {
    name: 'admin: an announcement published from Admin shows to everyone at once and ends',
    timeout: 45000,
    async run(t) {
      const page = await signedIn(t, 'owner');
      const f = await friend(t);
      await page.goto('/admin/announcements');
      const text = `e2e maintenance ${Date.now()}`;
      await page.getByLabel('Message').fill(text);
      await page.getByLabel('Level').selectOption('warning');
      await page.getByRole('button', { name: 'Publish' }).click();
      await f.page.getByTestId('announcement').filter({ hasText: text }).waitFor();
      const row = page.getByTestId('announcement-row').filter({ hasText: text });
      await row.getByTestId('announcement-end').click();
      await row.getByTestId('announcement-end-yes').click();
      await f.page.getByTestId('announcement').filter({ hasText: text }).waitFor({ state: 'detached' });
    },
  },
  {
    name: 'admin: Monitors, Requests and Downloads sections load (or say the server lacks them)',
    timeout: 45000,
    async run(t) {
      const page = await signedIn(t, 'owner');
      const admin = await apiAs(page.context(), t.base);
      t.monitor.allow({ kind: 'http', status: 404, url: /\/api\/v1\/admin\/(requests|downloads)/, why: 'issues 13 and 14 may not be merged' });
      await page.goto('/admin/monitors');
      await page.getByTestId('monitors').waitFor();
      assert.ok(await page.getByTestId('monitor-state').count() > 0);
      // the state follows live: the demo Kuma's NAS (monitor 4) goes down
      const nas = page.getByTestId('monitors').getByRole('row').filter({ hasText: 'NAS' }).first();
      await demo(t.base, 'kuma/_control/monitors/4', { status: 0, msg: 'e2e: admin monitors' });
      await nas.getByTestId('monitor-state').filter({ hasText: 'Down' }).waitFor({ timeout: 15000 });
      await demo(t.base, 'kuma/_control/monitors/4', { status: 1 });
      await nas.getByTestId('monitor-state').filter({ hasText: 'Up' }).waitFor({ timeout: 15000 });
      for (const [key, title] of [['requests', 'Requests'], ['downloads', 'Downloads']]) {
        await section(page, key, title);
        const there = (await admin.get(`/admin/${key}`)).status !== 404;
        if (there) await page.getByRole('table', { name: /everyone/i }).or(page.getByText(/^No /)).first().waitFor();
        else await page.getByTestId('section-missing').filter({ hasText: 'not available on this server' }).waitFor();
      }
    },
  },
  {
    name: 'axe-core: every page, signed in as the friend and as the owner, has no serious or critical violation',
    timeout: 120000,
    async run(t) {
      t.monitor.allow({ kind: 'http', status: 404, url: /\/api\/v1\/admin\/(requests|downloads)/, why: 'issues 13 and 14 may not be merged' });
      const bad = [];
      const visit = async (page, who, path) => {
        await page.goto(path);
        await page.locator('#page-title').waitFor();
        await page.waitForFunction(() => !document.querySelector('[aria-busy=true], .skeleton'), null, { timeout: 10000 }).catch(() => {});
        for (const v of await axeViolations(page)) bad.push(`${who} ${path}: ${v}`);
      };
      const f = await signedIn(t, 'friend');
      for (const p of ['/', '/library', '/requests', '/youtube', '/settings', '/admin']) await visit(f, 'friend', p);
      const o = await signedIn(t, 'owner');
      for (const p of ['/', '/library', '/settings', '/admin/users', '/admin/services', '/admin/monitors', '/admin/announcements',
                       '/admin/requests', '/admin/downloads', '/admin/runtime', '/admin/experience', '/admin/errors']) await visit(o, 'owner', p);
      assert.deepEqual(bad, [], `axe-core found:\n${bad.join('\n')}`);
    },
  },
  {
    name: 'admin: every section fits a 320 px phone without sideways scroll (tables become cards)',
    timeout: 60000,
    async run(t) {
      t.monitor.allow({ kind: 'http', status: 404, url: /\/api\/v1\/admin\/(requests|downloads)/, why: 'issues 13 and 14 may not be merged' });
      const page = await signedIn(t, 'owner', { viewport: { width: 320, height: 640 } });
      for (const key of ['users', 'services', 'monitors', 'announcements', 'requests', 'downloads', 'runtime', 'experience', 'errors']) {
        await page.goto(`/admin/${key}`);
        await page.locator('.admin-body h2').waitFor();
        await page.waitForFunction(() => !document.querySelector('.skeleton'), null, { timeout: 10000 }).catch(() => {});
        await noHorizontalScroll(page).catch((e) => { throw new Error(`/admin/${key}: ${e.message}`); });
      }
      await page.goto('/admin/users');
      const head = page.locator('[data-testid=users] thead');
      assert.equal(await head.isVisible(), false, 'the users table keeps its header row on a phone (not cards)');
    },
  },
];
