// pages/requests/timeline.js — a request's status history as an ordered
// list: every step with its time, the current one marked in words.
import { html } from 'htm/preact';
import { STATUS, when } from './data.js';

export function Timeline({ history }) {
  if (!history || !history.length) return null;
  const last = history.length - 1;
  return html`<ol class="rq-timeline" data-testid="timeline">${history.map((h, i) => html`
    <li key=${i} class=${i === last ? 'rq-now' : ''}>
      <span class="rq-step">${STATUS[h.status] || h.status}</span>${i === last ? html` <span class="sr-only">(current)</span>` : ''}
      <time class="muted" datetime=${h.at}>${when(h.at)}</time>
      ${h.message ? html`<span class="muted"> — ${h.message}</span>` : ''}
    </li>`)}</ol>`;
}
