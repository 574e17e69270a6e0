// spec/e2e/lib/monitor.mjs — watches every page of the browser contexts a
// scenario opens and records what must not happen on a healthy page: console
// errors, uncaught page errors, failed requests and 4xx/5xx answers.
// A scenario declares what it expects (allow()); whatever else was seen makes
// it fail. Every console message is also kept, for the artifact log.

const ABORTED = /net::ERR_ABORTED/;

export class Monitor {
  constructor() {
    this.t0 = Date.now();
    this.events = [];   // {at, kind, text, url, status, method, page}
    this.log = [];      // every console line and problem, for the artifact file
    this.rules = [];    // {kind?, status?, url?: RegExp, text?: RegExp, since, why}
    this.inflight = new Set();
  }

  // Resolves once no request has been in flight for `quiet` ms (or after
  // `max` ms): beacons sent as a page is left must be answered and checked.
  async idle({ quiet = 300, max = 3000 } = {}) {
    const end = Date.now() + max;
    let calm = Date.now();
    while (Date.now() < end) {
      if (this.inflight.size) calm = Date.now();
      else if (Date.now() - calm >= quiet) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  // allow({kind, status, url, text, why}) — from now on, events matching every
  // given field are expected. An allowed HTTP status also allows the console
  // line Chromium prints for it ("Failed to load resource: ... status of 401").
  allow(rule) {
    this.rules.push({ since: Date.now(), ...rule });
  }

  attach(context) {
    context.on('request', (r) => this.inflight.add(r));
    context.on('requestfinished', (r) => this.inflight.delete(r));
    context.on('console', (m) => {
      const page = safe(() => m.page()?.url()) || '';
      const loc = safe(() => m.location()?.url) || '';
      this.log.push(`${stamp(this.t0)} console.${m.type()} [${page}] ${m.text()}${loc ? ` (${loc})` : ''}`);
      if (m.type() === 'error') this.add({ kind: 'console', text: m.text(), url: loc, page });
    });
    context.on('weberror', (e) => {
      const err = e.error();
      const page = safe(() => e.page()?.url()) || '';
      this.add({ kind: 'pageerror', text: String(err && err.stack || err), url: page, page });
    });
    context.on('requestfailed', (r) => {
      this.inflight.delete(r);
      const text = r.failure()?.errorText || 'failed';
      // A request cut short because its page navigated or closed is the
      // browser's doing, not the page's: logged, not counted.
      if (ABORTED.test(text)) { this.log.push(`${stamp(this.t0)} aborted ${r.method()} ${r.url()}`); return; }
      this.add({ kind: 'requestfailed', method: r.method(), url: r.url(), text, page: pageUrl(r) });
    });
    context.on('response', (r) => {
      if (r.status() < 400) return;
      const req = r.request();
      this.add({ kind: 'http', status: r.status(), method: req.method(), url: r.url(), text: `${r.status()} ${r.statusText()}`, page: pageUrl(req) });
    });
  }

  add(ev) {
    ev.at = Date.now();
    this.events.push(ev);
    this.log.push(`${stamp(this.t0)} ${ev.kind}${ev.status ? ' ' + ev.status : ''} ${ev.method || ''} ${ev.url || ''} ${ev.text || ''} [page ${ev.page || ''}]`);
  }

  matches(rule, ev) {
    if (ev.at < rule.since) return false;
    if (rule.kind && rule.kind !== ev.kind) {
      // an allowed HTTP error also covers Chromium's console echo of it
      if (!(rule.kind === 'http' && ev.kind === 'console' && /Failed to load resource/.test(ev.text) &&
            (!rule.status || ev.text.includes(`status of ${rule.status}`)))) return false;
    } else if (rule.status && rule.status !== ev.status) return false;
    if (rule.url && !rule.url.test(ev.url || '')) return false;
    if (rule.text && rule.kind === ev.kind && !rule.text.test(ev.text || '')) return false;
    return true;
  }

  unexpected() {
    return this.events.filter((ev) => !this.rules.some((r) => this.matches(r, ev)));
  }

  describe(evs) {
    return evs.map((e) => `${e.kind}${e.status ? ' ' + e.status : ''} ${e.method || ''} ${e.url || ''} ${e.text || ''} (on ${e.page || '?'})`.replace(/\s+/g, ' ').trim());
  }
}

function safe(f) { try { return f(); } catch { return undefined; } }
function pageUrl(req) { return safe(() => req.frame().page().url()) || safe(() => req.frame().url()) || ''; }
function stamp(t0) { return `+${((Date.now() - t0) / 1000).toFixed(3)}s`; }
