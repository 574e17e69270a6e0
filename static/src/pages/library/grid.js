// pages/library/grid.js — poster cards, a plain row of them, and the
// virtual grid for big libraries: only the rows in view plus a small
// overscan are in the DOM (5,000 movies stay a few dozen cards); the page
// scrolls as usual (the grid reserves its full height). Items come from a
// paged source (data.js) and load as their rows come near.
//
// Keyboard: arrows move between cards (up/down by a row), Home/End go to the
// first/last; a card out of view is scrolled to, rendered, then focused.
// Screen readers hear a list with each card's position in the whole set.
import { html } from 'htm/preact';
import { Component } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

const OVERSCAN = 2;           // rows above and below the viewport
const CAPTION = 52;           // px under each poster (title, year)
const GAP = 12;

function subtitle(it) {
  if (it.type === 'episode') return `${it.grandparentTitle || ''} · S${it.parentIndex}E${it.index}`;
  if (it.type === 'season') return it.parentTitle || '';
  if (it.type === 'show' && it.childCount) return `${it.childCount} season${it.childCount === 1 ? '' : 's'}`;
  if (it.type === 'collection') return `${it.childCount || 0} items`;
  return it.year ? String(it.year) : '';
}

export function href(it) {
  return it.type === 'collection' ? `/library/collection/${it.ratingKey}` : `/library/item/${it.ratingKey}`;
}

export function Poster({ it, width = 300 }) {
  const alt = `${it.title}${it.year ? ` (${it.year})` : ''}`;
  return it.poster
    ? html`<img class="lib-poster" src=${it.poster} alt=${alt} width=${width} height=${width * 1.5}
        loading="lazy" decoding="async" />`
    : html`<div class="lib-poster lib-noposter" role="img" aria-label=${alt}></div>`;
}

export function Card({ it, pos, setsize, tabIndex }) {
  if (!it) {
    return html`<div class="lib-card lib-card-wait" role="listitem" aria-posinset=${pos} aria-setsize=${setsize}
      aria-busy="true"><div class="lib-poster"></div><span class="sr-only">Loading</span></div>`;
  }
  return html`<div class="lib-card" role="listitem" aria-posinset=${pos} aria-setsize=${setsize}>
    <a href=${href(it)} tabindex=${tabIndex} data-pos=${pos} data-testid="lib-card">
      <${Poster} it=${it} />
      <span class="lib-title">${it.title}</span>
      <span class="lib-sub muted">${subtitle(it)}</span></a></div>`;
}

// A short horizontal row (recently added, search results, seasons).
export function Row({ items, label, testid }) {
  return html`<div class="lib-row" role="list" aria-label=${label} data-testid=${testid}>
    ${items.map((it, i) => html`<${Card} key=${it.ratingKey} it=${it} pos=${i + 1} setsize=${items.length} />`)}</div>`;
}

function columnsFor(width) {
  const min = width < 420 ? 104 : width < 900 ? 140 : width < 2000 ? 168 : 220;
  return Math.max(2, Math.floor((width + GAP) / (min + GAP)));
}

function layout(width, total) {
  const cols = columnsFor(width || 320);
  const cardW = width ? (width - GAP * (cols - 1)) / cols : 140;
  const rowH = Math.round(cardW * 1.5 + CAPTION + GAP);
  return { cols, cardW, rowH, rows: Math.ceil(total / cols) };
}

// The rows to render for a scroll position: [first, last] with overscan.
function windowOf(g, L) {
  const offset = window.scrollY - g.top;
  return [Math.max(0, Math.floor(offset / L.rowH) - OVERSCAN),
    Math.min(L.rows - 1, Math.ceil((offset + window.innerHeight) / L.rowH) + OVERSCAN)];
}

// A card re-renders only when what it shows changes (scrolling re-renders
// the grid, not the cards already in view).
class Cell extends Component {
  shouldComponentUpdate(n) {
    const p = this.props;
    return n.it !== p.it || n.x !== p.x || n.y !== p.y || n.w !== p.w || n.tabIndex !== p.tabIndex || n.setsize !== p.setsize;
  }
  render({ it, pos, setsize, tabIndex, x, y, w }) {
    return html`<div class="lib-cell" style=${`transform:translate(${x}px,${y}px);width:${w}px`}>
      <${Card} it=${it} pos=${pos} setsize=${setsize} tabIndex=${tabIndex} /></div>`;
  }
}

// source: {total, at(i), ensure(from, to)}; version changes when pages land.
// Scrolling only sets state when the rendered rows change.
export function VirtualGrid({ source, version, label }) {
  const box = useRef(null);
  const geoRef = useRef({ width: 0, top: 0 });
  const [geo, setGeo] = useState(geoRef.current);
  const [win, setWin] = useState([0, 6]);
  const focusWanted = useRef(null);
  const [active, setActive] = useState(1);
  const total = source.total ?? 0;
  const L = layout(geo.width, total);
  const Lref = useRef(L);
  Lref.current = L;

  useLayoutEffect(() => {
    const el = box.current;
    let frame = 0;
    const measure = () => {
      const r = el.getBoundingClientRect();
      const g = { width: el.clientWidth, top: r.top + window.scrollY };
      if (g.width !== geoRef.current.width || g.top !== geoRef.current.top) { geoRef.current = g; setGeo(g); }
      return g;
    };
    const onScroll = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        const w = windowOf(geoRef.current, Lref.current);
        setWin((old) => (old[0] === w[0] && old[1] === w[1] ? old : w));
      });
    };
    const onResize = () => { measure(); onScroll(); };
    measure();
    onScroll();
    const ro = new ResizeObserver(onResize);
    ro.observe(el);
    addEventListener('scroll', onScroll, { passive: true });
    addEventListener('resize', onResize);
    return () => { ro.disconnect(); removeEventListener('scroll', onScroll); removeEventListener('resize', onResize);
      if (frame) cancelAnimationFrame(frame); };
  }, []);

  // a new layout (width, total) moves the window too
  useEffect(() => {
    const w = windowOf(geoRef.current, L);
    setWin((old) => (old[0] === w[0] && old[1] === w[1] ? old : w));
  }, [L.cols, L.rowH, L.rows]);

  const { cols, cardW, rowH, rows } = L;
  const from = Math.min(win[0], Math.max(0, rows - 1)) * cols;
  const to = Math.min(total, (Math.min(win[1], rows - 1) + 1) * cols) - 1;
  useEffect(() => { if (to >= from) source.ensure(from, to); }, [from, to, source, version]);

  useEffect(() => {
    const want = focusWanted.current;
    if (want == null) return;
    const a = box.current.querySelector(`a[data-pos="${want}"]`);
    if (a) { focusWanted.current = null; a.focus({ preventScroll: true }); }
  });

  function go(pos) {
    pos = Math.min(Math.max(1, pos), total);
    setActive(pos);
    focusWanted.current = pos;
    const row = Math.floor((pos - 1) / cols);
    const y = geo.top + row * rowH;
    const vh = window.innerHeight;
    if (y < window.scrollY + 8 || y + rowH > window.scrollY + vh) {
      window.scrollTo({ top: Math.max(0, y - vh / 3) });
    }
    const a = box.current.querySelector(`a[data-pos="${pos}"]`);
    if (a) { focusWanted.current = null; a.focus({ preventScroll: true }); }
  }

  function onKey(e) {
    const pos = Number(e.target.dataset && e.target.dataset.pos);
    if (!pos) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[e.key];
    if (step) { e.preventDefault(); go(pos + step); } else if (e.key === 'Home') { e.preventDefault(); go(1); } else if (e.key === 'End') { e.preventDefault(); go(total); }
  }

  const cells = [];
  for (let i = from; i <= to; i++) {
    const row = Math.floor(i / cols);
    const col = i % cols;
    cells.push(html`<${Cell} key=${i} it=${source.at(i)} pos=${i + 1} setsize=${total} tabIndex=${i + 1 === active ? 0 : -1}
      x=${col * (cardW + GAP)} y=${row * rowH} w=${cardW} />`);
  }
  return html`<div class="lib-grid" ref=${box} role="list" aria-label=${label} data-testid="lib-grid"
      data-total=${total} style=${`height:${rows * rowH}px`} onKeyDown=${onKey}
      onFocusIn=${(e) => { const p = Number(e.target.dataset && e.target.dataset.pos); if (p) setActive(p); }}>
    ${cells}</div>`;
}
