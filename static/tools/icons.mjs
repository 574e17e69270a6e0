// tools/icons.mjs — the MediaNest icon, drawn once as geometry and emitted
// both as SVG and as PNGs (rasterised here, 4x4 supersampled, encoded with
// node's zlib: no native dependencies).
//
// The mark: a play triangle resting in a nest (the lower half of a ring),
// amber on a dark rounded square. The maskable variant fills the whole
// square and keeps the mark inside the central safe zone.
import zlib from 'node:zlib';

const BG = [0x16, 0x18, 0x1f];
const NEST = [0xf5, 0xa5, 0x24];
const PLAY = [0xff, 0xd2, 0x7a];

// Geometry in a 512 x 512 box.
const RING = { cx: 256, cy: 262, outer: 178, inner: 132 };
const TRI = [[204, 104], [204, 290], [350, 197]];

function shapes(maskable) {
  const s = maskable ? 0.72 : 1;                 // scale about the centre
  const tx = (x) => 256 + (x - 256) * s;
  return {
    radius: maskable ? 0 : 112,
    ring: { cx: tx(RING.cx), cy: tx(RING.cy), outer: RING.outer * s, inner: RING.inner * s },
    tri: TRI.map(([x, y]) => [tx(x), tx(y)]),
  };
}

const hex = (c) => '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
const r1 = (v) => Math.round(v * 10) / 10;

export function iconSvg({ maskable = false } = {}) {
  const g = shapes(maskable);
  const { cx, cy, outer, inner } = g.ring;
  const nest = `M${r1(cx - outer)} ${r1(cy)}A${r1(outer)} ${r1(outer)} 0 0 0 ${r1(cx + outer)} ${r1(cy)}` +
    `L${r1(cx + inner)} ${r1(cy)}A${r1(inner)} ${r1(inner)} 0 0 1 ${r1(cx - inner)} ${r1(cy)}Z`;
  const tri = g.tri.map(([x, y]) => `${r1(x)},${r1(y)}`).join(' ');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">` +
    `<rect width="512" height="512" rx="${g.radius}" fill="${hex(BG)}"/>` +
    `<polygon points="${tri}" fill="${hex(PLAY)}"/>` +
    `<path d="${nest}" fill="${hex(NEST)}"/></svg>\n`;
}

// ---- rasteriser -----------------------------------------------------------

function inRoundRect(x, y, r) {
  if (x < 0 || y < 0 || x > 512 || y > 512) return false;
  if (r <= 0) return true;
  const qx = Math.max(r - x, 0, x - (512 - r));
  const qy = Math.max(r - y, 0, y - (512 - r));
  return qx * qx + qy * qy <= r * r;
}

function inNest(x, y, ring) {
  if (y < ring.cy) return false;
  const d2 = (x - ring.cx) ** 2 + (y - ring.cy) ** 2;
  return d2 <= ring.outer ** 2 && d2 >= ring.inner ** 2;
}

function inTri(x, y, [a, b, c]) {
  const side = (p, q) => (q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0]);
  const d1 = side(a, b), d2 = side(b, c), d3 = side(c, a);
  const neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
  return !(neg && pos);
}

export function iconRgba(size, { maskable = false } = {}) {
  const g = shapes(maskable);
  const out = Buffer.alloc(size * size * 4);
  const N = 4, scale = 512 / size;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, gr = 0, b = 0, a = 0;
      for (let sy = 0; sy < N; sy++) {
        for (let sx = 0; sx < N; sx++) {
          const x = (px + (sx + 0.5) / N) * scale, y = (py + (sy + 0.5) / N) * scale;
          if (!inRoundRect(x, y, g.radius)) continue;
          const c = inNest(x, y, g.ring) ? NEST : inTri(x, y, g.tri) ? PLAY : BG;
          r += c[0]; gr += c[1]; b += c[2]; a += 1;
        }
      }
      const o = (py * size + px) * 4;
      if (a) { out[o] = Math.round(r / a); out[o + 1] = Math.round(gr / a); out[o + 2] = Math.round(b / a); }
      out[o + 3] = Math.round((a / (N * N)) * 255);
    }
  }
  return out;
}

// ---- PNG encoder ----------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function encodePng(rgba, size) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;   // 8-bit RGBA
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;                                         // filter: none
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function iconPng(size, opts) {
  return encodePng(iconRgba(size, opts), size);
}
