// pages/admin/rum.js — Admin › Experience: the browsers' web-vitals (RUM)
// over 24 h or 7 days from GET /admin/rum: per page p75 and sample count of
// LCP, INP, CLS, FCP, TTFB, a bar of good / needs improvement / poor shares
// (with the percentages in words), and a line of p75 per hour or day. Plain
// SVG: nothing to load beyond this chunk.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { useLoad, ErrorLine, Skeleton, Missing } from './common.js';

const METRICS = [['LCP', 'Largest paint'], ['INP', 'Interaction'], ['CLS', 'Layout shift'], ['FCP', 'First paint'], ['TTFB', 'First byte']];
const pct = (x) => `${Math.round(x * 100)} %`;
const value = (m, v) => (v == null ? '—' : m === 'CLS' ? String(v) : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);

function verdict(m, v, t) {
  if (v == null) return '';
  return v <= t[m][0] ? 'good' : v <= t[m][1] ? 'needs improvement' : 'poor';
}

// good / needs improvement / poor as one stacked bar; the text says the same
function Shares({ s, label }) {
  if (!s.count) return html`<span class="muted">no samples</span>`;
  const w = [s.good, s.needsImprovement, s.poor].map((x) => x * 100);
  return html`<svg class="shares" viewBox="0 0 100 8" preserveAspectRatio="none" role="img"
      aria-label=${`${label}: ${pct(s.good)} good, ${pct(s.needsImprovement)} needs improvement, ${pct(s.poor)} poor`}>
    <rect x="0" width=${w[0]} height="8" class="good" />
    <rect x=${w[0]} width=${w[1]} height="8" class="ni" />
    <rect x=${w[0] + w[1]} width=${w[2]} height="8" class="poor" /></svg>
    <span class="small muted" aria-hidden="true">${pct(s.good)} good${s.poor ? ` · ${pct(s.poor)} poor` : ''}</span>`;
}

// p75 over time for one metric; missing periods leave a gap
function Trend({ series, metric, label }) {
  const pts = series.map((p, i) => [i, p[metric]]).filter((p) => p[1] != null);
  if (pts.length < 2) return html`<p class="muted small">Not enough periods for a trend yet.</p>`;
  const max = Math.max(...pts.map((p) => p[1])) || 1;
  const n = Math.max(series.length - 1, 1);
  const d = pts.map(([i, v], k) => `${k ? 'L' : 'M'}${(i / n) * 100},${38 - (v / max) * 34}`).join(' ');
  return html`<svg class="trend" viewBox="0 0 100 40" preserveAspectRatio="none" role="img"
      aria-label=${`${label} p75 over time, from ${value(metric, pts[0][1])} to ${value(metric, pts[pts.length - 1][1])}, highest ${value(metric, max)}`}>
    <path d=${d} fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" /></svg>`;
}

function PageCard({ p, t }) {
  return html`<div class="rum-page" data-testid="rum-page" data-page=${p.page}>
    <h3>${p.page === '*' ? 'Every page' : p.page === 'other' ? 'Other pages' : p.page}</h3>
    <table class="table rum-table"><caption class="sr-only">Web vitals for ${p.page === '*' ? 'every page' : p.page}</caption>
      <thead><tr><th scope="col">Metric</th><th scope="col">p75</th><th scope="col">Samples</th><th scope="col">Good / needs improvement / poor</th></tr></thead>
      <tbody>${METRICS.map(([m, label]) => {
        const s = p.metrics[m];
        return html`<tr data-metric=${m}><th scope="row" data-label="Metric"><abbr title=${label}>${m}</abbr></th>
          <td data-label="p75" data-testid="rum-p75">${value(m, s.p75)} <span class="muted small">${verdict(m, s.p75, t)}</span></td>
          <td data-label="Samples" data-testid="rum-count">${s.count}</td>
          <td data-label="Shares"><${Shares} s=${s} label=${`${m} on ${p.page === '*' ? 'every page' : p.page}`} /></td></tr>`;
      })}</tbody></table></div>`;
}

export function Rum() {
  const [range, setRange] = useState('24h');
  const rum = useLoad(`/admin/rum?range=${range}`);
  if (rum.missing) return html`<${Missing} title="Experience" what="Experience figures are" />`;
  const d = rum.data;
  return html`<section aria-labelledby="rum-title">
    <h2 id="rum-title">Experience</h2>
    <p class="muted">What people's browsers measured (web-vitals), p75: three visits in four were at least this good.</p>
    <fieldset class="segmented"><legend class="sr-only">Period</legend>
      ${[['24h', 'Last 24 hours'], ['7d', 'Last 7 days']].map(([v, l]) => html`<label>
        <input type="radio" name="rum-range" value=${v} checked=${range === v} onChange=${() => setRange(v)} /> ${l}</label>`)}
    </fieldset>
    <${ErrorLine} error=${rum.error} />
    ${!d ? html`<${Skeleton} rows=${6} />` : !d.pages.length ? html`<p class="muted" data-testid="rum-empty">No samples in this period yet.</p>` : html`
      <h3>Trend (p75 per ${d.unit}, every page)</h3>
      <div class="trends">${METRICS.map(([m, label]) => html`<figure class="trend-box"><figcaption>${m}</figcaption>
        <${Trend} series=${d.series} metric=${m} label=${label} /></figure>`)}</div>
      ${d.pages.map((p) => html`<${PageCard} key=${p.page} p=${p} t=${d.thresholds} />`)}`}
  </section>`;
}
