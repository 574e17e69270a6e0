// shell.js — the signed-in frame: top bar (brand, connection indicator,
// notification bell, theme switch, the user and sign-out), the main
// navigation (a sidebar on wide screens, a bottom bar on phones; Admin only
// for admins; a feature that is unavailable greyed out with the reason), the
// announcements banner and the page. While it is mounted (signed in) it keeps
// the live stores running: status, notifications, announcements.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useStore } from './lib/store.js';
import { theme, toggleTheme } from './lib/theme.js';
import { state as wsState } from './lib/ws.js';
import { signOut } from './lib/session.js';
import { safeNext } from './lib/router.js';
import { status, feature, startStatus, stopStatus } from './lib/status.js';
import { notices, arrived, startNotifications, stopNotifications, loadOlder, markRead, markAllRead } from './lib/notifications.js';
import { shown, startAnnouncements, stopAnnouncements, dismiss } from './lib/announcements.js';
import { describe } from './lib/api.js';
import { ago, fullDate } from './lib/time.js';
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

function BellIcon() {
  return html`<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"
    stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0" /></svg>`;
}

const bellLabel = (n) => `Notifications, ${n ? `${n} unread` : 'none unread'}`;

function NoticeItem({ n, close, fail }) {
  // only a same-origin path is followed (never javascript: or another site)
  const link = n.link && safeNext(n.link) === n.link ? n.link : null;
  const item = useRef(null);
  // the "Mark read" button goes away: focus stays on the item, not the page
  const read = (e) => markRead([n.id]).then(() => e && item.current && item.current.focus(), fail);
  const follow = () => { if (!n.read) read(); close(false); };
  return html`<li class="note" ref=${item} tabindex="-1" data-testid="notification" data-read=${String(!!n.read)} data-type=${n.type}>
    <p class="note-title">${n.read ? null : html`<span class="note-dot" aria-hidden="true"></span><span class="sr-only">Unread: </span>`}
      ${link ? html`<a href=${link} onClick=${follow}>${n.title}</a>` : n.title}</p>
    ${n.body ? html`<p class="note-body">${n.body}</p>` : null}
    <p class="note-meta"><time datetime=${n.createdAt} title=${fullDate(n.createdAt)}>${ago(n.createdAt)}</time>
      ${n.read ? null : html`<button type="button" class="link-btn" onClick=${read}
        aria-label=${`Mark “${n.title}” read`}>Mark read</button>`}</p>
  </li>`;
}

function BellPanel({ n, close }) {
  const head = useRef(null);
  const [error, setError] = useState(null);
  const fail = (e) => setError(e);
  useEffect(() => { head.current && head.current.focus(); }, []);
  return html`<div class="bell-panel" id="bell-panel" role="dialog" aria-labelledby="bell-title" data-testid="bell-panel">
    <div class="bell-head">
      <h2 id="bell-title" tabindex="-1" ref=${head}>Notifications</h2>
      <button type="button" class="btn btn-small" data-testid="mark-all-read" aria-disabled=${n.unread ? undefined : 'true'}
        onClick=${() => n.unread && markAllRead().catch(fail)}>Mark all read</button>
    </div>
    ${error || n.error ? html`<p class="alert" role="alert">${describe(error || n.error)}</p>` : null}
    ${n.items.length
      ? html`<ul class="notes">${n.items.map((x) => html`<${NoticeItem} key=${x.id} n=${x} close=${close} fail=${fail} />`)}</ul>`
      : html`<p class="muted bell-empty">${n.loaded ? 'Nothing yet. You will see service alerts, requests and downloads here.' : 'Loading…'}</p>`}
    ${n.nextBefore != null ? html`<button type="button" class="btn btn-small bell-more" onClick=${() => loadOlder().catch(fail)}>Older</button>` : null}
  </div>`;
}

// The bell: a button with the unread count in its name, opening the list
// (Escape or a click outside closes it; focus goes back to the button), and
// a polite live region announcing what arrives.
function Bell() {
  const n = useStore(notices);
  const last = useStore(arrived);
  const [open, setOpen] = useState(false);
  const box = useRef(null), btn = useRef(null);
  // each arrival changes the live region, even with the same title as the last
  const seen = useRef({ last: null, n: 0 });
  if (last !== seen.current.last) seen.current = { last, n: seen.current.n + 1 };
  const close = (refocus) => { setOpen(false); if (refocus && btn.current) btn.current.focus(); };
  useEffect(() => {
    if (!open) return undefined;
    const outside = (e) => { if (box.current && !box.current.contains(e.target)) setOpen(false); };
    // on the document: Escape works even when focus fell out of the list
    const escape = (e) => { if (e.key === 'Escape') close(true); };
    document.addEventListener('pointerdown', outside);
    document.addEventListener('keydown', escape);
    return () => { document.removeEventListener('pointerdown', outside); document.removeEventListener('keydown', escape); };
  }, [open]);
  const onFocusOut = (e) => { if (open && e.relatedTarget && !box.current.contains(e.relatedTarget)) setOpen(false); };
  return html`<div class="bell" ref=${box} onFocusOut=${onFocusOut}>
    <button type="button" class="btn btn-icon bell-btn" ref=${btn} data-testid="bell" data-unread=${n.unread}
        aria-label=${bellLabel(n.unread)} aria-expanded=${open ? 'true' : 'false'} aria-controls=${open ? 'bell-panel' : undefined}
        onClick=${() => setOpen(!open)}>
      <${BellIcon} />${n.unread ? html`<span class="bell-count" aria-hidden="true">${n.unread > 99 ? '99+' : n.unread}</span>` : null}
    </button>
    ${open ? html`<${BellPanel} n=${n} close=${close} />` : null}
    <div class="sr-only" role="status" aria-live="polite" data-testid="bell-live">${last ? `New notification: ${last.title}${seen.current.n % 2 ? '' : '\u00a0'}` : ''}</div>
  </div>`;
}

function TopBar({ user }) {
  return html`<header class="topbar">
    <a class="brand" href="/" aria-label="MediaNest, dashboard">
      <${Logo} size=${32} cls="brand-mark" />
      <span class="brand-name">MediaNest</span></a>
    <span class="spacer"></span>
    <${Connection} />
    <${Bell} />
    <${ThemeToggle} />
    <div class="user" data-testid="user-menu">
      <span class="avatar" aria-hidden="true">${initials(user.username)}</span>
      <span class="user-name" data-testid="user-name">${user.username}</span>
      ${user.role === 'admin' ? html`<span class="badge" data-testid="user-role">admin</span>` : null}
      <a class="btn btn-icon settings-link" href="/settings" data-testid="settings-link" aria-label="Settings" title="Settings">
        <${Icon} name="gear" /></a>
    </div>
    <button type="button" class="btn btn-small" data-testid="sign-out" onClick=${signOut}>
      <${Icon} name="out" /><span class="signout-text">Sign out</span></button>
  </header>`;
}

// A navigation item; while its feature is unavailable it stays focusable
// (so the reason can be read) but does not navigate: the reason shows as a
// tooltip on hover and focus and is the link's description.
function NavItem({ r, current, f }) {
  const off = !!f && !f.available;
  const tip = `nav-why-${r.key}`;
  return html`<li class=${off ? 'nav-off' : undefined}>
    <a href=${r.path} data-testid=${`nav-${r.key}`} aria-current=${current && current.key === r.key ? 'page' : undefined}
        aria-disabled=${off ? 'true' : undefined} aria-describedby=${off ? tip : undefined}
        onClick=${off ? (e) => e.preventDefault() : undefined}>
      <${Icon} name=${r.icon} /><span>${r.title}</span></a>
    ${off ? html`<span class="nav-tip" role="tooltip" id=${tip} data-testid=${`nav-why-${r.key}`}>${unavailableText(r, f)}</span>` : null}
  </li>`;
}

export function unavailableText(r, f) {
  return `${r.title} is unavailable: ${f.reason || 'the service it needs is not answering'}.`.replace(/\.\.$/, '.');
}

function Nav({ user, current }) {
  const items = ROUTES.filter((r) => !r.menu && (!r.admin || user.role === 'admin'));
  const st = useStore(status);
  return html`<nav class="nav" aria-label="Main">
    <ul>${items.map((r) => html`<${NavItem} key=${r.key} r=${r} current=${current} f=${r.feature ? feature(st, r.feature) : null} />`)}</ul>
  </nav>`;
}

const LEVEL = { info: 'Info', warning: 'Warning', critical: 'Critical' };

// The admins' announcements, above every page; text only.
function Announcements() {
  const list = useStore(shown);
  return html`<div class="banners" aria-live="polite" data-testid="announcements">${list.map((a) => html`
    <div class="banner" key=${a.id} data-level=${a.level} data-testid="announcement">
      <strong class="banner-level">${LEVEL[a.level] || 'Info'}</strong>
      <p class="banner-text">${a.message}</p>
      ${a.level === 'critical' ? null : html`<button type="button" class="btn btn-icon btn-small banner-close"
        aria-label="Dismiss this announcement" onClick=${() => dismiss(a.id)}>✕</button>`}
    </div>`)}</div>`;
}

// The live stores run while someone is signed in; signing out (the shell
// unmounts) stops them and forgets what they held.
function useLive(user) {
  useEffect(() => {
    startStatus(user);
    startNotifications();
    startAnnouncements();
    return () => { stopStatus(); stopNotifications(); stopAnnouncements(); };
  }, [user.id, user.role]);
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
  useLive(user);
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
      <main class="main" id="main" tabindex="-1"><${Announcements} />${children}</main>
    </div>`;
}
