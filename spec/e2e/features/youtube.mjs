// spec/e2e/features/youtube.mjs — the YouTube page in the browser: paste the
// demo playlist, preview it, download it, watch the progress move over the
// WebSocket, see it complete with its collection, and find the collection
// in the demo Plex's library. Then the quota line and an invalid URL.
import assert from 'node:assert/strict';
import { navLink, pageHeading } from '../lib/ui.mjs';
import { signedIn, noHorizontalScroll } from '../lib/flows.mjs';

// 120 videos: long enough (a few seconds) to see it running, on the fake's default speed
const PLAYLIST = 'https://www.youtube.com/playlist?list=PLdemo120';
const COUNT = 120;

export const scenarios = [
  {
    name: 'youtube: paste the demo playlist, preview, download, watch the progress, see the collection in Plex',
    timeout: 120000,
    async run(t) {
      const page = await signedIn(t, 'friend');
      await navLink(page, 'YouTube').first().click();
      await pageHeading(page, '^\\s*youtube\\s*$').waitFor({ state: 'visible' });
      await page.getByTestId('yt-quota').waitFor({ state: 'visible' });

      await page.getByLabel('YouTube address').fill(PLAYLIST);
      await page.getByTestId('yt-preview').click();
      const card = page.getByTestId('yt-preview-card');
      await card.waitFor({ state: 'visible' });
      assert.match(await card.innerText(), new RegExp(`${COUNT} videos`));
      assert.ok(await card.locator('.yt-entries li img').count() >= 10, 'the preview shows the first videos with thumbnails');
      await page.getByTestId('yt-quality').selectOption('720');
      await page.getByTestId('yt-download').click();

      const row = page.getByTestId('yt-download').first();
      await row.waitFor({ state: 'visible' });
      // running, with a moving bar: two different values seen before it ends
      const seen = new Set();
      const deadline = Date.now() + 60000;
      let status = '';
      while (Date.now() < deadline) {
        // one snapshot of the row: the bar can vanish between two locator calls
        // when the download ends, and a locator then waits for it
        const snap = await row.evaluate((el) => ({
          status: el.getAttribute('data-status'),
          value: el.querySelector('[data-testid="yt-progress"]')?.getAttribute('value') ?? null,
        }));
        status = snap.status;
        if (status === 'completed' || status === 'failed') break;
        if (snap.value !== null) {
          const v = snap.value;
          if (!seen.has(v) && Number(v) > 0 && Number(v) < 100 && ![...seen].some((x) => Number(x) > 0 && Number(x) < 100)) {
            await t.screenshot(page, 'youtube-progress');
          }
          seen.add(v);
        }
        await page.waitForTimeout(100);
      }
      assert.equal(status, 'completed', `the download ended as ${status}: ${await row.innerText()}`);
      assert.ok(seen.size >= 3, `the progress bar did not move while downloading (values seen: ${[...seen].join(', ')})`);
      assert.match(await row.getByTestId('yt-status').innerText(), /done/i);
      const collection = row.getByTestId('yt-collection');
      await collection.waitFor({ state: 'visible' });
      const title = await row.locator('h3').innerText();
      assert.match(await collection.innerText(), new RegExp(title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      // the live region said so
      await page.getByTestId('yt-announce').filter({ hasText: /downloaded/ }).waitFor({ state: 'attached' });

      // the collection is in the demo Plex's library, with every video
      const cols = await page.evaluate(async () => {
        const r = await fetch('/demo/plex/library/sections/3/collections?X-Plex-Token=demo-token-owner',
          { headers: { Accept: 'application/json' } });
        return (await r.json()).MediaContainer.Metadata.map((c) => ({ title: c.title, count: Number(c.childCount) }));
      });
      const mine = cols.find((c) => c.title === title);
      assert.ok(mine, `no collection "${title}" in the demo Plex (it has ${cols.map((c) => c.title).join(', ')})`);
      assert.equal(mine.count, COUNT);

      // ... and in MediaNest's own library view: the YouTube section's
      // collections, then the collection's page
      await page.goto('/library/3');
      const link = page.getByTestId('lib-collections').getByText(title, { exact: true }).first();
      await link.waitFor({ state: 'visible' });
      await link.click();
      await page.getByTestId('lib-collection').getByRole('heading', { level: 1, name: title }).waitFor();
      await page.goBack();
      await page.goBack();

      // the quota counts it
      assert.doesNotMatch(await page.getByTestId('yt-used').innerText(), /^0 B$/);
      await noHorizontalScroll(page);
      await t.screenshot(page, 'youtube-desktop');
    },
  },
  {
    name: 'youtube: an address that is not YouTube is refused with the reason',
    async run(t) {
      const page = await signedIn(t, 'friend');
      t.monitor.allow({ kind: 'http', status: 400, url: /\/api\/v1\/youtube\/preview/, why: 'INVALID_URL on purpose' });
      await page.goto('/youtube');
      await page.getByLabel('YouTube address').fill('https://example.com/watch?v=dQw4w9WgXcQ');
      await page.getByTestId('yt-preview').click();
      const err = page.getByTestId('yt-error');
      await err.waitFor({ state: 'visible' });
      assert.match(await err.innerText(), /not allowed/);
    },
  },
  {
    name: 'youtube: the page works on a phone (360 px) without sideways scrolling',
    async run(t) {
      const page = await signedIn(t, 'friend', { viewport: { width: 360, height: 740 } });
      await page.goto('/youtube');
      await page.getByTestId('yt-quota').waitFor({ state: 'visible' });
      // the queue, or the words for an empty one (this scenario may run alone)
      await page.locator('[data-testid=yt-queue], [data-testid=yt-empty]').first().waitFor({ state: 'visible' });
      await noHorizontalScroll(page);
      await t.screenshot(page, 'youtube-phone');
    },
  },
];
