// pages/admin/announcements.js — Admin › Announcements: write one (level,
// optional start and end), see those not ended (current and scheduled),
// end one now. Every signed-in user sees it at once (announcement:new).
import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { fullDate } from '../../lib/time.js';
import { useLoad, Table, Field, Confirm, Said, ErrorLine, Skeleton, Missing, fieldErrors } from './common.js';

const LEVELS = [['info', 'Info'], ['warning', 'Warning'], ['critical', 'Critical']];
// <input type=datetime-local> is local time without a zone; the API wants one
const toIso = (v) => (v ? new Date(v).toISOString() : undefined);

function state(a, now) {
  if (a.startsAt && Date.parse(a.startsAt) > now) return 'Scheduled';
  return 'Showing';
}

export function Announcements() {
  const list = useLoad('/announcements');
  const [f, setF] = useState({ message: '', level: 'info', startsAt: '', endsAt: '' });
  const [errs, setErrs] = useState({});
  const [error, setError] = useState(null);
  const [said, setSaid] = useState('');
  const [busy, setBusy] = useState(false);
  const msg = useRef(null);
  if (list.missing) return html`<${Missing} title="Announcements" what="Announcements are" />`;
  const set = (k) => (v) => setF((x) => ({ ...x, [k]: v }));
  const create = async (e) => {
    e.preventDefault();
    setBusy(true); setErrs({}); setError(null);
    try {
      await api.post('/admin/announcements', { message: f.message, level: f.level, startsAt: toIso(f.startsAt), endsAt: toIso(f.endsAt) });
      setF({ message: '', level: 'info', startsAt: '', endsAt: '' });
      setSaid('Announcement published.');
      await list.reload();
      msg.current?.focus();
    } catch (err) {
      const fe = fieldErrors(err);
      setErrs(fe);
      if (!Object.keys(fe).length) setError(err);
      else setTimeout(() => document.getElementById(`ann-${Object.keys(fe)[0]}`)?.focus(), 0);
    } finally { setBusy(false); }
  };
  const end = async (a) => {
    setError(null);
    try { await api.del(`/admin/announcements/${a.id}`); setSaid('Announcement ended.'); await list.reload(); msg.current?.focus(); } catch (err) { setError(err); }
  };
  const now = Date.now();
  const cols = [
    { title: 'Message', cell: (a) => a.message },
    { title: 'Level', cell: (a) => (LEVELS.find((l) => l[0] === a.level) || [0, a.level])[1] },
    { title: 'State', cell: (a) => state(a, now) },
    { title: 'From', cell: (a) => (a.startsAt ? fullDate(a.startsAt) : 'now') },
    { title: 'Until', cell: (a) => (a.endsAt ? fullDate(a.endsAt) : 'ended by hand') },
    { title: 'Actions', cell: (a) => html`<${Confirm} label="End" testid="announcement-end" confirmLabel="End it now"
        question="End this announcement for everyone?" onConfirm=${() => end(a)} />` },
  ];
  return html`<section aria-labelledby="ann-title">
    <h2 id="ann-title">Announcements</h2>
    <form class="stack-form" onSubmit=${create} data-testid="announcement-form" novalidate>
      <${Field} id="ann-message" label="Message" error=${errs.message}>
        <textarea id="ann-message" ref=${msg} rows="3" maxlength="1000" value=${f.message} required
          aria-invalid=${errs.message ? 'true' : undefined} aria-describedby=${errs.message ? 'ann-message-error' : undefined}
          onInput=${(e) => set('message')(e.currentTarget.value)}></textarea></${Field}>
      <${Field} id="ann-level" label="Level" error=${errs.level}>
        <select id="ann-level" value=${f.level} onChange=${(e) => set('level')(e.currentTarget.value)}>
          ${LEVELS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></${Field}>
      <div class="field-row">
        <${Field} id="ann-startsAt" label="Starts (optional)" type="datetime-local" value=${f.startsAt} error=${errs.startsAt} onInput=${set('startsAt')} />
        <${Field} id="ann-endsAt" label="Ends (optional)" type="datetime-local" value=${f.endsAt} error=${errs.endsAt} onInput=${set('endsAt')} />
      </div>
      <div class="form-actions"><button type="submit" class="btn btn-primary" disabled=${busy}>Publish</button></div>
    </form>
    <${Said} text=${said} testid="announcements-said" />
    <${ErrorLine} error=${error || list.error} />
    <h3>Not ended yet</h3>
    ${!list.data ? html`<${Skeleton} rows=${2} />` : html`<${Table} caption="Announcements not ended yet" testid="announcements" cols=${cols}
      empty="No announcements." rows=${list.data.announcements.map((a) => ({ key: a.id, item: a, testid: 'announcement-row' }))} />`}
  </section>`;
}
