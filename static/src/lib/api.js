// lib/api.js — the API client. Every call goes to /api/v1 with the session
// cookie; unsafe methods carry X-CSRF-Token (the token from /auth/session or
// the PIN answer, set with setCsrf). Failures throw ApiError, whose message
// is readable as is and whose requestId points at the server's log line:
//   401 -> the onUnauthorized hook (the app sends the user to sign-in and
//          back), unless the call passes {redirect401: false};
//   429 -> "Too many requests — try again in N s." (Retry-After);
//   no network -> code NETWORK.
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
let csrf = null;
let onUnauthorized = null;

export class ApiError extends Error {
  constructor(status, code, message, requestId, retryAfter, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId || null;
    this.retryAfter = retryAfter ?? null;
    this.details = details;
  }
}

export function setCsrf(token) { csrf = token || null; }
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// A message for people: the error's text, then the request id if any.
export function describe(err) {
  if (!err) return '';
  const msg = err.message || String(err);
  return err.requestId ? `${msg} (request ${err.requestId})` : msg;
}

function retrySeconds(res, body) {
  const v = body?.error?.retryAfter ?? res.headers.get('Retry-After');
  const n = Math.ceil(Number(v));
  return Number.isFinite(n) && n > 0 ? n : null;
}

export async function request(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE.has(method) && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch('/api/v1' + path, {
      method, headers, credentials: 'same-origin', signal: opts.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', 'MediaNest cannot be reached. Check your connection and try again.');
  }
  let data = null;
  if ((res.headers.get('Content-Type') || '').includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (res.ok) return data;
  const e = (data && data.error) || {};
  const requestId = e.requestId || res.headers.get('X-Request-Id');
  let message = e.message || `The server answered ${res.status} ${res.statusText || ''}`.trim();
  let retryAfter = null;
  if (res.status === 429) {
    retryAfter = retrySeconds(res, data);
    message = retryAfter ? `Too many requests — try again in ${retryAfter} s.` : 'Too many requests — try again shortly.';
  }
  const err = new ApiError(res.status, e.code || `HTTP_${res.status}`, message, requestId, retryAfter, e.details);
  err.body = data;   // answers that are not the error envelope (POST /admin/reload's 409/422)
  if (res.status === 401 && opts.redirect401 !== false && onUnauthorized) onUnauthorized(err);
  throw err;
}

export const api = {
  get: (p, o) => request('GET', p, undefined, o),
  post: (p, b = {}, o) => request('POST', p, b, o),
  put: (p, b = {}, o) => request('PUT', p, b, o),
  patch: (p, b = {}, o) => request('PATCH', p, b, o),
  del: (p, o) => request('DELETE', p, undefined, o),
};
