// pages/settings.js — personal settings (/settings, every signed-in user):
// the profile as Plex gives it (name, avatar, e-mail), the theme, personal
// API tokens, sessions and notification preferences (pages/settings/*.js).
import { html } from 'htm/preact';
import { useStore } from '../lib/store.js';
import { theme, setTheme } from '../lib/theme.js';
import { Tokens } from './settings/tokens.js';
import { Sessions } from './settings/sessions.js';
import { NotificationPrefs } from './settings/notifications.js';

function Profile({ user }) {
  return html`<section class="settings-block" aria-labelledby="profile-title">
    <h2 id="profile-title">Profile</h2>
    <div class="profile">
      ${user.thumb ? html`<img class="profile-avatar" src=${`/api/v1/images/avatar/${user.id}`} alt="" width="64" height="64" />`
        : html`<span class="avatar profile-avatar" aria-hidden="true">${(user.username || '?').slice(0, 2).toUpperCase()}</span>`}
      <dl><div><dt>Name</dt><dd data-testid="profile-name">${user.username}</dd></div>
        ${user.email ? html`<div><dt>E-mail</dt><dd>${user.email}</dd></div>` : null}
        <div><dt>Role</dt><dd>${user.role === 'admin' ? 'Administrator' : 'User'}</dd></div></dl>
    </div>
    <p class="muted small">Your name and picture come from your Plex account; change them on plex.tv and they follow at your next sign-in.</p>
  </section>`;
}

function Theme() {
  const t = useStore(theme);
  return html`<section class="settings-block" aria-labelledby="theme-title">
    <h2 id="theme-title">Theme</h2>
    <fieldset class="segmented"><legend class="sr-only">Theme</legend>
      ${[['dark', 'Dark'], ['light', 'Light']].map(([v, l]) => html`<label>
        <input type="radio" name="theme" value=${v} checked=${t === v} onChange=${() => setTheme(v)} /> ${l}</label>`)}
    </fieldset>
    <p class="muted small">Remembered on this device.</p>
  </section>`;
}

export function Page({ route, user }) {
  return html`<section class="page settings" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">${route.title}</h1></div>
    <${Profile} user=${user} />
    <${Theme} />
    <${NotificationPrefs} />
    <${Tokens} />
    <${Sessions} />
  </section>`;
}
