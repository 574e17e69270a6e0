// lib/ws.js — the WebSocket client (docs/architecture.md#websocket-events). start() connects to /ws
// (after sign-in: the session cookie authenticates the upgrade); messages are
// JSON {event, data}. On a drop it reconnects with exponential backoff and
// full jitter (1 s doubling to 30 s) and subscribes again to every topic
// still wanted. `state` is "offline" | "connecting" | "online" (the top
// bar's indicator). stop() closes for good (sign-out).
//
//   const off = on('service:status', (data) => ...);   // listen to an event
//   const unsub = subscribe('status');                  // join a topic (ref-counted)
import { store } from './store.js';

export const state = store('offline');
const topics = new Map();          // topic -> reference count
const listeners = new Map();       // event -> Set(fn)
let sock = null, timer = null, pinger = null, attempt = 0, running = false;
let onAuthLost = null;

const BASE = 1000, MAX = 30000;

export function setAuthLostHandler(fn) { onAuthLost = fn; }

function send(event, data) {
  if (sock && sock.readyState === 1) sock.send(JSON.stringify({ event, data }));
}

function emit(event, data) {
  for (const fn of listeners.get(event) || []) {
    try { fn(data); } catch (e) { console.warn('ws listener failed', event, e); }
  }
}

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  return () => listeners.get(event)?.delete(fn);
}

export function subscribe(topic) {
  const n = topics.get(topic) || 0;
  topics.set(topic, n + 1);
  if (n === 0) send('subscribe', { topic });
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = (topics.get(topic) || 1) - 1;
    if (left > 0) { topics.set(topic, left); return; }
    topics.delete(topic);
    send('unsubscribe', { topic });
  };
}

function connect() {
  clearTimeout(timer);
  if (!running) return;
  state.set('connecting');
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  let s;
  try { s = new WebSocket(url); } catch { return retry(); }
  sock = s;
  s.onopen = () => {
    attempt = 0;
    state.set('online');
    for (const topic of topics.keys()) send('subscribe', { topic });
    clearInterval(pinger);
    pinger = setInterval(() => send('ping', null), 25000);
  };
  s.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    if (msg && typeof msg.event === 'string') emit(msg.event, msg.data);
  };
  s.onclose = () => {
    if (sock !== s) return;
    sock = null;
    clearInterval(pinger);
    if (running) retry();
  };
  s.onerror = () => { /* onclose follows */ };
}

function retry() {
  state.set(navigator.onLine === false ? 'offline' : 'connecting');
  attempt++;
  // A refused upgrade looks like a plain close; after a few in a row, ask
  // whether the session is still alive (the hook sends the user to sign-in).
  if (attempt === 3 && onAuthLost) onAuthLost();
  const cap = Math.min(MAX, BASE * 2 ** Math.min(attempt - 1, 10));
  const delay = Math.max(250, Math.random() * cap);
  timer = setTimeout(connect, delay);
}

export function start() {
  if (running) return;
  running = true;
  attempt = 0;
  connect();
}

export function stop() {
  running = false;
  clearTimeout(timer);
  clearInterval(pinger);
  const s = sock;
  sock = null;
  if (s) s.close(1000, 'signed out');
  topics.clear();
  state.set('offline');
}

addEventListener('online', () => { if (running && !sock) { attempt = 0; connect(); } });
addEventListener('offline', () => { if (running) state.set('offline'); });
