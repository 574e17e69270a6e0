// main.js — the entry point: starts reporting uncaught errors, renders the
// app, starts the router, registers the service worker and, once the page
// has loaded, starts web-vitals.
import { html } from 'htm/preact';
import { render } from 'preact';
import { App } from './app.js';
import { startRouter } from './lib/router.js';
import { startVitals } from './lib/vitals.js';
import { startErrorReports } from './lib/errors.js';

startErrorReports();

startRouter();
const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);

function afterLoad(fn) {
  if (document.readyState === 'complete') setTimeout(fn, 0);
  else addEventListener('load', () => setTimeout(fn, 0), { once: true });
}

afterLoad(() => {
  startVitals().catch((e) => console.warn('web-vitals unavailable', e));
  if ('serviceWorker' in navigator && location.protocol !== 'file:') {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e) => console.warn('service worker not registered', e));
  }
});
