// pages/requests.js — the requests page: search Overseerr (a poster grid
// with availability in words), a title's details and the request dialog,
// "My requests" and "Following" with each request's status updating live
// (WebSocket `request:update`), and request notifications said in a polite
// live region. The tab and the query live in the address (?tab=&q=).
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { describe } from '../lib/api.js';
import { on } from '../lib/ws.js';
import { navigate } from '../lib/router.js';
import { search, mine, following } from './requests/data.js';
import { SearchForm, Results } from './requests/search.js';
import { Detail } from './requests/detail.js';
import { RequestList } from './requests/list.js';

const TABS = [['search', 'Search'], ['mine', 'My requests'], ['following', 'Following']];

// Replace or add a request in a list by id (newest first for new ones).
function merge(list, r) {
  if (!list) return list;
  const i = list.findIndex((x) => x.id === r.id);
  if (i < 0) return [r, ...list];
  const next = list.slice();
  next[i] = { ...list[i], ...r };
  return next;
}

// A tab list as the ARIA pattern has it: one tab in the Tab order, arrows
// (and Home/End) move between them.
function Tabs({ tab, go }) {
  const keys = TABS.map(([k]) => k);
  const onKey = (e) => {
    const i = keys.indexOf(tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: keys.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const k = keys[(to + keys.length) % keys.length];
    go(k);
    requestAnimationFrame(() => document.getElementById(`rq-tab-${k}`)?.focus());
  };
  return html`<div class="rq-tabs" role="tablist" aria-label="Requests" onKeyDown=${onKey}>
    ${TABS.map(([k, label]) => html`<button key=${k} type="button" role="tab" id=${`rq-tab-${k}`}
      aria-selected=${tab === k} tabindex=${tab === k ? 0 : -1} aria-controls="rq-panel"
      class=${`btn btn-small${tab === k ? ' btn-primary' : ''}`}
      onClick=${() => go(k)} data-testid=${`tab-${k}`}>${label}</button>`)}
  </div>`;
}

export function Page({ route, user, query }) {
  const tab = TABS.some(([k]) => k === query.get('tab')) ? query.get('tab') : 'search';
  const q = query.get('q') || '';
  const [results, setResults] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(null);
  const [mineList, setMine] = useState(null);
  const [followList, setFollow] = useState(null);
  const [said, setSaid] = useState('');

  const go = (t, nq = q) => navigate(`/requests?tab=${t}${nq ? `&q=${encodeURIComponent(nq)}` : ''}`);

  useEffect(() => {
    if (!q) { setResults(null); return; }
    const ctl = new AbortController();
    setBusy(true); setError(null);
    search(q, 1, ctl.signal).then(setResults, (e) => e.name !== 'AbortError' && setError(describe(e)))
      .finally(() => setBusy(false));
    return () => ctl.abort();
  }, [q]);

  const reload = () => {
    mine().then((r) => setMine(r.results), (e) => setError(describe(e)));
    following().then((r) => setFollow(r.results), (e) => setError(describe(e)));
  };
  useEffect(reload, []);

  // live: a request changed (mine or one I follow), a notification about one
  useEffect(() => {
    const offUpdate = on('request:update', (r) => {
      if (r.requestedBy && r.requestedBy.id === user.id) setMine((l) => merge(l, r));
      else setFollow((l) => l && l.some((x) => x.id === r.id) ? merge(l, r) : l);
      setResults((res) => res && { ...res, results: res.results.map((it) =>
        it.tmdbId === r.tmdbId && it.mediaType === r.mediaType
          ? { ...it, requestId: r.id, availability: r.status === 'available' ? 'available' : it.availability } : it) });
    });
    const offNote = on('notification', (n) => { if (n.type && n.type.startsWith('request_')) setSaid(n.title); });
    return () => { offUpdate(); offNote(); };
  }, [user.id]);

  const changed = (r) => {
    if (!r || !r.id) return;
    if (r.mine || (r.requestedBy && r.requestedBy.id === user.id)) setMine((l) => merge(l, r));
    else following().then((x) => setFollow(x.results), () => {});
  };

  return html`<section class="page rq-page" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">${route.title}</h1></div>
    <div class="rq-live" aria-live="polite" role="status" data-testid="request-announce">
      ${said && html`<p class="notice">${said}</p>`}</div>
    <${Tabs} tab=${tab} go=${go} />
    <div id="rq-panel" role="tabpanel" aria-labelledby=${`rq-tab-${tab}`}>
      ${error && html`<div class="alert" role="alert"><p>${error}</p></div>`}
      ${tab === 'search' && html`
        <${SearchForm} value=${q} busy=${busy} onSearch=${(nq) => go('search', nq)} />
        ${busy && html`<p class="muted" role="status">Searching…</p>`}
        <${Results} data=${results} onOpen=${setOpen} />`}
      ${tab === 'mine' && html`<${RequestList} kind="mine" items=${mineList} onChange=${changed}
        empty="You have not requested anything yet. Search for a title to request it." />`}
      ${tab === 'following' && html`<${RequestList} kind="following" items=${followList}
        onChange=${(r) => setFollow((l) => l && l.filter((x) => x.id !== r.id))}
        empty="You follow no requests. Follow someone's request to be told when it is available." />`}
    </div>
    ${open && html`<${Detail} item=${open} onClose=${() => setOpen(null)} onChanged=${changed} />`}
  </section>`;
}
