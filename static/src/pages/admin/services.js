// pages/admin/services.js — Admin › Services: a form per integration (Plex,
// Overseerr, Uptime Kuma, YouTube). Secrets are write-only: the form says
// whether one is set and where from, an empty field keeps it, "Clear"
// removes it. The server's validation errors show under their field; Test
// connection says, check by check, what works. A save applies on every
// instance without a restart (docs/admin.md).
import { html } from 'htm/preact';
import { useRef, useState } from 'preact/hooks';
import { api } from '../../lib/api.js';
import { fullDate } from '../../lib/time.js';
import { useLoad, Field, Said, ErrorLine, Skeleton, Missing, fieldErrors } from './common.js';

const TITLES = { plex: 'Plex Media Server', overseerr: 'Overseerr', uptime_kuma: 'Uptime Kuma', youtube: 'YouTube downloads' };
const SECRETS = { plex: [['token', 'Plex token']], overseerr: [['apiKey', 'API key'], ['webhookSecret', 'Webhook secret']],
                  uptime_kuma: [['apiKey', 'Metrics API key']], youtube: [] };
// option -> [label, kind, hint]
const OPTIONS = {
  plex: { timeout: ['Timeout (seconds)', 'number', '1 to 60'] },
  overseerr: { timeout: ['Timeout (seconds)', 'number', '1 to 60'] },
  uptime_kuma: { slug: ['Status page slug', 'text', 'The status page whose monitors MediaNest shows'],
                 timeout: ['Timeout (seconds)', 'number', '1 to 60'] },
  youtube: { root: ['Download folder', 'text', 'A folder Plex reads'], concurrency: ['Downloads at once', 'number', '1 to 16'],
             quotaBytes: ['Quota per user (bytes)', 'number', '0 for none'],
             allowedHosts: ['Allowed hosts', 'text', 'Comma-separated, e.g. youtube.com, youtu.be'] },
};

function secretState(s) {
  if (!s || !s.set) return 'not set';
  return s.source === 'config' ? 'set (in config.lua)' : 'set';
}

function initial(v) {
  const opts = {};
  for (const [k, [, kind]] of Object.entries(OPTIONS[v.name])) {
    const x = v.options[k];
    opts[k] = x == null ? '' : kind === 'text' && Array.isArray(x) ? x.join(', ') : String(x);
  }
  return { enabled: !!v.enabled, url: v.url || '', opts, secrets: {}, clear: {} };
}

function body(name, f, view) {
  const b = { enabled: f.enabled };
  if ('url' in view) b.url = f.url.trim() === '' ? null : f.url.trim();
  const options = {};
  for (const [k, [, kind]] of Object.entries(OPTIONS[name])) {
    const raw = f.opts[k].trim();
    if (raw === '') continue;
    if (k === 'allowedHosts') options[k] = raw.split(',').map((s) => s.trim()).filter(Boolean);
    else options[k] = kind === 'number' && /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  }
  b.options = options;
  for (const [k] of SECRETS[name]) {
    if (f.clear[k]) b[k] = null;
    else if (f.secrets[k]) b[k] = f.secrets[k];
  }
  return b;
}

function randomSecret() {
  const a = new Uint8Array(24);
  crypto.getRandomValues(a);
  return Array.from(a, (x) => x.toString(16).padStart(2, '0')).join('');
}

const CHECK_WORD = (c) => (c.ok ? 'Works' : 'Fails');

function TestResult({ result }) {
  if (!result) return null;
  return html`<div class=${`test-result ${result.ok ? 'ok' : 'bad'}`} data-testid="test-result" data-ok=${String(result.ok)}>
    <p><strong>${result.ok ? 'Everything works.' : 'Something does not work.'}</strong></p>
    <ul>${result.checks.map((c) => html`<li data-check=${c.name} data-ok=${String(c.ok)}>
      <span class=${`mark ${c.ok ? 'ok' : 'bad'}`} aria-hidden="true">${c.ok ? '✓' : '✗'}</span>
      <strong>${CHECK_WORD(c)}:</strong> ${c.message}${c.ms != null ? html` <span class="muted">(${Math.round(c.ms)} ms)</span>` : null}</li>`)}</ul>
  </div>`;
}

function ServiceForm({ view, onSaved }) {
  const name = view.name;
  const [f, setF] = useState(() => initial(view));
  const [errs, setErrs] = useState({});
  const [error, setError] = useState(null);
  const [said, setSaid] = useState('');
  const [busy, setBusy] = useState(false);
  const [test, setTest] = useState(null);
  const [testing, setTesting] = useState(false);
  const [shownSecret, setShownSecret] = useState(null);
  const form = useRef(null);
  const id = (k) => `${name}-${k}`;
  const upd = (fn) => setF((x) => { const y = { ...x, opts: { ...x.opts }, secrets: { ...x.secrets }, clear: { ...x.clear } }; fn(y); return y; });

  const save = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null); setErrs({}); setSaid('');
    try {
      const v = await api.put(`/admin/services/${name}`, body(name, f, view));
      setF(initial(v)); setShownSecret(null); onSaved(v); setSaid(`${TITLES[name]} saved: it applies now here, and within 5 s on other instances.`);
    } catch (err) {
      const fe = fieldErrors(err);
      setErrs(fe);
      if (!Object.keys(fe).length) setError(err);
      else {
        setSaid('Not saved: check the fields marked.');
        const first = Object.keys(fe)[0].replace(/^options\./, '');
        setTimeout(() => form.current?.querySelector(`#${id(first)}`)?.focus(), 0);
      }
    } finally { setBusy(false); }
  };
  const runTest = async () => {
    setTesting(true); setTest(null); setError(null);
    try { setTest(await api.post(`/admin/services/${name}/test`)); } catch (err) { setError(err); } finally { setTesting(false); }
  };
  const err = (k) => errs[k] || errs[`options.${k}`];

  return html`<form class="service" ref=${form} onSubmit=${save} aria-labelledby=${id('title')} data-testid=${`service-${name}`} novalidate>
    <h3 id=${id('title')}>${TITLES[name]}</h3>
    ${view.updatedAt ? html`<p class="muted small">Last saved ${fullDate(view.updatedAt)}</p>` : null}
    <${Field} id=${id('enabled')} label="Enabled" type="checkbox" checked=${f.enabled} onInput=${(v) => upd((x) => { x.enabled = v; })} />
    ${'url' in view ? html`<${Field} id=${id('url')} label="URL" type="url" value=${f.url} error=${err('url')}
        hint=${name === 'overseerr' ? 'Without /api/v1, e.g. http://overseerr:5055' : null}
        onInput=${(v) => upd((x) => { x.url = v; })} />` : null}
    ${SECRETS[name].map(([k, label]) => html`<div class="secret">
      <${Field} id=${id(k)} label=${`${label} (${secretState(view[k])})`} type="password" value=${f.secrets[k] || ''}
        autocomplete="new-password" error=${err(k)} disabled=${!!f.clear[k]}
        hint=${view[k]?.set ? 'Leave empty to keep it; type a new one to replace it.' : 'Not set yet.'}
        onInput=${(v) => upd((x) => { x.secrets[k] = v; })} />
      ${view[k]?.set && view[k].source === 'saved' ? html`<${Field} id=${id(`${k}-clear`)} label=${`Clear the saved ${label.toLowerCase()}`}
        type="checkbox" checked=${!!f.clear[k]} onInput=${(v) => upd((x) => { x.clear[k] = v; })} />` : null}
      ${k === 'webhookSecret' ? html`<button type="button" class="btn btn-small" data-testid="generate-secret"
        onClick=${() => { const s = randomSecret(); setShownSecret(s); upd((x) => { x.secrets[k] = s; x.clear[k] = false; }); }}>Generate a secret</button>
        ${shownSecret ? html`<p class="hint" role="status">Paste this into Overseerr's webhook “Authorization header”, then save here:
          <code class="secret-value" data-testid="generated-secret">${shownSecret}</code></p>` : null}` : null}
    </div>`)}
    ${name === 'overseerr' ? html`<p class="hint">Webhook URL for Overseerr (Settings › Notifications › Webhook):
      <code data-testid="webhook-url">${`${location.origin}/api/v1/webhooks/overseerr`}</code></p>` : null}
    ${Object.entries(OPTIONS[name]).map(([k, [label, kind, hint]]) => html`<${Field} id=${id(k)} label=${label}
      inputmode=${kind === 'number' ? 'numeric' : undefined}
      value=${f.opts[k]} hint=${hint} error=${err(k)} onInput=${(v) => upd((x) => { x.opts[k] = v; })} />`)}
    <div class="form-actions">
      <button type="submit" class="btn btn-primary" disabled=${busy} data-testid="service-save">${busy ? 'Saving…' : 'Save'}</button>
      <button type="button" class="btn" disabled=${testing} data-testid="service-test" onClick=${runTest}>${testing ? 'Testing…' : 'Test connection'}</button>
    </div>
    <${Said} text=${said} testid="service-said" />
    <${ErrorLine} error=${error} />
    <div aria-live="polite">${testing ? html`<p class="muted">Testing ${TITLES[name]}…</p>` : html`<${TestResult} result=${test} />`}</div>
  </form>`;
}

export function Services() {
  const list = useLoad('/admin/services');
  if (list.missing) return html`<${Missing} title="Services" what="Service settings are" />`;
  const views = list.data ? list.data.services.filter((v) => TITLES[v.name]) : [];
  const saved = (v) => list.set({ services: list.data.services.map((x) => (x.name === v.name ? v : x)) });
  return html`<section aria-labelledby="services-title">
    <h2 id="services-title">Services</h2>
    <${ErrorLine} error=${list.error} />
    ${!list.data ? html`<${Skeleton} rows=${8} />`
      : html`<div class="services">${views.map((v) => html`<${ServiceForm} key=${v.name} view=${v} onSaved=${saved} />`)}</div>`}
  </section>`;
}
