// lib/axe.mjs — an accessibility check of the page as it is now with
// axe-core (injected from node_modules, not a CDN): the serious and critical
// violations, each with its rule, impact and the first nodes it names.
// Evaluated through the DevTools protocol: the app's CSP (script-src 'self')
// rightly refuses an injected <script>.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function axeViolations(page) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return res.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}
