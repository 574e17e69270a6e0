// pages/library/data.js — loading the library API from the page: a hook for
// one answer, the paged item source the grid reads from, and how a failure
// or a stale answer is told to the user.
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../../lib/api.js';
import { signOut } from '../../lib/session.js';

// GET path -> { data, error, loading }; reloads when path changes. A 401
// that is Plex refusing the user's token is shown, not redirected.
export function useApi(path) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path });
  useEffect(() => {
    if (!path) { setState({ data: null, error: null, loading: false }); return undefined; }
    const ctl = new AbortController();
    setState((s) => ({ data: s.data, error: null, loading: true }));
    load(path, ctl.signal).then(
      (data) => setState({ data, error: null, loading: false }),
      (error) => { if (error.name !== 'AbortError') setState({ data: null, error, loading: false }); });
    return () => ctl.abort();
  }, [path]);
  return state;
}

export function load(path, signal) {
  return api.get(path, { signal, redirect401: false }).catch((e) => {
    // the session itself is gone: the app's usual sign-in round trip
    if (e.status === 401 && e.code !== 'PLEX_REAUTH_REQUIRED') {
      return api.get('/auth/session').then(() => { throw e; });
    }
    throw e;
  });
}

// Pages of a listing, fetched on demand and kept while the listing is shown.
// base: '/plex/libraries/1/items?sort=title&dir=asc' ; onChange() after a page lands.
export function pagedSource(base, pageSize, onChange) {
  const pages = new Map();        // page index -> items | 'loading'
  let total = null;
  let stale = null;
  let error = null;
  const sep = base.includes('?') ? '&' : '?';
  function fetchPage(p) {
    if (pages.has(p)) return;
    pages.set(p, 'loading');
    load(`${base}${sep}start=${p * pageSize}&size=${pageSize}`).then((d) => {
      pages.set(p, d.items);
      total = d.total;
      if (d.stale) stale = d.fetchedAt;
      onChange();
    }, (e) => { pages.delete(p); error = e; onChange(); });
  }
  return {
    get total() { return total; },
    get stale() { return stale; },
    get error() { return error; },
    at(i) {
      const p = Math.floor(i / pageSize);
      const page = pages.get(p);
      if (page === undefined) fetchPage(p);
      return Array.isArray(page) ? page[i - p * pageSize] || null : null;
    },
    ensure(from, to) {
      for (let p = Math.floor(from / pageSize); p <= Math.floor(Math.max(from, to) / pageSize); p++) fetchPage(p);
    },
  };
}

function hhmm(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// "Plex is down: showing saved data from HH:MM" — polite, never colour alone.
export function StaleNote({ at }) {
  if (!at) return null;
  return html`<p class="notice lib-stale" role="status" data-testid="library-stale">
    <strong>Plex is not answering.</strong> Showing saved data from ${hhmm(at)}.</p>`;
}

export function LoadError({ error }) {
  if (!error) return null;
  if (error.code === 'PLEX_REAUTH_REQUIRED') {
    return html`<div class="notice" role="alert" data-testid="library-reauth">
      <p><strong>Plex asks you to sign in again.</strong> ${error.message}</p>
      <p><button type="button" class="btn btn-primary" onClick=${signOut}>Sign in again</button></p></div>`;
  }
  if (error.code === 'PLEX_UNAVAILABLE') {
    return html`<div class="alert" role="alert" data-testid="library-unavailable">
      <strong>Plex is not answering</strong><p>${error.message}</p></div>`;
  }
  if (error.status === 404) {
    return html`<div class="notice" role="alert" data-testid="library-not-found">
      <p>There is nothing here in the libraries you can see. <a href="/library">Back to the library</a>.</p></div>`;
  }
  return html`<div class="alert" role="alert" data-testid="library-error"><strong>Could not load the library</strong>
    <p>${describe(error)}</p></div>`;
}

export function runtime(ms) {
  if (!ms) return '';
  const m = Math.round(ms / 60000);
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}
