// pages/admin/errors.js — Admin › Errors: the browsers' error reports,
// grouped by fingerprint (message + top frame), last seen first: how often,
// since when, on which pages and browsers, the stack; "Dealt with" forgets a
// group (a new occurrence brings it back).
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { ago, fullDate } from '../../lib/time.js';
import { useLoad, Confirm, Said, ErrorLine, Skeleton, Missing, Pager } from './common.js';

export function Errors() {
  const [page, setPage] = useState(1);
  const list = useLoad(`/admin/errors?perPage=25&page=${page}`);
  const [said, setSaid] = useState('');
  const [error, setError] = useState(null);
  if (list.missing) return html`<${Missing} title="Errors" what="Error reports are" />`;
  const forget = async (e) => {
    try { await api.del(`/admin/errors/${e.id}`); setSaid('Forgotten.'); await list.reload(); } catch (err) { setError(err); }
  };
  const items = list.data ? list.data.errors : [];
  return html`<section aria-labelledby="errors-title">
    <h2 id="errors-title">Errors</h2>
    <p class="muted">Errors people's browsers reported, grouped: the same message at the same place is one line.</p>
    <${Said} text=${said} testid="errors-said" />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data ? html`<${Skeleton} />` : !items.length ? html`<p class="muted" data-testid="errors-empty">No errors reported. </p>` : html`
      <ul class="error-list" data-testid="errors">${items.map((e) => html`<li key=${e.id} class="error-item" data-testid="error-group">
        <p class="error-msg"><strong>${e.message}</strong></p>
        <p class="muted small"><span data-testid="error-count">${e.count}</span> ${e.count === 1 ? 'time' : 'times'} ·
          first <time datetime=${e.firstSeenAt} title=${fullDate(e.firstSeenAt)}>${ago(e.firstSeenAt)}</time> ·
          last <time datetime=${e.lastSeenAt} title=${fullDate(e.lastSeenAt)}>${ago(e.lastSeenAt)}</time> · release ${e.release}</p>
        <p class="small">Pages: ${e.pages.join(', ') || '—'} · Browsers: ${e.browsers.join(', ') || '—'}</p>
        ${e.stack ? html`<details><summary>Stack</summary><pre class="stack-trace">${e.stack}</pre></details>` : null}
        <${Confirm} label="Dealt with" question="Forget this error? It comes back if it happens again." confirmLabel="Forget it"
          onConfirm=${() => forget(e)} />
      </li>`)}</ul>
      <${Pager} page=${page} totalPages=${list.data.totalPages} onPage=${setPage} />`}
  </section>`;
}
