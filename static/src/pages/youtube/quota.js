// pages/youtube/quota.js — how much of your space and of this hour's
// downloads you have used, and when the hour resets.
import { html } from 'htm/preact';
import { bytes, time } from './format.js';

export function Quota({ q }) {
  if (!q) return null;
  const pct = q.quotaBytes > 0 ? Math.min(100, Math.round((q.usedBytes / q.quotaBytes) * 100)) : 100;
  const full = q.usedBytes >= q.quotaBytes;
  const limited = q.downloadsThisHour >= q.hourlyLimit;
  return html`<section class="yt-panel yt-quota" aria-labelledby="yt-quota-title" data-testid="yt-quota">
    <h2 id="yt-quota-title">Your limits</h2>
    <p><span data-testid="yt-used">${bytes(q.usedBytes)}</span> of ${bytes(q.quotaBytes)} used${full ? ' — full: delete downloads to make room' : ''}</p>
    <progress max="100" value=${pct} aria-label=${`Space used: ${pct}%`}></progress>
    <p>${q.downloadsThisHour} of ${q.hourlyLimit} new downloads this hour${limited && q.resetsAt ? ` — more from ${time(q.resetsAt)}` : ''}
      ${!limited && q.resetsAt ? html`<span class="muted"> (the count drops from ${time(q.resetsAt)})</span>` : ''}</p>
  </section>`;
}
