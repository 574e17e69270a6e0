// spec/e2e/features/requests.mjs — the requests page in a real browser
// against `serve --demo`: the friend searches "matrix", requests The Matrix
// Reloaded, the owner follows that request, the demo Overseerr approves it
// and makes it available (its control API; its real webhook sender tells
// MediaNest), and both see it turn "Available" live and the notification
// arrive, without a reload.
import assert from 'node:assert/strict';
import { signedIn, noHorizontalScroll } from '../lib/flows.mjs';

const KEY = 'demo-overseerr-key';

async function overseerr(t, path, opts = {}) {
  const res = await fetch(`${t.base}/demo/overseerr${path}`, {
    ...opts, headers: { 'X-Api-Key': KEY, 'Content-Type': 'application/json', ...(opts.headers || {}) },
  });
  assert.ok(res.ok, `demo Overseerr ${path}: ${res.status}`);
  return res.json();
}

async function openTitle(page, q, testid) {
  await page.goto(`/requests?tab=search&q=${encodeURIComponent(q)}`);
  await page.getByTestId('results').waitFor({ state: 'visible' });
  await page.getByTestId(testid).click();
  await page.getByTestId('detail').waitFor({ state: 'visible' });
}

export const scenarios = [
  {
    name: 'requests: search "matrix", request it, the owner follows, approval and availability arrive live for both',
    timeout: 90000,
    async run(t) {
      const friend = await signedIn(t, 'friend');
      await friend.getByRole('link', { name: /^\s*requests\s*$/i }).first().click();
      await friend.getByTestId('request-search').fill('matrix');
      await friend.getByTestId('request-search').press('Enter');
      await friend.getByTestId('results').waitFor({ state: 'visible' });
      const matrix = friend.getByTestId('result-movie-603');
      assert.match(await matrix.getByTestId('availability').innerText(), /available/i,
        'The Matrix is in Plex: its badge should say so in words');
      await noHorizontalScroll(friend);
      await t.screenshot(friend, 'requests-search');

      // request the sequel
      await friend.getByTestId('result-movie-604').click();
      await friend.getByTestId('request-button').click();
      await friend.getByTestId('detail-done').waitFor({ state: 'visible' });
      assert.match(await friend.getByTestId('detail-availability').innerText(), /requested/i);
      await friend.keyboard.press('Escape');
      await friend.getByTestId('tab-mine').click();
      const row = friend.getByTestId('list-mine').locator('li', { hasText: 'The Matrix Reloaded' });
      await row.getByTestId('request-status').filter({ hasText: /pending/i }).waitFor();

      // the owner finds it requested and follows it
      const owner = await signedIn(t, 'owner');
      await openTitle(owner, 'matrix', 'result-movie-604');
      await owner.getByTestId('follow-button').click();
      await owner.getByTestId('detail-done').filter({ hasText: /following/i }).waitFor();

      // the demo Overseerr approves it, then it becomes available
      const list = await overseerr(t, '/api/v1/request?take=20&sort=added');
      const req = list.results.find((r) => r.media && r.media.tmdbId === 604);
      assert.ok(req, 'the request reached the demo Overseerr');
      assert.equal(req.requestedBy.plexUsername, 'friend', 'the request was made in Overseerr as the friend');
      await overseerr(t, `/_control/requests/${req.id}`, { method: 'POST', body: JSON.stringify({ status: 'approved' }) });
      await row.getByTestId('request-status').filter({ hasText: /approved/i }).waitFor({ timeout: 15000 });
      await overseerr(t, `/_control/requests/${req.id}`, { method: 'POST', body: JSON.stringify({ status: 'available' }) });
      await row.getByTestId('request-status').filter({ hasText: /^available$/i }).waitFor({ timeout: 15000 });
      for (const page of [friend, owner]) {
        await page.getByTestId('request-announce').filter({ hasText: /matrix reloaded is available/i })
          .waitFor({ timeout: 15000 });
      }
      // the history says when each step happened
      await row.getByRole('button', { name: /history/i }).click();
      await row.getByTestId('timeline').locator('li').nth(2).waitFor();
      const steps = await row.getByTestId('timeline').locator('li').allInnerTexts();
      assert.ok(steps.length >= 3, `expected pending, approved, available in the history, got ${steps.join(' | ')}`);
      await owner.keyboard.press('Escape');
      await owner.getByTestId('detail').waitFor({ state: 'detached' });
      await owner.getByTestId('tab-following').click();
      await owner.getByTestId('list-following').locator('li', { hasText: 'The Matrix Reloaded' })
        .getByTestId('request-status').filter({ hasText: /^available$/i }).waitFor();
      await t.screenshot(friend, 'requests-my-requests');
    },
  },
  {
    name: 'requests: asking for a title someone has just requested offers to follow it instead, on a phone',
    async run(t) {
      t.monitor.allow({ kind: 'http', status: 409, url: /\/api\/v1\/media\/request$/, why: 'already requested' });
      // the friend has the title open while the owner requests it
      const friend = await signedIn(t, 'friend', { viewport: { width: 320, height: 640 } });
      await openTitle(friend, 'revolutions', 'result-movie-605');
      await friend.getByTestId('request-button').waitFor();
      const owner = await signedIn(t, 'owner');
      await openTitle(owner, 'revolutions', 'result-movie-605');
      await owner.getByTestId('request-button').click();
      await owner.getByTestId('detail-done').waitFor();
      // the friend's request is refused in words, with the way out offered
      await friend.getByTestId('request-button').click();
      const err = friend.getByTestId('detail-error');
      await err.waitFor();
      assert.match(await err.innerText(), /already been requested/i);
      await friend.getByTestId('follow-instead').click();
      await friend.getByTestId('detail-done').filter({ hasText: /following/i }).waitFor();
      await noHorizontalScroll(friend);
      await t.screenshot(friend, 'requests-detail-phone');
    },
  },
];
