#!/usr/bin/env node
// spec/e2e/screenshots.mjs — the screenshots in docs/screenshots/: the sign-in
// page, the signed-in shell (the owner's dashboard as it first appears) and
// the dashboard with something to show (a demo Kuma monitor down, an
// announcement, the admin's notifications; then the bell's list open), the
// admin area's sections (users, services after a test, runtime, experience,
// errors) and the settings page with a new token, on a phone and on a
// desktop screen, dark theme. Run by scripts/screenshots, which
// starts a fresh server (E2E_BASE_URL, E2E_SETUP_URL).
//   node screenshots.mjs OUTDIR
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launch, env } from './lib/browser.mjs';
import { signIn, signInButton } from './lib/ui.mjs';
import { apiAs, demo, eventually } from './lib/api.mjs';

const outDir = resolve(process.argv[2] || 'docs/screenshots');
mkdirSync(outDir, { recursive: true });
const E = env();
const SIZES = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 },
};

// The admin area and the settings page. A client error is thrown first
// (for Errors) and the pages visited before send their web-vitals (for
// Experience) as they are left.
async function adminShots(page, shot) {
  await page.evaluate(() => setTimeout(() => { throw new TypeError("Cannot read properties of undefined (reading 'poster')"); }, 0));
  await page.goto(E.base + '/library');
  await page.getByRole('heading', { level: 1, name: 'Library' }).waitFor();
  await page.goto(E.base + '/admin/users');
  await page.getByTestId('users').waitFor();
  await shot('admin-users');
  await page.getByTestId('admin-services').click();
  const ov = page.getByTestId('service-overseerr');
  await ov.getByTestId('service-test').click();
  await ov.getByTestId('test-result').waitFor();
  await ov.scrollIntoViewIfNeeded();
  await shot('admin-services');
  await page.getByTestId('admin-runtime').click();
  await page.getByTestId('plugins').waitFor();
  await page.getByTestId('generations').waitFor();
  await shot('admin-runtime');
  const admin = await apiAs(page.context(), E.base);
  await eventually(async () => (await admin.get('/admin/rum')).json.pages.length > 0, { timeout: 15000, what: 'RUM samples' });
  await page.getByTestId('admin-experience').click();
  await page.locator('[data-testid=rum-page]').first().waitFor();
  await shot('admin-experience');
  await page.getByTestId('admin-errors').click();
  await page.getByTestId('error-group').first().waitFor();
  await shot('admin-errors');
  await page.goto(E.base + '/settings');
  await page.getByLabel('Token name').fill('Home Assistant');
  await page.getByTestId('token-create').click();
  await page.getByTestId('token-created').waitFor();
  await shot('settings');
}

const browser = await launch();
try {
  // Claim the fresh install through the setup link, so "owner" is the admin.
  if (E.setupUrl) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(E.setupUrl);
    await signIn(page, 'owner');
    await ctx.close();
  }
  let staged = false;
  // Something to show: the NAS down (long enough for the admin to be told)
  // and an announcement.
  const stage = async (ctx, page) => {
    if (staged) return;
    staged = true;
    const admin = await apiAs(ctx, E.base);
    await admin.post('/admin/announcements', { message: 'Plex maintenance on Sunday, 02:00–03:00 UTC: playback may stop for a few minutes.', level: 'warning' });
    await demo(E.base, 'kuma/_control/monitors/4', { status: 0, msg: 'No answer to ping for 60 s' });
    await eventually(async () => /[1-9]\d* unread/.test(await page.getByTestId('bell').getAttribute('aria-label')),
      { timeout: 60000, what: 'the admin notified of the NAS being down' });
  };
  for (const [size, opts] of Object.entries(SIZES)) {
    const ctx = await browser.newContext({ ...opts, colorScheme: 'dark', reducedMotion: 'reduce' });
    ctx.setDefaultTimeout(15000);
    const page = await ctx.newPage();
    const shot = async (name) => {
      await page.waitForLoadState('networkidle').catch(() => {});
      await page.evaluate(() => document.fonts.ready);
      const path = join(outDir, `${name}-${size}.png`);
      await page.screenshot({ path, animations: 'disabled', caret: 'hide' });
      console.log(`screenshots: ${path}`);
    };
    await page.goto(E.base + '/');
    await signInButton(page).waitFor({ state: 'visible' });
    await shot('signin');
    await signIn(page, 'owner');
    await shot('shell');
    await stage(ctx, page);
    await page.reload();
    await page.locator('[data-testid=service][data-status=down]').first().waitFor();
    await shot('dashboard');
    await page.getByTestId('bell').click();
    await page.getByTestId('bell-panel').waitFor();
    await shot('notifications');
    await page.keyboard.press('Escape');
    await adminShots(page, shot);
    await ctx.close();
  }
} finally {
  await browser.close();
}
