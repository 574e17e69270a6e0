// pages/requests/detail.js — a title's details in a modal dialog, and what
// the viewer can do: request it (a season picker for shows, with seasons
// already available or requested shown and disabled), or follow the request
// someone else made. Errors a user can act on are said in words.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { describe } from '../../lib/api.js';
import { AVAILABILITY, poster, details, createRequest, follow, unfollow, later } from './data.js';

function Seasons({ seasons, chosen, setChosen }) {
  const toggle = (n) => setChosen(chosen.includes(n) ? chosen.filter((x) => x !== n) : [...chosen, n]);
  return html`<fieldset class="rq-seasons">
    <legend>Seasons</legend>
    ${seasons.map((s) => {
      const taken = s.availability !== 'none';
      return html`<label key=${s.seasonNumber} class=${taken ? 'rq-taken' : ''}>
        <input type="checkbox" disabled=${taken} checked=${taken || chosen.includes(s.seasonNumber)}
          onChange=${() => toggle(s.seasonNumber)} data-testid=${`season-${s.seasonNumber}`} />
        Season ${s.seasonNumber} <span class="muted">(${s.episodeCount} episodes${taken ? `, ${AVAILABILITY[s.availability]}` : ''})</span>
      </label>`;
    })}
  </fieldset>`;
}

// What to say for an error, and whether following is offered instead.
function explain(e) {
  if (e.code === 'ALREADY_REQUESTED') return { text: e.message, followId: e.details?.canFollow && !e.details?.following ? e.details.requestId : null };
  if (e.status === 429) return { text: `You have reached the request limit. You can request again ${later(e.retryAfter)}.` };
  return { text: describe(e) };
}

export function Detail({ item, onClose, onChanged }) {
  const ref = useRef(null);
  const [d, setD] = useState(null);
  const [error, setError] = useState(null);
  const [followId, setFollowId] = useState(null);
  const [chosen, setChosen] = useState([]);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(null);

  useEffect(() => {
    const dlg = ref.current;
    if (dlg && !dlg.open) dlg.showModal();
    const close = () => onClose();
    dlg.addEventListener('close', close);
    return () => dlg.removeEventListener('close', close);
  }, []);
  const load = () => details(item.mediaType, item.tmdbId).then(setD, (e) => setError(explain(e).text));
  useEffect(() => { load(); }, [item.mediaType, item.tmdbId]);

  const run = async (fn, message) => {
    setBusy(true); setError(null); setFollowId(null);
    try {
      const r = await fn();
      setDone(message(r));
      onChanged(r);
      await load();
    } catch (e) {
      const x = explain(e);
      setError(x.text); setFollowId(x.followId);
    } finally { setBusy(false); }
  };
  const request = () => run(() => createRequest({ tmdbId: item.tmdbId, mediaType: item.mediaType,
    ...(item.mediaType === 'tv' && chosen.length ? { seasons: chosen } : {}) }),
    (r) => `Requested. Status: ${r.status === 'pending' ? 'waiting for approval' : r.status}.`);
  const doFollow = (id) => run(() => follow(id), () => 'You are following this request; you will be told when it is available.');
  const doUnfollow = (id) => run(() => unfollow(id), () => 'You no longer follow this request.');

  const src = d && poster(d.posterPath, 'w342');
  const requestable = d && d.availability !== 'available' && !(d.requestId && d.mediaType === 'movie');
  const canFollow = d && d.requestId && !d.requested && !d.following;
  return html`<dialog ref=${ref} class="rq-dialog" aria-labelledby="rq-detail-title" data-testid="detail">
    <div class="rq-detail">
      ${src && html`<img src=${src} alt="" width="342" height="513" />`}
      <div>
        <h2 id="rq-detail-title">${item.title}${item.year ? ` (${item.year})` : ''}</h2>
        ${!d && !error && html`<p class="muted" role="status">Loading…</p>`}
        ${d && html`
          <p><span class=${`rq-badge rq-${d.availability}`} data-testid="detail-availability">${AVAILABILITY[d.availability]}</span>
            ${d.following ? html` <span class="muted">· You follow this request</span>` : ''}
            ${d.requested ? html` <span class="muted">· You requested it</span>` : ''}</p>
          <p>${d.overview}</p>
          ${d.genres && d.genres.length ? html`<p class="muted">${d.genres.join(', ')}${d.runtime ? ` · ${d.runtime} min` : ''}</p>` : ''}
          ${d.seasons && requestable && html`<${Seasons} seasons=${d.seasons} chosen=${chosen} setChosen=${setChosen} />`}
          <div class="rq-actions">
            ${requestable && html`<button class="btn btn-primary" type="button" disabled=${busy || (d.seasons && !chosen.length && d.seasons.every((s) => s.availability !== 'none'))}
              onClick=${request} data-testid="request-button">${d.seasons && chosen.length ? `Request ${chosen.length} season${chosen.length > 1 ? 's' : ''}` : 'Request'}</button>`}
            ${canFollow && html`<button class="btn" type="button" disabled=${busy} onClick=${() => doFollow(d.requestId)}
              data-testid="follow-button">Follow this request</button>`}
            ${d.following && html`<button class="btn" type="button" disabled=${busy} onClick=${() => doUnfollow(d.requestId)}>Stop following</button>`}
          </div>`}
        <div aria-live="polite" class="rq-say">
          ${done && html`<p class="notice" data-testid="detail-done">${done}</p>`}
          ${error && html`<div class="alert" role="alert" data-testid="detail-error"><p>${error}</p>
            ${followId && html`<button class="btn btn-small" type="button" onClick=${() => doFollow(followId)}
              data-testid="follow-instead">Follow that request instead</button>`}</div>`}
        </div>
      </div>
    </div>
    <form method="dialog"><button class="btn rq-close" type="submit" aria-label="Close">Close</button></form>
  </dialog>`;
}
