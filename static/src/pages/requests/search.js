// pages/requests/search.js — the search box and its results as a poster
// grid, each with its availability in words.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { AVAILABILITY, poster } from './data.js';

// The box keeps what is typed (a re-render of the page must not wipe it);
// the address's query replaces it when it changes (back/forward).
export function SearchForm({ value, onSearch, busy }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const submit = (e) => {
    e.preventDefault();
    const q = text.trim();
    if (q) onSearch(q);
  };
  return html`<form class="rq-search" role="search" onSubmit=${submit}>
    <label for="rq-q" class="sr-only">Search movies and shows</label>
    <input id="rq-q" name="q" type="search" placeholder="Search movies and shows…" maxlength="200"
      value=${text} onInput=${(e) => setText(e.currentTarget.value)} autocomplete="off" data-testid="request-search" />
    <button class="btn btn-primary" type="submit" disabled=${busy}>Search</button>
  </form>`;
}

function Card({ item, onOpen }) {
  const src = poster(item.posterPath);
  const label = AVAILABILITY[item.availability] || item.availability;
  return html`<li class="rq-card">
    <button type="button" class="rq-card-btn" onClick=${() => onOpen(item)}
      data-testid=${`result-${item.mediaType}-${item.tmdbId}`}
      aria-label=${`${item.title}${item.year ? ` (${item.year})` : ''}, ${item.mediaType === 'tv' ? 'show' : 'movie'}, ${label}`}>
      ${src ? html`<img src=${src} alt="" loading="lazy" width="342" height="513" />`
            : html`<span class="rq-noposter" aria-hidden="true">${item.title}</span>`}
      <span class=${`rq-badge rq-${item.availability}`} data-testid="availability">${label}</span>
      <span class="rq-card-title">${item.title}</span>
      <span class="rq-card-meta muted">${item.year || ''} · ${item.mediaType === 'tv' ? 'Show' : 'Movie'}
        ${item.following ? ' · Following' : ''}${item.requested ? ' · Your request' : ''}</span>
    </button>
  </li>`;
}

export function Results({ data, onOpen }) {
  if (!data) return null;
  if (!data.results.length) return html`<p class="muted" data-testid="no-results">Nothing found.</p>`;
  return html`
    ${data.stale && html`<p class="notice">Overseerr is not answering: these results may be out of date.</p>`}
    <ul class="rq-grid" data-testid="results">${data.results.map((it) =>
      html`<${Card} key=${it.mediaType + it.tmdbId} item=${it} onOpen=${onOpen} />`)}</ul>`;
}
