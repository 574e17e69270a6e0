// build.mjs — builds the web UI from src/ into dist/ (served by the runtime's
// static server, core/http_static.c).
//
//   node build.mjs [--budget-js=BYTES] [--budget-css=BYTES] [--out=DIR]
//
// Steps: esbuild bundles src/main.js (ES modules, code splitting, minified)
// plus src/theme-boot.js (the tiny blocking script that applies the saved
// theme before first paint) and src/app.css; every asset is renamed
// "<name>.<hash>.<ext>" (sha-256 of its final bytes, hex, with at least one
// digit so the static server recognises it as immutable); index.html,
// offline.html, the manifest and the service worker (versioned by the build
// hash, with the list of files to precache) are written from templates;
// icons are drawn (tools/icons.mjs); every compressible file gets .gz and .br
// siblings; the first-load budget is checked (gzipped JS <= 60 KB, CSS <= 15
// KB by default; 1 KB = 1000 bytes) and the build FAILS above it.
//
// The new tree is built in a temporary directory next to dist/ and swapped
// in at the end, so a failed build leaves the previous dist/ untouched.
import { build } from 'esbuild';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { iconSvg, iconPng } from './tools/icons.mjs';

const ROOT = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.join(ROOT, 'src');
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = a.match(/^--([\w-]+)(?:=(.*))?$/);
  if (!m) { console.error(`build: unknown argument ${a}`); process.exit(2); }
  return [m[1], m[2] ?? true];
}));
const OUT = path.resolve(ROOT, args.out || 'dist');
const BUDGET_JS = Number(args['budget-js'] || 60_000);
const BUDGET_CSS = Number(args['budget-css'] || 15_000);
const THEME = { dark: '#0f1115', light: '#f6f7f9', accent: '#f5a524' };

const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
function hashName(base, ext, buf) {
  let h = sha(buf).slice(0, 12);
  if (!/\d/.test(h)) h = (parseInt(h[0], 16) % 10) + h.slice(1);   // immutable needs a digit
  return `${base}.${h}${ext}`;
}

const tmp = `${OUT}.tmp-${process.pid}`;
fs.rmSync(tmp, { recursive: true, force: true });
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
fs.mkdirSync(path.join(tmp, 'assets'), { recursive: true });
fs.mkdirSync(path.join(tmp, 'icons'), { recursive: true });
const written = new Map();                  // url -> Buffer (for compression and the report)
function emit(url, data) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const file = path.join(tmp, url);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
  written.set(url, buf);
  return url;
}

// ---- JavaScript and CSS ---------------------------------------------------

const result = await build({
  entryPoints: { main: path.join(SRC, 'main.js'), 'theme-boot': path.join(SRC, 'theme-boot.js'),
                 app: path.join(SRC, 'app.css') },
  bundle: true, splitting: true, format: 'esm', minify: true, target: ['es2020'],
  outdir: path.join(tmp, 'assets'), entryNames: '[name]', chunkNames: 'chunk-[hash]',
  absWorkingDir: ROOT, write: false, metafile: true, legalComments: 'none', charset: 'utf8', logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

// Rename outputs to content hashes, dependencies first (an importer's hash
// covers the final names of what it imports).
const outs = new Map();                     // esbuild path -> {contents, imports, entry}
for (const f of result.outputFiles) {
  const rel = path.relative(tmp, f.path);
  const meta = result.metafile.outputs[path.relative(ROOT, f.path)];
  outs.set(f.path, { rel, text: f.text, meta });
}
const finalUrl = new Map();                 // absolute esbuild path -> "/assets/x.hash.ext"
function finalise(p, seen = new Set()) {
  if (finalUrl.has(p)) return finalUrl.get(p);
  if (seen.has(p)) throw new Error(`build: import cycle through ${p}`);
  seen.add(p);
  const o = outs.get(p);
  let text = o.text;
  for (const imp of o.meta?.imports || []) {
    if (imp.external) continue;
    const dep = path.resolve(ROOT, imp.path);
    if (!outs.has(dep)) continue;
    const url = finalise(dep, seen);
    const oldBase = path.basename(dep), newBase = path.basename(url);
    text = text.split(`"./${oldBase}"`).join(`"./${newBase}"`);
  }
  const ext = path.extname(o.rel), base = path.basename(o.rel, ext);
  const url = '/assets/' + hashName(base.replace(/^chunk-.*/, 'chunk'), ext, Buffer.from(text));
  emit(url, text);
  finalUrl.set(p, url);
  o.url = url;
  return url;
}
for (const p of outs.keys()) if (!p.endsWith('.map')) finalise(p);

const byEntry = (name) => [...outs.entries()].find(([, o]) => o.meta?.entryPoint && o.rel === `assets/${name}`);
const [mainPath, mainOut] = byEntry('main.js');
const [, themeOut] = byEntry('theme-boot.js');
const [, cssOut] = byEntry('app.css');

// The first load: main.js and what it imports statically (transitively).
const firstLoadJs = new Set([themeOut.url]);
(function walk(p) {
  const o = outs.get(p);
  firstLoadJs.add(o.url);
  for (const imp of o.meta.imports) if (imp.kind === 'import-statement' && outs.has(path.resolve(ROOT, imp.path))) walk(path.resolve(ROOT, imp.path));
})(mainPath);
const preloads = [...firstLoadJs].filter((u) => u !== mainOut.url && u !== themeOut.url);

// ---- icons and manifest ---------------------------------------------------

const icons = {};
icons.svg = emit('/icons/' + hashName('icon', '.svg', Buffer.from(iconSvg())), iconSvg());
for (const [key, size, opts] of [['png192', 192, {}], ['png512', 512, {}], ['apple', 180, {}],
                                 ['mask512', 512, { maskable: true }], ['png32', 32, {}]]) {
  const png = iconPng(size, opts);
  icons[key] = emit('/icons/' + hashName(`icon-${opts.maskable ? 'maskable-' : ''}${size}`, '.png', png), png);
}

const manifest = {
  name: 'MediaNest', short_name: 'MediaNest',
  description: 'Your Plex server\'s portal: library, requests, downloads and service status.',
  id: '/', start_url: '/', scope: '/', display: 'standalone',
  background_color: THEME.dark, theme_color: THEME.dark,
  icons: [
    { src: icons.svg, sizes: 'any', type: 'image/svg+xml' },
    { src: icons.png192, sizes: '192x192', type: 'image/png' },
    { src: icons.png512, sizes: '512x512', type: 'image/png' },
    { src: icons.mask512, sizes: '512x512', type: 'image/png', purpose: 'maskable' },
  ],
};
const manifestUrl = emit('/' + hashName('manifest', '.webmanifest', Buffer.from(JSON.stringify(manifest))),
  JSON.stringify(manifest, null, 1));

// ---- HTML -------------------------------------------------------------------

function template(name, vars) {
  let s = fs.readFileSync(path.join(SRC, name), 'utf8');
  s = s.replace(/\{\{(\w+)\}\}/g, (_, k) => {
    if (!(k in vars)) throw new Error(`build: ${name}: no value for {{${k}}}`);
    return vars[k];
  });
  return s;
}
const htmlVars = {
  css: cssOut.url, js: mainOut.url, themeJs: themeOut.url, manifest: manifestUrl,
  iconSvg: icons.svg, icon32: icons.png32, appleIcon: icons.apple, themeColor: THEME.dark,
  logo: iconSvg().trim().replace('<svg ', '<svg class="boot-logo" width="56" height="56" aria-hidden="true" focusable="false" '),
  preloads: preloads.map((u) => `<link rel="modulepreload" href="${u}">`).join('\n'),
};
emit('/index.html', template('index.html', htmlVars));
emit('/offline.html', template('offline.html', htmlVars));

// ---- service worker -------------------------------------------------------

const precache = ['/offline.html', cssOut.url, themeOut.url, ...firstLoadJs, manifestUrl,
                  icons.svg, icons.png192, icons.png32];
const version = sha(Buffer.concat([...written.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
  .map(([u, b]) => Buffer.concat([Buffer.from(u), b])))).slice(0, 16);
const swSrc = fs.readFileSync(path.join(SRC, 'sw.js'), 'utf8')
  .replace('const BUILD = __BUILD__;', () => 'const BUILD = ' + JSON.stringify({ version, precache: [...new Set(precache)] }) + ';');
const sw = await build({
  stdin: { contents: swSrc, resolveDir: SRC, sourcefile: 'sw.js' }, bundle: true, minify: true,
  format: 'iife', target: ['es2020'], write: false, legalComments: 'none',
});
emit('/sw.js', sw.outputFiles[0].text);
emit('/robots.txt', 'User-agent: *\nDisallow: /\n');

// ---- compression ------------------------------------------------------------

const COMPRESSIBLE = /\.(js|css|html|svg|webmanifest|json|txt)$/;
const sizes = {};
for (const [url, buf] of [...written]) {
  if (!COMPRESSIBLE.test(url)) continue;
  const gz = zlib.gzipSync(buf, { level: 9 });
  const br = zlib.brotliCompressSync(buf, { params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: buf.length } });
  sizes[url] = { raw: buf.length, gz: gz.length, br: br.length };
  if (gz.length < buf.length) fs.writeFileSync(path.join(tmp, url + '.gz'), gz);
  if (br.length < buf.length) fs.writeFileSync(path.join(tmp, url + '.br'), br);
}

// ---- budget -----------------------------------------------------------------

const kb = (n) => (n / 1000).toFixed(1) + ' KB';
const jsGz = [...firstLoadJs].reduce((n, u) => n + sizes[u].gz, 0);
const cssGz = sizes[cssOut.url].gz;
const lines = [];
for (const u of [...firstLoadJs, cssOut.url]) {
  lines.push(`  ${u.padEnd(40)} ${kb(sizes[u].raw).padStart(9)} raw ${kb(sizes[u].gz).padStart(9)} gz ${kb(sizes[u].br).padStart(9)} br`);
}
const lazy = [...outs.values()].map((o) => o.url).filter((u) => u && u.endsWith('.js') && !firstLoadJs.has(u));
for (const u of lazy) lines.push(`  ${u.padEnd(40)} ${kb(sizes[u].gz).padStart(9)} gz (loaded later)`);
console.log(`web build ${version}: first load`);
console.log(lines.join('\n'));
console.log(`  budget: JS ${kb(jsGz)} gz of ${kb(BUDGET_JS)}, CSS ${kb(cssGz)} gz of ${kb(BUDGET_CSS)}`);

const report = { version, budget: { js: BUDGET_JS, css: BUDGET_CSS }, firstLoad: { jsGzip: jsGz, cssGzip: cssGz,
  files: [...firstLoadJs, cssOut.url] }, lazy, sizes };
fs.writeFileSync(path.join(tmp, 'build.json'), JSON.stringify(report, null, 1) + '\n');

if (jsGz > BUDGET_JS || cssGz > BUDGET_CSS) {
  fs.rmSync(tmp, { recursive: true, force: true });
  console.error(`web build FAILED: over budget (JS ${kb(jsGz)} > ${kb(BUDGET_JS)} or CSS ${kb(cssGz)} > ${kb(BUDGET_CSS)} gzipped)`);
  process.exit(1);
}

// ---- swap in ------------------------------------------------------------------

const old = `${OUT}.old-${process.pid}`;
if (fs.existsSync(OUT)) fs.renameSync(OUT, old);
fs.renameSync(tmp, OUT);
fs.rmSync(old, { recursive: true, force: true });
console.log(`web build: wrote ${path.relative(process.cwd(), OUT) || OUT}`);
