// pages/admin.js — the admin area (/admin/<section>, admins only: the app
// shows "Administrators only" to others and the API answers them 403).
// A list of sections (a row of links, scrolling sideways on phones) and the
// section the address names; each section is its own module in
// pages/admin/, all in this chunk, loaded only when an admin visits.
import { html } from 'htm/preact';
import { Users } from './admin/users.js';
import { Services } from './admin/services.js';
import { Monitors } from './admin/monitors.js';
import { Announcements } from './admin/announcements.js';
import { Requests } from './admin/requests.js';
import { Downloads } from './admin/downloads.js';
import { Runtime } from './admin/runtime.js';
import { Rum } from './admin/rum.js';
import { Errors } from './admin/errors.js';

export const SECTIONS = [
  { key: 'users', title: 'Users', view: Users },
  { key: 'services', title: 'Services', view: Services },
  { key: 'monitors', title: 'Monitors', view: Monitors },
  { key: 'announcements', title: 'Announcements', view: Announcements },
  { key: 'requests', title: 'Requests', view: Requests },
  { key: 'downloads', title: 'Downloads', view: Downloads },
  { key: 'runtime', title: 'Runtime', view: Runtime },
  { key: 'experience', title: 'Experience', view: Rum },
  { key: 'errors', title: 'Errors', view: Errors },
];

function current() {
  const key = location.pathname.split('/')[2] || 'users';
  return SECTIONS.find((s) => s.key === key) || null;
}

export function Page({ route, user }) {
  const s = current();
  return html`<section class="page admin" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">${route.title}</h1></div>
    <nav class="subnav" aria-label="Admin sections"><ul>
      ${SECTIONS.map((x) => html`<li><a href=${`/admin/${x.key}`} aria-current=${s === x ? 'page' : undefined}
        data-testid=${`admin-${x.key}`}>${x.title}</a></li>`)}</ul></nav>
    <div class="admin-body">
      ${s ? html`<${s.view} user=${user} key=${s.key} />`
        : html`<p role="alert">There is no admin section here. <a href="/admin">Go to Users</a>.</p>`}
    </div>
  </section>`;
}
