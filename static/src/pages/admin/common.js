// pages/admin/common.js — what the admin sections and the settings page
// share: loading an endpoint (with "not available on this server" for a 404
// whose feature has not landed), form fields whose error is tied to the
// input, a two-step confirmation for destructive actions, a polite status
// line, and tables that become cards on phones (admin.css).
import { html } from 'htm/preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, describe } from '../../lib/api.js';

// useLoad(path) -> { data, error, missing, loading, reload, set }.
// missing: the endpoint answered 404 with no JSON error of a known resource
// (the route is not on this server yet).
export function useLoad(path) {
  const [st, setSt] = useState({ data: null, error: null, missing: false, loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const n = ++seq.current;
    setSt((s) => ({ ...s, loading: true }));
    return api.get(path).then(
      (data) => { if (n === seq.current) setSt({ data, error: null, missing: false, loading: false }); return data; },
      (error) => {
        if (n !== seq.current) return;
        const missing = error.status === 404 && (error.code === 'NOT_FOUND' || error.code === 'HTTP_404');
        setSt((s) => ({ data: s.data, error: missing ? null : error, missing, loading: false }));
      });
  }, [path]);
  useEffect(() => { reload(); }, [reload]);
  const set = (data) => setSt((s) => ({ ...s, data }));
  return { ...st, reload, set };
}

// A section whose endpoint this server does not have (yet): its heading,
// and the reason in words.
export function Missing({ title, what }) {
  return html`<section aria-labelledby="missing-title">
    <h2 id="missing-title">${title}</h2>
    <div class="notice notice-off" role="status" data-testid="section-missing">
    <p>${what} not available on this server.</p>
    <p class="muted">This MediaNest does not have that feature yet; it appears here once the server has it.</p></div></section>`;
}

export function ErrorLine({ error }) {
  return error ? html`<p class="alert" role="alert">${describe(error)}</p>` : null;
}

// A polite live region with the last outcome ("Saved.", "Role changed.").
export function Said({ text, testid }) {
  return html`<p class="said" role="status" aria-live="polite" data-testid=${testid}>${text || ''}</p>`;
}

// A labelled input; an error (server-side or not) shows under it and is
// tied to it with aria-describedby and aria-invalid.
export function Field({ id, label, hint, error, type = 'text', value, onInput, children, ...rest }) {
  const desc = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
  const input = children || html`<input id=${id} name=${id} type=${type} value=${value ?? ''}
      aria-invalid=${error ? 'true' : undefined} aria-describedby=${desc}
      onInput=${(e) => onInput(type === 'checkbox' ? e.currentTarget.checked : e.currentTarget.value)} ...${rest} />`;
  return html`<div class=${`field${type === 'checkbox' ? ' field-check' : ''}`}>
    <label for=${id}>${label}</label>${input}
    ${hint ? html`<p class="hint" id=${`${id}-hint`}>${hint}</p>` : null}
    ${error ? html`<p class="field-error" id=${`${id}-error`}>${error}</p>` : null}
  </div>`;
}

// A destructive action in two steps: the button, then "Really …? / Cancel"
// in its place, with focus on the confirming button and back on the first
// one when cancelled (Cancel or Escape).
export function Confirm({ label, question, confirmLabel, onConfirm, testid, small = true }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const yes = useRef(null), first = useRef(null);
  useEffect(() => { if (asking && yes.current) yes.current.focus(); }, [asking]);
  const cls = `btn${small ? ' btn-small' : ''}`;
  if (!asking) {
    return html`<button type="button" class=${cls} ref=${first} data-testid=${testid}
      onClick=${() => setAsking(true)}>${label}</button>`;
  }
  const cancel = () => { setAsking(false); setTimeout(() => first.current && first.current.focus(), 0); };
  const escape = (e) => { if (e.key === 'Escape') { e.stopPropagation(); cancel(); } };
  return html`<span class="confirm" role="group" aria-label=${question} onKeyDown=${escape}>
    <span class="confirm-q">${question}</span>
    <button type="button" class=${`${cls} btn-danger`} ref=${yes} disabled=${busy} data-testid=${testid && `${testid}-yes`}
      onClick=${async () => { setBusy(true); try { await onConfirm(); } finally { setBusy(false); setAsking(false); } }}>${confirmLabel || label}</button>
    <button type="button" class=${cls} onClick=${cancel}>Cancel</button></span>`;
}

// A table on wide screens, a list of cards under 640 px: each cell carries
// its column's name (data-label) for the card layout.
export function Table({ caption, cols, rows, empty, testid }) {
  if (!rows.length) return html`<p class="muted" data-testid=${testid && `${testid}-empty`}>${empty}</p>`;
  return html`<div class="table-wrap"><table class="table" data-testid=${testid}>
    <caption class="sr-only">${caption}</caption>
    <thead><tr>${cols.map((c) => html`<th scope="col">${c.title}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr key=${r.key} data-testid=${r.testid}>
      ${cols.map((c, i) => i === 0
        ? html`<th scope="row" data-label=${c.title}>${c.cell(r.item)}</th>`
        : html`<td data-label=${c.title}>${c.cell(r.item)}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

// Rows of grey bars of the table's final height while the first answer is
// on its way: nothing moves when it arrives.
export function Skeleton({ rows = 5 }) {
  return html`<div class="skeleton" aria-hidden="true">${Array.from({ length: rows }, (_, i) => html`<div class="skeleton-row" key=${i}></div>`)}</div>`;
}

export function Pager({ page, totalPages, onPage }) {
  if (!totalPages || totalPages <= 1) return null;
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" class="btn btn-small" disabled=${page <= 1} onClick=${() => onPage(page - 1)}>Previous</button>
    <span>Page ${page} of ${totalPages}</span>
    <button type="button" class="btn btn-small" disabled=${page >= totalPages} onClick=${() => onPage(page + 1)}>Next</button></nav>`;
}

// The server's VALIDATION_ERROR details as {field: message}.
export function fieldErrors(err) {
  const out = {};
  const d = err && err.details;
  if (!d) return out;
  if (Array.isArray(d.errors)) for (const e of d.errors) out[e.field] = e.message;
  else if (d.field) out[d.field] = err.message;
  return out;
}
