// lib/errors.js — reports the page's uncaught errors and unhandled promise
// rejections to POST /api/v1/errors ({message, stack, url, line, column,
// userAgent, release}), once per fingerprint (message + first stack line)
// per page load, at most 10 per load: a render loop sends one report, not a
// flood. Fire and forget: a report that cannot be sent is dropped, never
// retried, and never itself reported.
const sent = new Set();
const MAX_PER_LOAD = 10;
// the hashed name of the module that holds this code: which build it was
const RELEASE = (import.meta.url.match(/[^/]+\.js/) || ['dev'])[0].slice(0, 64);

function send(message, stack, line, column) {
  message = String(message || 'Unknown error').slice(0, 2000);
  const key = `${message}\n${(stack || '').split('\n').find((l) => /:\d+:\d+/.test(l)) || ''}`;
  if (sent.has(key) || sent.size >= MAX_PER_LOAD) return;
  sent.add(key);
  const body = JSON.stringify({
    message, stack: stack ? String(stack).slice(0, 12000) : undefined,
    // the path only: query strings and fragments can hold tokens
    url: location.origin + location.pathname,
    line: Number.isInteger(line) ? line : undefined, column: Number.isInteger(column) ? column : undefined,
    userAgent: navigator.userAgent.slice(0, 512), release: RELEASE,
  });
  fetch('/api/v1/errors', { method: 'POST', body, keepalive: true, credentials: 'same-origin',
                            headers: { 'Content-Type': 'application/json' } }).catch(() => {});
}

export function startErrorReports() {
  addEventListener('error', (e) => {
    // a resource that failed to load (img, script) is not a script error
    if (!e.error && !e.message) return;
    send(e.message || (e.error && e.error.message), e.error && e.error.stack, e.lineno, e.colno);
  });
  addEventListener('unhandledrejection', (e) => {
    const r = e.reason;
    const msg = r instanceof Error ? `Unhandled rejection: ${r.message}` : `Unhandled rejection: ${String(r)}`;
    send(msg, r && r.stack, undefined, undefined);
  });
}
