// pages/settings/tokens.js — personal API tokens: create one with a name
// (shown once, with a copy button and the curl line to try it), the list
// with last use, revoke (confirmed). POST/GET/DELETE /auth/tokens.
import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { ago, fullDate } from '../../lib/time.js';
import { useLoad, Table, Field, Confirm, Said, ErrorLine, Skeleton, fieldErrors } from '../admin/common.js';

function Created({ t }) {
  const [copied, setCopied] = useState('');
  const box = useRef(null);
  const copy = async () => {
    try { await navigator.clipboard.writeText(t.token); setCopied('Copied.'); } catch {
      // no clipboard permission: select the text so Ctrl+C works
      const r = document.createRange(); r.selectNodeContents(box.current);
      const s = getSelection(); s.removeAllRanges(); s.addRange(r);
      setCopied('Selected: press Ctrl+C (⌘C) to copy.');
    }
  };
  return html`<div class="notice token-created" data-testid="token-created" tabindex="-1">
    <p><strong>Token “${t.name}” created.</strong> Copy it now: it is not shown again.</p>
    <p><code class="secret-value" ref=${box} data-testid="token-value">${t.token}</code></p>
    <button type="button" class="btn btn-small" onClick=${copy}>Copy token</button>
    <span class="said" role="status">${copied}</span>
    <p class="muted small">Try it: <code>curl -H "Authorization: Bearer …" ${location.origin}/api/v1/auth/session</code></p>
  </div>`;
}

export function Tokens() {
  const list = useLoad('/auth/tokens');
  const [name, setName] = useState('');
  const [err, setErr] = useState(null);
  const [error, setError] = useState(null);
  const [created, setCreated] = useState(null);
  const [said, setSaid] = useState('');
  const [busy, setBusy] = useState(false);
  const create = async (e) => {
    e.preventDefault();
    if (!name.trim()) { setErr('Give the token a name, e.g. “laptop script”.'); document.getElementById('token-name')?.focus(); return; }
    setBusy(true); setErr(null); setError(null);
    try {
      const t = await api.post('/auth/tokens', { name: name.trim() });
      setCreated(t); setName(''); await list.reload();
      setTimeout(() => document.querySelector('[data-testid=token-created]')?.focus(), 0);
    } catch (x) {
      const fe = fieldErrors(x);
      if (fe.name) setErr(fe.name); else setError(x);
    } finally { setBusy(false); }
  };
  const revoke = async (t) => {
    setError(null);
    try {
      await api.del(`/auth/tokens/${t.id}`);
      if (created && created.id === t.id) setCreated(null);
      setSaid(`Token “${t.name}” revoked: it no longer works.`); await list.reload();
      document.getElementById('token-name')?.focus();
    } catch (x) { setError(x); }
  };
  const cols = [
    { title: 'Name', cell: (t) => t.name },
    { title: 'Created', cell: (t) => html`<time datetime=${t.createdAt} title=${fullDate(t.createdAt)}>${ago(t.createdAt)}</time>` },
    { title: 'Last used', cell: (t) => (t.lastUsedAt ? html`<time datetime=${t.lastUsedAt} title=${fullDate(t.lastUsedAt)}>${ago(t.lastUsedAt)}</time>` : 'never') },
    { title: 'Actions', cell: (t) => html`<${Confirm} label="Revoke" testid="token-revoke" confirmLabel=${`Revoke “${t.name}”`}
        question=${`Revoke “${t.name}”? Scripts using it stop working at once.`} onConfirm=${() => revoke(t)} />` },
  ];
  return html`<section class="settings-block" aria-labelledby="tokens-title">
    <h2 id="tokens-title">API tokens</h2>
    <p class="muted">For scripts and tools: send <code>${'Authorization: Bearer <token>'}</code>. A token acts as you.</p>
    <form class="inline-form" onSubmit=${create} novalidate>
      <${Field} id="token-name" label="Token name" value=${name} error=${err} maxlength="100" onInput=${setName} />
      <button type="submit" class="btn btn-primary" disabled=${busy} data-testid="token-create">Create token</button>
    </form>
    ${created ? html`<${Created} t=${created} />` : null}
    <${Said} text=${said} testid="tokens-said" />
    <${ErrorLine} error=${error || list.error} />
    ${!list.data ? html`<${Skeleton} rows=${2} />` : html`<${Table} caption="Your API tokens" testid="tokens" cols=${cols}
      empty="No tokens yet." rows=${list.data.tokens.map((t) => ({ key: t.id, item: t, testid: 'token-row' }))} />`}
  </section>`;
}
