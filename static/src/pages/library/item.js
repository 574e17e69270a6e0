// pages/library/item.js — one item (/library/item/{ratingKey}): poster,
// art, summary, year, duration, genres, "Open in Plex"; a show's seasons,
// a season's episodes; and a collection (/library/collection/{key}) with
// its items.
import { html } from 'htm/preact';
import { useApi, LoadError, StaleNote, runtime } from './data.js';
import { Card, Poster, Row } from './grid.js';

function Facts({ it }) {
  const bits = [it.year, runtime(it.duration), it.contentRating, it.rating ? `★ ${it.rating.toFixed(1)}` : null,
    it.studio].filter(Boolean);
  return html`<p class="lib-facts muted">${bits.join(' · ')}</p>`;
}

function Children({ item }) {
  const wantEpisodes = item.type === 'season';
  const kids = useApi(wantEpisodes ? `/plex/items/${item.ratingKey}/children?size=200` : null);
  if (item.type === 'show' && item.children) {
    return html`<section aria-labelledby="lib-seasons"><h2 id="lib-seasons">Seasons</h2>
      <${Row} items=${item.children} label="Seasons" testid="lib-seasons" /></section>`;
  }
  if (!wantEpisodes) return null;
  if (kids.error) return html`<${LoadError} error=${kids.error} />`;
  if (!kids.data) return html`<p class="muted" role="status">Loading episodes…</p>`;
  return html`<section aria-labelledby="lib-episodes"><h2 id="lib-episodes">Episodes</h2>
    <ol class="lib-episodes" data-testid="lib-episodes">${kids.data.items.map((e) => html`<li key=${e.ratingKey}>
      <a href=${`/library/item/${e.ratingKey}`}><span class="lib-epnum">${e.index}.</span> ${e.title}</a>
      <span class="muted"> ${runtime(e.duration)}</span></li>`)}</ol></section>`;
}

function Up({ item }) {
  if (item.type === 'episode' && item.parentRatingKey) {
    return html`<p><a href=${`/library/item/${item.parentRatingKey}`}>${item.grandparentTitle} · ${item.parentTitle}</a></p>`;
  }
  if (item.type === 'season' && item.parentRatingKey) {
    return html`<p><a href=${`/library/item/${item.parentRatingKey}`}>${item.parentTitle}</a></p>`;
  }
  return null;
}

export function ItemPage({ rk }) {
  const { data, error } = useApi(`/plex/items/${rk}`);
  if (error) return html`<${LoadError} error=${error} />`;
  if (!data) return html`<p class="muted" role="status" aria-busy="true">Loading…</p>`;
  const it = data.item;
  return html`<article class="lib-item" data-testid="lib-item" aria-labelledby="page-title">
    ${it.art ? html`<img class="lib-art" src=${it.art} alt="" width="1200" height="675" decoding="async" />` : null}
    <${StaleNote} at=${data.stale ? data.fetchedAt : null} />
    <div class="lib-item-main">
      <div class="lib-item-poster"><${Poster} it=${it} /></div>
      <div class="lib-item-text">
        <${Up} item=${it} />
        <h1 id="page-title" tabindex="-1">${it.title}</h1>
        ${it.tagline ? html`<p class="lib-tagline">${it.tagline}</p>` : null}
        <${Facts} it=${it} />
        ${it.genres && it.genres.length ? html`<ul class="lib-genres" aria-label="Genres">
          ${it.genres.map((g) => html`<li key=${g}>${g}</li>`)}</ul>` : null}
        ${it.summary ? html`<p class="lib-summary">${it.summary}</p>` : null}
        ${it.plexUrl ? html`<p><a class="btn btn-primary" href=${it.plexUrl} target="_blank" rel="noopener noreferrer"
            data-testid="open-in-plex">Open in Plex<span class="sr-only"> (opens in a new tab)</span></a></p>` : null}
      </div>
    </div>
    <${Children} item=${it} />
  </article>`;
}

export function CollectionPage({ ck }) {
  const { data, error } = useApi(`/plex/collections/${ck}?size=200`);
  if (error) return html`<${LoadError} error=${error} />`;
  if (!data) return html`<p class="muted" role="status" aria-busy="true">Loading…</p>`;
  return html`<section data-testid="lib-collection" aria-labelledby="page-title">
    <h1 id="page-title" tabindex="-1">${data.collection.title}</h1>
    <p class="muted">${data.total} item${data.total === 1 ? '' : 's'} · a collection</p>
    <${StaleNote} at=${data.stale ? data.fetchedAt : null} />
    <div class="lib-wrap" role="list" aria-label=${data.collection.title}>
      ${data.items.map((it, i) => html`<div class="lib-wrap-cell" key=${it.ratingKey}>
        <${Card} it=${it} pos=${i + 1} setsize=${data.total} /></div>`)}</div>
  </section>`;
}
