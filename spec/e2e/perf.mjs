#!/usr/bin/env node
// spec/e2e/perf.mjs — the browser performance measurement behind bench/ui-perf:
// FCP and LCP of the sign-in page and of the signed-in dashboard shell, cold
// and warm, under 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up and a 4x slower
// CPU (lib/perf.mjs). Writes a Markdown report.
//   node perf.mjs [--runs N] [--out FILE]
// Needs E2E_BASE_URL and E2E_SETUP_URL (a fresh server: bench/ui-perf starts one).
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { launch, env, CHROMIUM } from './lib/browser.mjs';
import { measure, ownerState, summarize, THROTTLE, TARGETS, r } from './lib/perf.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const runs = Number(opt('--runs', 5));
const out = opt('--out', null);

const E = env();
const browser = await launch();
const version = browser.version();
let res;
try {
  const state = await ownerState(browser, E.base, E.setupUrl || undefined);
  res = await measure(browser, { base: E.base, state, runs, log: (s) => console.error(`ui-perf: ${s}`) });
} finally {
  await browser.close();
}
const { rows, met } = summarize(res);

const sh = (cmd, a) => { try { return execFileSync(cmd, a, { encoding: 'utf8' }).trim(); } catch { return '?'; } };
const cpu = sh('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]);
const kb = (b) => (b == null ? 'n/a' : `${(b / 1024).toFixed(1)} KB`);
const lines = [
  `# UI performance — ${new Date().toISOString().slice(0, 10)}`,
  '',
  'Produced by `bench/ui-perf` (spec/e2e/perf.mjs): `medianest serve --demo` on a fresh database,',
  `headless Chromium ${version} (${CHROMIUM}) driven by playwright-core, one fresh browser context per run.`,
  '',
  `Conditions (Chrome DevTools Protocol): Network.emulateNetworkConditions latency ${THROTTLE.latency} ms,`,
  `download ${(THROTTLE.down * 8 / 1e6).toFixed(2)} Mbit/s, upload ${(THROTTLE.up * 8 / 1e3).toFixed(0)} kbit/s;`,
  `Emulation.setCPUThrottlingRate ${THROTTLE.cpu}x. Viewport 412x823. Machine: ${cpu}, ${sh('nproc', [])} cores.`,
  '',
  '- **cold**: a fresh context (empty HTTP cache, no service worker), first visit.',
  '- **warm**: the same context after the service worker is active, second visit.',
  '- **sign-in**: `/` signed out (the sign-in page); **shell**: `/` with an owner session (the dashboard shell).',
  '- FCP/LCP from PerformanceObserver (`paint`, `largest-contentful-paint`) in the page, counted from the moment',
  '  the navigation was asked for; "HTML" is when the document had fully arrived (navigation entry responseEnd);',
  '  "transferred" is what went over the network (0 for service-worker and HTTP-cache hits).',
  `- Medians of ${runs} runs each.`,
  '',
  '| page | visit | FCP | LCP | HTML | transferred | LCP element |',
  '| --- | --- | ---: | ---: | ---: | ---: | --- |',
  ...rows.map((x) => `| ${x.page === 'signin' ? 'sign-in' : 'shell'} | ${x.mode} | ${r(x.fcp)} | ${r(x.lcp)} | ${r(x.html)} | ${kb(x.transfer)} | ${x.lcpEl || ''} |`),
  '',
  `Targets (cold): FCP < ${TARGETS.fcp} ms — **${met.fcp ? 'met' : 'not met'}**; LCP < ${TARGETS.lcp} ms — **${met.lcp ? 'met' : 'not met'}**.`,
  '',
  'Every run:',
  '',
  '| page | visit | run | FCP | LCP | HTML | transferred | page controlled by the service worker |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
];
for (const [page, byMode] of Object.entries(res)) {
  for (const [mode, list] of Object.entries(byMode)) {
    list.forEach((x, i) => lines.push(`| ${page === 'signin' ? 'sign-in' : 'shell'} | ${mode} | ${i + 1} | ${r(x.fcp)} | ${r(x.lcp)} | ${r(x.html)} | ${kb(x.transfer)} | ${x.controlled ? 'yes' : 'no'} |`));
  }
}
lines.push('', 'DevTools emulation is per target: the page\'s throttling does not cover what its service worker',
  'fetches (on a warm visit, the navigation itself and the /api calls), so the worker is throttled the same way',
  'through a browser-level DevTools session (its CPU is not slowed). Cached assets come from the worker\'s cache.', '');
const md = lines.join('\n');
if (out) writeFileSync(out, md); else process.stdout.write(md);
console.error(`ui-perf: cold targets: FCP ${met.fcp ? 'met' : 'NOT met'}, LCP ${met.lcp ? 'met' : 'NOT met'}${out ? `; wrote ${out}` : ''}`);
