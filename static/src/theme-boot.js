// theme-boot.js — runs before first paint (a classic, blocking script: the
// CSP forbids inline scripts). Applies the saved theme ("light" | "dark",
// dark by default) to <html>, so nothing flashes.
try {
  var t = localStorage.getItem('mn.theme');
  document.documentElement.setAttribute('data-theme', t === 'light' ? 'light' : 'dark');
} catch (e) { /* storage blocked: keep the default */ }
