// pages/settings/notifications.js — which kinds of in-app notification the
// user gets (GET/PUT /account/notifications): a checkbox per kind, saved at
// once; nest.notify skips a muted kind from then on.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { useLoad, Said, ErrorLine, Skeleton, Missing } from '../admin/common.js';

const WORDS = {
  services: ['Service status', 'A service going down or coming back (sent to administrators)'],
  requests: ['Requests', 'Your requests, and those you follow, becoming available, declined or failing'],
  downloads: ['Downloads', 'Your YouTube downloads finishing or failing'],
};

export function NotificationPrefs() {
  const prefs = useLoad('/account/notifications');
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  if (prefs.missing) return html`<${Missing} title="Notifications" what="Notification preferences are" />`;
  const toggle = async (kind, on) => {
    setError(null);
    const muted = prefs.data.kinds.filter((k) => (k.kind === kind ? !on : !k.enabled)).map((k) => k.kind);
    try {
      prefs.set(await api.put('/account/notifications', { muted }));
      setSaid(`${(WORDS[kind] || [kind])[0]} notifications ${on ? 'on' : 'off'}.`);
    } catch (e) { setError(e); }
  };
  return html`<section class="settings-block" aria-labelledby="prefs-title">
    <h2 id="prefs-title">Notifications</h2>
    ${!prefs.data ? html`<${Skeleton} rows=${3} />` : html`<fieldset class="checks"><legend>Tell me in the app about</legend>
      ${prefs.data.kinds.map((k) => html`<div class="field field-check">
        <label for=${`pref-${k.kind}`}>${(WORDS[k.kind] || [k.kind])[0]}<span class="hint">${(WORDS[k.kind] || [0, ''])[1]}</span></label>
        <input id=${`pref-${k.kind}`} type="checkbox" checked=${k.enabled} onChange=${(e) => toggle(k.kind, e.currentTarget.checked)} /></div>`)}
    </fieldset>`}
    <${Said} text=${said} testid="prefs-said" />
    <${ErrorLine} error=${error || prefs.error} />
  </section>`;
}
