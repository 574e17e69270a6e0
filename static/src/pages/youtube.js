// pages/youtube.js — the youtube page. Loaded on demand (pages/index.js); until its
// feature lands it shows the route's "coming soon" notice.
import { html } from 'htm/preact';
import { ComingSoon } from '../shell.js';

export function Page({ route }) {
  return html`<${ComingSoon} route=${route} />`;
}
