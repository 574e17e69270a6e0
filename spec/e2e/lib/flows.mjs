// lib/flows.mjs — steps the scenarios share: signing in from the front door,
// landing on the dashboard, layout checks.
import assert from 'node:assert/strict';
import { signIn, pageHeading } from './ui.mjs';

// A signed-out app asks who it is talking to; the answer is 401.
export const SIGNED_OUT_PROBE = { kind: 'http', status: 401, url: /\/api\/v1\/auth\/session(\?|$)/, why: 'signed-out session probe' };

export const path = (page) => new URL(page.url()).pathname;

export async function onDashboard(page) {
  await pageHeading(page, '^\\s*dashboard\\s*$').waitFor({ state: 'visible' });
  assert.ok(['/', '/dashboard'].includes(path(page)), `expected the dashboard, the address is ${page.url()}`);
}

export async function visibleCount(locator) {
  let n = 0;
  for (const el of await locator.all()) if (await el.isVisible()) n++;
  return n;
}

export async function noHorizontalScroll(page) {
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, w: window.innerWidth }));
  assert.ok(m.sw <= m.w, `the page scrolls sideways: content ${m.sw}px wide in a ${m.w}px viewport`);
}

// Sign in as `user` from the app's front door, landing on the dashboard.
export async function signedIn(t, user, opts = {}) {
  t.monitor.allow(SIGNED_OUT_PROBE);
  const page = await t.newPage(opts);
  await page.goto('/');
  await signIn(page, user);
  await onDashboard(page);
  return page;
}
