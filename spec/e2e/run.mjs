#!/usr/bin/env node
// spec/e2e/run.mjs — runs the browser scenarios (scenarios.mjs, features/*.mjs) in order
// against the server scripts/lib/e2e.sh started, one fresh browser context per
// scenario, and reports TAP. Each scenario fails on its own assertions and on
// any console error, page error, failed request or 4xx/5xx it did not declare.
// On failure the scenario's open pages are screenshotted and its console log
// written under E2E_ARTIFACTS. E2E_ONLY=regex runs only matching scenarios
// (the setup scenario always runs first: the others need its owner).
// E2E_MUTATE='[["url regex","text","replacement"], ...]' rewrites matching
// responses (the UI's scripts, styles, service worker) on their way into the
// browser: a way to check that a scenario fails when the behaviour it covers
// breaks, without touching the build.
import { writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, env } from './lib/browser.mjs';
import { Monitor } from './lib/monitor.mjs';
import { Tap } from './lib/tap.mjs';
import { scenarios as shellScenarios } from './scenarios.mjs';

// The shell's scenarios first (the first claims the install), then each
// feature's file in features/ (features/<name>.mjs exports `scenarios`), by name.
const scenarios = [...shellScenarios];
for (const f of readdirSync(new URL('./features/', import.meta.url)).filter((n) => n.endsWith('.mjs')).sort()) {
  scenarios.push(...(await import(`./features/${f}`)).scenarios);
}

const E = env();
const tap = new Tap();
const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY, 'i') : null;
const list = scenarios.filter((s, i) => i === 0 || !only || only.test(s.name));
const mutations = JSON.parse(process.env.E2E_MUTATE || '[]').map(([u, a, b]) => [new RegExp(u), a, b]);
const consoleLog = join(E.artifacts, 'console.log');
writeFileSync(consoleLog, '');

const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);

class Run {
  constructor(browser, index, name) {
    this.browser = browser;
    this.base = E.base;
    this.setupUrl = E.setupUrl;
    this.artifacts = E.artifacts;
    this.prefix = `${String(index).padStart(2, '0')}-${slug(name)}`;
    this.monitor = new Monitor();
    this.contexts = [];
    this.notes = [];
  }
  async newContext(opts = {}) {
    const ctx = await this.browser.newContext({ baseURL: this.base, ...opts });
    ctx.setDefaultTimeout(10000);
    ctx.setDefaultNavigationTimeout(15000);
    this.monitor.attach(ctx);
    this.contexts.push(ctx);
    if (mutations.length) {
      await ctx.route((u) => mutations.some(([re]) => re.test(u.href)), async (route) => {
        const res = await route.fetch();
        let body = await res.text();
        for (const [re, from, to] of mutations) if (re.test(route.request().url())) body = body.split(from).join(to);
        await route.fulfill({ response: res, body, headers: { ...res.headers(), 'content-encoding': 'identity' } });
      });
    }
    return ctx;
  }
  async newPage(opts = {}) {
    const ctx = await this.newContext(opts);
    return ctx.newPage();
  }
  artifact(name) { return join(this.artifacts, `${this.prefix}-${name}`); }
  note(text) { this.notes.push(text); }
  async screenshot(page, name, opts = {}) {
    const path = this.artifact(`${name}.png`);
    await page.screenshot({ path, ...opts });
    return path;
  }
  async failureArtifacts() {
    let i = 0;
    for (const ctx of this.contexts) {
      for (const p of ctx.pages()) {
        i++;
        await p.screenshot({ path: this.artifact(`failure-page${i}.png`), timeout: 5000 }).catch(() => {});
        const html = await p.content().catch(() => '');
        if (html) writeFileSync(this.artifact(`failure-page${i}.html`), html);
      }
    }
    writeFileSync(this.artifact('console.log'), this.monitor.log.join('\n') + '\n');
  }
  // Leave every open page as a user would (what a page sends on its way
  // out, such as web-vitals beacons, is then answered and checked too).
  async leavePages() {
    // Playwright does not see a beacon sent by a document already unloaded,
    // so 'pagehide' is dispatched first, while the page is still there.
    for (const ctx of this.contexts) {
      for (const p of ctx.pages()) await p.evaluate(() => window.dispatchEvent(new Event('pagehide'))).catch(() => {});
    }
    await this.monitor.idle();
    for (const ctx of this.contexts) {
      for (const p of ctx.pages()) await p.goto('about:blank').catch(() => {});
    }
    await this.monitor.idle();
  }
  async close() {
    for (const ctx of this.contexts) await ctx.close().catch(() => {});
    this.contexts = [];
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms / 1000}s`)), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

const started = Date.now();
tap.plan(list.length);
const browser = await launch();
let setupFailed = false;
for (const [i, sc] of list.entries()) {
  const run = new Run(browser, i + 1, sc.name);
  const t0 = Date.now();
  let error = null;
  if (setupFailed && sc.needsSetup !== false) {
    error = new Error('skipped: the first-run setup scenario failed, so no owner exists');
  } else {
    try {
      try {
        await withTimeout(sc.run(run), sc.timeout || 45000, sc.name);
      } catch (e) {
        // the others need the owner this one makes; a stray console error
        // after a good sign-in does not stop them, a failed sign-in does
        if (i === 0) setupFailed = true;
        throw e;
      }
      await withTimeout(run.leavePages(), 10000, `${sc.name} (leaving its pages)`);
      const bad = run.monitor.unexpected();
      if (bad.length) {
        error = new Error(`unexpected console errors / failed requests:\n${run.monitor.describe(bad).join('\n')}`);
      }
    } catch (e) {
      error = e;
      const bad = run.monitor.unexpected();
      if (bad.length) error.message += `\n(also seen: ${run.monitor.describe(bad).slice(0, 5).join(' | ')})`;
    }
  }
  appendFileSync(consoleLog, `## ${run.prefix}\n${run.monitor.log.join('\n')}\n`);
  if (error) {
    await run.failureArtifacts().catch(() => {});
    tap.notOk(sc.name, Date.now() - t0, error);
  } else {
    tap.ok(sc.name, Date.now() - t0);
  }
  for (const n of run.notes) tap.comment(n);
  await run.close();
}
await browser.close();
tap.comment(`scenarios ran in ${((Date.now() - started) / 1000).toFixed(1)}s; artifacts in ${E.artifacts}`);
process.exit(tap.failed ? 1 : 0);
