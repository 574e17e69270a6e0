// features/settings.mjs — personal settings as the friend (a plain user):
// reached from the user menu; an API token created (shown once), used with
// curl, revoked (curl then refused); theme; no admin links anywhere.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { signedIn, noHorizontalScroll } from '../lib/flows.mjs';
import { pageHeading } from '../lib/ui.mjs';
import { apiAs } from '../lib/api.mjs';

const run = promisify(execFile);

async function curlStatus(base, token) {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}',
    '-H', `Authorization: Bearer ${token}`, `${base}/api/v1/auth/session`]);
  return Number(stdout);
}

export const scenarios = [
  {
    name: 'settings: the friend creates an API token, uses it with curl, revokes it (curl is then refused); no admin links',
    timeout: 60000,
    async run(t) {
      const page = await signedIn(t, 'friend');
      assert.equal(await page.locator('a[href^="/admin"]').count(), 0, 'a user sees a link into the admin area');
      await page.getByTestId('settings-link').click();
      await pageHeading(page, '^\\s*settings\\s*$').waitFor();
      assert.equal(await page.getByTestId('profile-name').textContent(), 'friend');
      assert.equal(await page.locator('a[href^="/admin"]').count(), 0, 'the settings page links into the admin area');

      // an empty name is refused at the field, without a request
      await page.getByTestId('token-create').click();
      await page.locator('#token-name-error').waitFor();
      const name = `e2e curl ${Date.now()}`;
      await page.getByLabel('Token name').fill(name);
      await page.getByTestId('token-create').click();
      const token = (await page.getByTestId('token-value').textContent()).trim();
      assert.ok(token.length >= 32, 'the token is shown once');
      assert.equal(await curlStatus(t.base, token), 200, 'the new token works with curl');
      const row = page.getByTestId('token-row').filter({ hasText: name });
      await row.waitFor();
      // by keyboard: the confirmation takes the focus, Escape gives it back
      await row.getByTestId('token-revoke').focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement?.dataset.testid === 'token-revoke-yes');
      await page.keyboard.press('Escape');
      await page.waitForFunction(() => document.activeElement?.dataset.testid === 'token-revoke');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement?.dataset.testid === 'token-revoke-yes');
      await page.keyboard.press('Enter');
      await page.getByTestId('tokens-said').filter({ hasText: 'revoked' }).waitFor();
      await row.waitFor({ state: 'detached' });
      assert.equal(await page.getByTestId('token-created').count(), 0, 'the revoked token is still displayed');
      assert.equal(await curlStatus(t.base, token), 401, 'a revoked token is refused');

      await page.getByRole('radio', { name: 'Light' }).check();
      assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-theme')), 'light');
      await page.getByRole('radio', { name: 'Dark' }).check();
      await page.setViewportSize({ width: 320, height: 700 });
      const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
        .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)}px)`));
      t.note(wide.length ? `wider than 320 px: ${wide.join(', ')}` : 'nothing wider than 320 px');
      await noHorizontalScroll(page);
    },
  },
  {
    name: 'settings: sign out another device from Sessions; turn a kind of notification off',
    timeout: 60000,
    async run(t) {
      const other = await signedIn(t, 'friend');
      const page = await signedIn(t, 'friend');
      t.monitor.allow({ kind: 'http', status: 401, why: 'the other device is signed out from here' });
      t.monitor.allow({ kind: 'console', text: /401|WebSocket/, why: 'the other device is signed out from here' });
      await page.goto('/settings');
      await page.getByTestId('session-current').waitFor();
      assert.ok(await page.getByTestId('session-other').count() >= 1, 'the other device is listed');
      const otherApi = await apiAs(other.context(), t.base);
      await page.getByTestId('sessions-others').click();
      await page.getByTestId('sessions-others-yes').click();
      await page.getByTestId('sessions-said').filter({ hasText: /Signed out of \d+ other/ }).waitFor();
      await page.getByTestId('session-other').first().waitFor({ state: 'detached' });
      assert.equal((await otherApi.get('/auth/session')).status, 401, 'the other device is signed out');

      const box = page.getByRole('checkbox', { name: /^Requests/ });
      await box.uncheck();
      await page.getByTestId('prefs-said').filter({ hasText: 'Requests notifications off' }).waitFor();
      const me = await apiAs(page.context(), t.base);
      const kinds = (await me.get('/account/notifications')).json.kinds;
      assert.equal(kinds.find((k) => k.kind === 'requests').enabled, false);
      await page.reload();
      assert.equal(await page.getByRole('checkbox', { name: /^Requests/ }).isChecked(), false, 'the choice is kept');
      await page.getByRole('checkbox', { name: /^Requests/ }).check();
      await page.getByTestId('prefs-said').filter({ hasText: 'Requests notifications on' }).waitFor();
    },
  },
];
