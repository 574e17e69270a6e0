// lib/router.js — client-side routing on the History API. The server answers
// index.html for any non-API path, so every route is also a real URL.
// Same-origin <a href="/..."> clicks are intercepted (unless modified or
// targeted elsewhere); navigate(path) pushes, navigate(path, {replace}) replaces.
import { store } from './store.js';

const here = () => location.pathname + location.search;
export const route = store(here());

export function navigate(to, { replace = false } = {}) {
  if (to === here()) { route.set(to); return; }
  history[replace ? 'replaceState' : 'pushState'](null, '', to);
  route.set(here());
}

export function currentPath() { return location.pathname; }

// A "return to" target must be a same-origin relative path (not "//host").
export function safeNext(v) {
  if (typeof v !== 'string' || !/^\/(?![/\\])/.test(v)) return '/';
  if (/^\/(signin|setup)(\/|\?|$)/.test(v)) return '/';
  return v;
}

export function startRouter() {
  addEventListener('popstate', () => route.set(here()));
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download') || a.dataset.native !== undefined) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/demo/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
