// lib/theme.js — dark (default) or light, remembered in localStorage;
// theme-boot.js applies the saved one before first paint.
import { store } from './store.js';

const COLORS = { dark: '#0f1115', light: '#f6f7f9' };
export const theme = store(document.documentElement.getAttribute('data-theme') === 'light' ? 'light' : 'dark');

export function setTheme(t) {
  t = t === 'light' ? 'light' : 'dark';
  document.documentElement.setAttribute('data-theme', t);
  const meta = document.querySelector('meta[name=theme-color]');
  if (meta) meta.setAttribute('content', COLORS[t]);
  try { localStorage.setItem('mn.theme', t); } catch { /* private mode: not remembered */ }
  theme.set(t);
}

export function toggleTheme() { setTheme(theme.get() === 'dark' ? 'light' : 'dark'); }
