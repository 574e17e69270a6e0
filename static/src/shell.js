// shell.js — the signed-in frame: top bar (brand, connection indicator,
// theme switch, the user and sign-out), the main navigation (a sidebar on
// wide screens, a bottom bar on phones; Admin only for admins) and the page.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import { useStore } from './lib/store.js';
import { theme, toggleTheme } from './lib/theme.js';
import { state as wsState } from './lib/ws.js';
import { signOut } from './lib/session.js';
import { ROUTES } from './routes.js';
import { Icon, Logo } from './icons.js';

export function ThemeToggle() {
  const t = useStore(theme);
  const next = t === 'dark' ? 'light' : 'dark';
  return html`<button type="button" class="btn btn-icon" data-testid="theme-toggle" data-theme-now=${t}
      aria-label=${`Switch to ${next} theme`} title=${`Switch to ${next} theme`} onClick=${toggleTheme}>
    <${Icon} name=${t === 'dark' ? 'sun' : 'moon'} /></button>`;
}

const CONN_TEXT = { online: 'Live', connecting: 'Connecting…', offline: 'Offline' };

function Connection() {
  const s = useStore(wsState);
  return html`<div class="conn" role="status" data-testid="connection" data-state=${s}
      title=${`Live updates: ${CONN_TEXT[s].toLowerCase()}`}>
    <span class="conn-text">${CONN_TEXT[s]}</span></div>`;
}

function initials(name) {
  return (name || '?').trim().slice(0, 2).toUpperCase();
}

function TopBar({ user }) {
  return html`<header class="topbar">
    <a class="brand" href="/" aria-label="MediaNest, dashboard">
      <${Logo} size=${32} cls="brand-mark" />
      <span class="brand-name">MediaNest</span></a>
    <span class="spacer"></span>
    <${Connection} />
    <${ThemeToggle} />
    <div class="user" data-testid="user-menu">
      <span class="avatar" aria-hidden="true">${initials(user.username)}</span>
      <span class="user-name" data-testid="user-name">${user.username}</span>
      ${user.role === 'admin' ? html`<span class="badge" data-testid="user-role">admin</span>` : null}
    </div>
    <button type="button" class="btn btn-small" data-testid="sign-out" onClick=${signOut}>
      <${Icon} name="out" /><span class="signout-text">Sign out</span></button>
  </header>`;
}

function Nav({ user, current }) {
  const items = ROUTES.filter((r) => !r.admin || user.role === 'admin');
  return html`<nav class="nav" aria-label="Main">
    <ul>${items.map((r) => html`<li key=${r.key}>
      <a href=${r.path} data-testid=${`nav-${r.key}`} aria-current=${current && current.key === r.key ? 'page' : undefined}>
        <${Icon} name=${r.icon} /><span>${r.title}</span></a></li>`)}</ul>
  </nav>`;
}

// A page whose feature has not landed: it says so, and shows nothing made up.
export function ComingSoon({ route }) {
  return html`<section class="page" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">${route.title}</h1></div>
    <div class="notice" data-testid="coming-soon"><p>${route.soon}</p><p class="muted">Nothing to show here yet.</p></div>
  </section>`;
}

export function Forbidden() {
  return html`<section class="page" aria-labelledby="page-title">
    <h1 id="page-title" tabindex="-1">Administrators only</h1>
    <div class="alert" role="alert" data-testid="forbidden"><p>This page is for MediaNest's administrators.</p></div>
  </section>`;
}

export function NotFound() {
  return html`<section class="page" aria-labelledby="page-title">
    <h1 id="page-title" tabindex="-1">Page not found</h1>
    <p>There is no page at this address. <a href="/">Go to the dashboard</a>.</p>
  </section>`;
}

export function Shell({ user, current, children }) {
  const first = useRef(true);
  const path = location.pathname;
  useEffect(() => {
    document.title = `${current ? current.title : 'Not found'} · MediaNest`;
    // Move focus to the new page's heading on navigation (not on first load).
    if (first.current) { first.current = false; return; }
    const h = document.getElementById('page-title');
    if (h) h.focus();
  }, [path]);
  return html`<a class="skip btn" href="#main" data-native>Skip to content</a>
    <${TopBar} user=${user} />
    <div class="layout">
      <${Nav} user=${user} current=${current} />
      <main class="main" id="main" tabindex="-1">${children}</main>
    </div>`;
}
