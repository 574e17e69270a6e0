// spec/e2e/lib/ui.mjs — how the tests find things in MediaNest's web UI, in
// one place: roles and accessible names (what a screen-reader user hears), not
// CSS classes, so a restyle does not break the suite but a missing label does.

export const SIGN_IN_BUTTON = { role: 'button', name: /sign in with plex/i };

export const signInButton = (page) => page.getByRole('button', { name: /sign in with plex/i });
export const signOutButton = (page) => page.getByRole('button', { name: /sign out/i });
export const themeToggle = (page) => page.getByRole('button', { name: /theme|light mode|dark mode/i });
export const navLink = (page, name) => page.getByRole('navigation').getByRole('link', { name: new RegExp(`^\\s*${name}\\s*$`, 'i') });
export const adminLink = (page) => navLink(page, 'Admin');
export const pageHeading = (page, name) => page.getByRole('heading', { level: 1, name: new RegExp(name, 'i') });

// The Plex popup: click "Sign in with Plex" (the app opens the popup in the
// click handler), pick the demo user on the demo approve page, Allow. The
// popup closes itself once the PIN is approved.
export async function approveInPopup(page, user, { timeout = 15000 } = {}) {
  const [popup] = await Promise.all([
    page.waitForEvent('popup', { timeout }),
    signInButton(page).click(),
  ]);
  await popup.waitForLoadState('domcontentloaded');
  const radio = popup.locator(`input[name="user"][value="${user}"]`);
  await radio.check({ timeout });
  const allow = popup.getByRole('button', { name: 'Allow' });
  await allow.click({ timeout });
  await popup.waitForEvent('close', { timeout }).catch(async () => {
    const msg = await popup.locator('#message').textContent().catch(() => '');
    throw new Error(`the approve popup did not close after Allow (it says: ${JSON.stringify(msg)})`);
  });
  return popup;
}

// Sign in from whatever page shows the sign-in button; resolves when the app
// shows a signed-in shell (the sign-out control).
export async function signIn(page, user, { timeout = 20000 } = {}) {
  await signInButton(page).waitFor({ state: 'visible', timeout });
  await approveInPopup(page, user, { timeout });
  await signOutButton(page).first().waitFor({ state: 'visible', timeout });
}

// The session as the server sees it, using the context's cookies.
export async function session(page, base) {
  const r = await page.request.get(`${base}/api/v1/auth/session`, { failOnStatusCode: false });
  return { status: r.status(), body: r.status() === 200 ? await r.json() : null };
}

// Revoke a browser's session on the server side only: the browser keeps its
// cookie (as when a session expires or an admin disables the user), so the
// app has to notice on its own.
export async function revokeBehindTheBrowsersBack(context, base) {
  const cookies = await context.cookies(base);
  const c = cookies.find((x) => x.name === 'mn_session');
  if (!c) throw new Error('no mn_session cookie in the browser to revoke');
  const headers = { cookie: `mn_session=${c.value}`, accept: 'application/json' };
  const s = await fetch(`${base}/api/v1/auth/session`, { headers });
  if (s.status !== 200) throw new Error(`session lookup before revoke answered ${s.status}`);
  const { csrfToken } = await s.json();
  const out = await fetch(`${base}/api/v1/auth/logout`, { method: 'POST', headers: { ...headers, 'x-csrf-token': csrfToken } });
  if (out.status !== 204) throw new Error(`logout (revoke) answered ${out.status}`);
  const after = await fetch(`${base}/api/v1/auth/session`, { headers });
  if (after.status !== 401) throw new Error(`the revoked session still answers ${after.status}`);
  return c.value;
}

// Background colour of the page as [r, g, b] and its relative luminance (0..1).
export async function backdrop(page) {
  return page.evaluate(() => {
    const pick = (el) => getComputedStyle(el).backgroundColor;
    let c = pick(document.body);
    if (/rgba\(0, 0, 0, 0\)|transparent/.test(c)) c = pick(document.documentElement);
    const m = c.match(/\d+(\.\d+)?/g) || ['255', '255', '255'];
    const [r, g, b] = m.slice(0, 3).map(Number);
    const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return { color: c, luminance: 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b) };
  });
}
