// lib/store.js — a value with subscribers, and a hook that re-renders a
// component when it changes. The app keeps its few global states in these
// (the session, the WebSocket state, the theme).
import { useEffect, useState } from 'preact/hooks';

export function store(initial) {
  let value = initial;
  const subs = new Set();
  return {
    get: () => value,
    set(v) { if (v === value) return; value = v; for (const fn of [...subs]) fn(v); },
    subscribe(fn) { subs.add(fn); return () => subs.delete(fn); },
  };
}

export function useStore(s) {
  const [v, setV] = useState(s.get());
  useEffect(() => { setV(s.get()); return s.subscribe(setV); }, [s]);
  return v;
}
