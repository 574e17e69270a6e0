// pages/library.js — the Plex library, as Plex lets this user see it.
// Addresses (deep links and back/forward work):
//   /library[?q=]                 the first library, or search results for q
//   /library/{section}[?sort=&dir=&type=&q=]   a library's grid
//   /library/item/{ratingKey}     an item; /library/collection/{key} a collection
// The grid is virtual (pages/library/grid.js); data, errors and the "saved
// data from HH:MM" note when Plex is down live in pages/library/data.js.
import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useStore } from '../lib/store.js';
import { route as location$, navigate } from '../lib/router.js';
import { useApi, pagedSource, LoadError, StaleNote } from './library/data.js';
import { VirtualGrid, Row } from './library/grid.js';
import { ItemPage, CollectionPage } from './library/item.js';

const PAGE = 120;
const SORTS = [['title', 'Title'], ['added', 'Date added'], ['year', 'Year'], ['rating', 'Rating']];
const TYPES = { show: [['', 'Shows'], ['season', 'Seasons'], ['episode', 'Episodes']] };

function parse(loc) {
  const url = new URL(loc, location.origin);
  const parts = url.pathname.split('/').filter(Boolean);     // ['library', ...]
  return { parts: parts.slice(1), q: url.searchParams.get('q') || '', params: url.searchParams };
}

function withParams(path, params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) s.set(k, v);
  const qs = s.toString();
  return qs ? `${path}?${qs}` : path;
}

function Tabs({ libs, current }) {
  return html`<nav class="lib-tabs" aria-label="Libraries"><ul>
    ${libs.map((l) => html`<li key=${l.key}><a href=${`/library/${l.key}`} data-testid=${`lib-tab-${l.key}`}
      aria-current=${l.key === current ? 'page' : undefined}>${l.title}
      ${l.count != null ? html`<span class="lib-count muted"> ${l.count.toLocaleString()}</span>` : null}</a></li>`)}
  </ul></nav>`;
}

function SearchBox({ q, base }) {
  const [text, setText] = useState(q);
  const timer = useRef(0);
  useEffect(() => setText(q), [q]);
  function change(v) {
    setText(v);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => navigate(withParams(base, { q: v.trim() }), { replace: !!q }), 350);
  }
  return html`<form class="lib-search" role="search" onSubmit=${(e) => { e.preventDefault(); clearTimeout(timer.current);
      navigate(withParams(base, { q: text.trim() })); }}>
    <label for="lib-q" class="sr-only">Search your libraries</label>
    <input id="lib-q" type="search" value=${text} placeholder="Search your libraries" autocomplete="off"
      maxlength="100" data-testid="lib-search" onInput=${(e) => change(e.currentTarget.value)} /></form>`;
}

function SearchResults({ q }) {
  const { data, error, loading } = useApi(`/plex/search?q=${encodeURIComponent(q)}`);
  const count = data ? data.groups.reduce((n, g) => n + g.items.length, 0) : 0;
  return html`<section aria-labelledby="lib-results" data-testid="lib-results">
    <h2 id="lib-results">Results for “${q}”</h2>
    <p class="sr-only" role="status" aria-live="polite">${loading ? 'Searching…' : data ? `${count} results` : ''}</p>
    <${LoadError} error=${error} />
    ${data ? html`<${StaleNote} at=${data.stale ? data.fetchedAt : null} />` : null}
    ${data && data.groups.length === 0 ? html`<p class="muted">Nothing in your libraries matches “${q}”.</p>` : null}
    ${data ? data.groups.map((g) => html`<div key=${g.type} class="lib-group" data-testid=${`lib-group-${g.type}`}>
      <h3>${g.title}${g.more ? html`<span class="muted"> (first ${g.items.length})</span>` : null}</h3>
      <${Row} items=${g.items} label=${g.title} /></div>`) : null}
  </section>`;
}

function Recent() {
  const { data, error } = useApi('/plex/recently-added');
  if (error) return null;          // the grid below says what is wrong
  if (!data || data.items.length === 0) return null;
  return html`<section aria-labelledby="lib-recent"><h2 id="lib-recent">Recently added</h2>
    <${Row} items=${data.items} label="Recently added" testid="lib-recent" /></section>`;
}

function Collections({ section }) {
  const { data } = useApi(`/plex/libraries/${section}/collections`);
  if (!data || data.collections.length === 0) return null;
  return html`<section aria-labelledby="lib-cols"><h2 id="lib-cols">Collections</h2>
    <${Row} items=${data.collections} label="Collections" testid="lib-collections" /></section>`;
}

function Controls({ lib, params, base }) {
  const sort = params.get('sort') || 'title';
  const dir = params.get('dir') || '';
  const type = params.get('type') || '';
  const set = (k, v) => navigate(withParams(base, { sort, dir, type, [k]: v }), { replace: true });
  return html`<div class="lib-controls">
    <label>Sort by <select data-testid="lib-sort" value=${sort} onChange=${(e) => set('sort', e.currentTarget.value)}>
      ${SORTS.map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select></label>
    <label>Order <select data-testid="lib-dir" value=${dir} onChange=${(e) => set('dir', e.currentTarget.value)}>
      <option value="">${sort === 'title' ? 'A to Z' : 'Newest / highest first'}</option>
      <option value=${sort === 'title' ? 'desc' : 'asc'}>${sort === 'title' ? 'Z to A' : 'Oldest / lowest first'}</option>
    </select></label>
    ${TYPES[lib.type] ? html`<label>Show <select data-testid="lib-type" value=${type}
        onChange=${(e) => set('type', e.currentTarget.value)}>
      ${TYPES[lib.type].map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select></label>` : null}
  </div>`;
}

function Grid({ lib, params }) {
  const sort = params.get('sort') || 'title';
  const dir = params.get('dir') || '';
  const type = params.get('type') || '';
  const base = withParams(`/plex/libraries/${lib.key}/items`, { sort, dir, type });
  const [version, setVersion] = useState(0);
  const source = useMemo(() => pagedSource(base, PAGE, () => setVersion((v) => v + 1)), [base]);
  useEffect(() => source.ensure(0, 0), [source]);
  const label = `${lib.title}, ${source.total == null ? 'loading' : `${source.total.toLocaleString()} items`}`;
  return html`<section aria-label=${lib.title}>
    <${StaleNote} at=${source.stale} />
    <${LoadError} error=${source.error} />
    <p class="sr-only" role="status" aria-live="polite">${source.total == null ? '' : label}</p>
    <${VirtualGrid} source=${source} version=${version} label=${label} /></section>`;
}

function Browse({ libs, sectionKey, q, params }) {
  const lib = libs.libraries.find((l) => l.key === sectionKey) || (sectionKey ? null : libs.libraries[0]);
  if (!lib && sectionKey) {
    return html`<${Tabs} libs=${libs.libraries} /><${LoadError} error=${{ status: 404 }} />`;
  }
  if (!lib) return html`<p class="notice">No library is shared with you on this Plex server.</p>`;
  const base = sectionKey ? `/library/${lib.key}` : '/library';
  return html`<${Tabs} libs=${libs.libraries} current=${lib.key} />
    <${StaleNote} at=${libs.stale ? libs.fetchedAt : null} />
    <${SearchBox} q=${q} base=${base} />
    ${q ? html`<${SearchResults} q=${q} />` : html`
      ${sectionKey ? null : html`<${Recent} />`}
      <${Collections} section=${lib.key} />
      <h2 class="lib-grid-title">${lib.title}</h2>
      <${Controls} lib=${lib} params=${params} base=${base} />
      <${Grid} key=${lib.key} lib=${lib} params=${params} />`}`;
}

const page = (body) => html`<section class="page lib" data-testid="library-page">${body}</section>`;

export function Page() {
  const loc = useStore(location$);
  const { parts, q, params } = parse(loc);
  const libs = useApi(parts[0] === 'item' || parts[0] === 'collection' ? null : '/plex/libraries');
  if (parts[0] === 'item' && parts[1]) return page(html`<${ItemPage} key=${parts[1]} rk=${parts[1]} />`);
  if (parts[0] === 'collection' && parts[1]) return page(html`<${CollectionPage} key=${parts[1]} ck=${parts[1]} />`);
  let body;
  if (libs.error) body = html`<${LoadError} error=${libs.error} />`;
  else if (!libs.data) body = html`<p class="muted" role="status">Loading…</p>`;
  else body = html`<${Browse} libs=${libs.data} sectionKey=${parts[0]} q=${q} params=${params} />`;
  // One heading for every state of the browse view: the element stays as
  // the data arrives, so the focus the shell gave it on navigation stays too.
  return page(html`<div class="page-head"><h1 id="page-title" tabindex="-1">Library</h1></div>${body}`);
}
