// routes.js — the app's pages. `soon` says what a page is waiting for; the
// feature work replaces it with the page. `feature` names the entry of
// GET /dashboard/status's `features` the page needs: while it is
// unavailable the navigation greys the item out and the page says why.
// Page keys (the first path segment) label web-vitals; the RUM endpoint
// accepts exactly these.
export const ROUTES = [
  { path: '/', key: 'dashboard', title: 'Dashboard', icon: 'home' },
  { path: '/library', key: 'library', title: 'Library', icon: 'film', feature: 'library' },
  { path: '/requests', key: 'requests', title: 'Requests', icon: 'inbox', feature: 'requests' },
  { path: '/youtube', key: 'youtube', title: 'YouTube', icon: 'download', feature: 'youtube' },
  { path: '/admin', key: 'admin', title: 'Admin', icon: 'shield', admin: true },
  // in the user menu (shell.js), not the main navigation
  { path: '/settings', key: 'settings', title: 'Settings', icon: 'gear', menu: true },
];

// One list for the UI and the RUM endpoint (plugins/rum/pages.lua reads the
// same file); spec/e2e checks the server accepts each of these as itself.
import PAGE_KEYS from './page-keys.json';
export { PAGE_KEYS };

export function findRoute(pathname) {
  if (pathname === '/' || pathname === '') return ROUTES[0];
  return ROUTES.find((r) => r.path !== '/' && (pathname === r.path || pathname.startsWith(r.path + '/'))) || null;
}

export function pageKey(pathname) {
  const first = '/' + (pathname.split('/')[1] || '');
  return PAGE_KEYS.includes(first) ? first : 'other';
}
