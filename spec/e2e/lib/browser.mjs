// spec/e2e/lib/browser.mjs — Debian's Chromium driven by playwright-core:
// launch options shared by the suite, the screenshots and the perf bench, and
// the environment they read (where the server is, where artifacts go).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';

export const LAUNCH = {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
};

export function launch() {
  return chromium.launch(LAUNCH);
}

// The server under test: E2E_BASE_URL (http://127.0.0.1:PORT) and the one-time
// setup link it printed (E2E_SETUP_URL), both set by scripts/lib/e2e.sh.
export function env() {
  const base = process.env.E2E_BASE_URL;
  if (!base) throw new Error('E2E_BASE_URL is not set (run through scripts/lib/e2e.sh)');
  const artifacts = resolve(process.env.E2E_ARTIFACTS || 'build-test-logs/e2e-artifacts');
  mkdirSync(artifacts, { recursive: true });
  return { base: base.replace(/\/$/, ''), setupUrl: process.env.E2E_SETUP_URL || '', artifacts };
}
