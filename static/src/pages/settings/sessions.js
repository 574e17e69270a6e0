// pages/settings/sessions.js — where the user is signed in: this device and
// the others (created, last used), sign one out, or every other at once.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { ago, fullDate } from '../../lib/time.js';
import { useLoad, Table, Confirm, Said, ErrorLine, Skeleton, Missing } from '../admin/common.js';

const when = (t) => (t ? html`<time datetime=${t} title=${fullDate(t)}>${ago(t)}</time>` : '—');

export function Sessions() {
  const list = useLoad('/account/sessions');
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  if (list.missing) return html`<${Missing} title="Sessions" what="Session management is" />`;
  const end = async (s) => {
    setError(null);
    try { await api.del(`/account/sessions/${s.id}`); setSaid('That session is signed out.'); await list.reload(); } catch (e) { setError(e); }
  };
  const others = async () => {
    setError(null);
    try {
      const r = await api.post('/account/sessions/revoke-others', {});
      await list.reload();
      setSaid(r.revoked ? `Signed out of ${r.revoked} other ${r.revoked === 1 ? 'session' : 'sessions'}.` : 'No other sessions.');
    } catch (e) { setError(e); }
  };
  const rows = list.data ? list.data.sessions : [];
  const cols = [
    { title: 'Session', cell: (s) => (s.current ? html`<strong>This device</strong>` : 'Another device') },
    { title: 'Signed in', cell: (s) => when(s.createdAt) },
    { title: 'Last used', cell: (s) => when(s.lastUsedAt) },
    { title: 'Actions', cell: (s) => (s.current ? html`<span class="muted">In use</span>` : html`<${Confirm} label="Sign out"
        question="Sign this session out?" onConfirm=${() => end(s)} testid="session-end" />`) },
  ];
  return html`<section class="settings-block" aria-labelledby="sessions-title">
    <h2 id="sessions-title">Sessions</h2>
    <${Said} text=${said} testid="sessions-said" />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data ? html`<${Skeleton} rows=${2} />` : html`<${Table} caption="Where you are signed in" testid="sessions" cols=${cols}
      empty="No sessions." rows=${rows.map((s) => ({ key: s.id, item: s, testid: s.current ? 'session-current' : 'session-other' }))} />`}
    ${rows.length > 1 ? html`<${Confirm} label="Sign out everywhere else" small=${false} testid="sessions-others"
      question="Sign out every other session? This one stays." confirmLabel="Sign them out" onConfirm=${others} />` : null}
  </section>`;
}
