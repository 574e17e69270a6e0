-- plugins/demo-upstreams/image.lua — small real PNG images drawn in Lua,
-- for the fake Plex transcoder (posters, art) and plex.tv avatars.
--
-- An image is a palette (colour type 3, 8 bits) painted row by row as runs
-- of one colour: a vertical gradient, then a few shapes (circle, box,
-- triangle, stripe, title bar) whose colours and places come from the seed,
-- so one item always gets the same picture. Rows are compressed by a
-- fixed-Huffman deflate that only emits runs (distance 1) and repeated rows
-- (distance = row length); Adler-32 is computed per run in closed form and
-- CRC-32 over the (small) compressed stream, so a 300x450 poster takes a few
-- milliseconds and a few kilobytes.
local M = {}

local MAX_SIDE = 2000

---------------------------------------------------------------------------
-- Checksums
---------------------------------------------------------------------------

local CRC = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
  end
  CRC[i] = c
end

local function crc32(s, crc)
  crc = (crc or 0) ~ 0xFFFFFFFF
  for i = 1, #s do crc = CRC[(crc ~ s:byte(i)) & 0xFF] ~ (crc >> 8) end
  return crc ~ 0xFFFFFFFF
end
M.crc32 = crc32

---------------------------------------------------------------------------
-- Fixed-Huffman deflate of runs
---------------------------------------------------------------------------

local LEN_BASE, LEN_EXTRA = {}, {}
do
  local base = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                 67, 83, 99, 115, 131, 163, 195, 227, 258 }
  local extra = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 }
  for i = 1, 29 do LEN_BASE[i], LEN_EXTRA[i] = base[i], extra[i] end
end
local DIST_BASE, DIST_EXTRA = {}, {}
do
  local b = 1
  for code = 0, 29 do
    local e = code < 4 and 0 or (code // 2 - 1)
    DIST_BASE[code], DIST_EXTRA[code] = b, e
    b = b + (1 << e)
  end
end

local Bits = {}
Bits.__index = Bits

local function bits_new() return setmetatable({ acc = 0, n = 0, out = {}, buf = {} }, Bits) end

function Bits:put(value, nbits)          -- LSB first
  self.acc = self.acc | (value << self.n)
  self.n = self.n + nbits
  while self.n >= 8 do
    local buf = self.buf
    buf[#buf + 1] = self.acc & 0xFF
    if #buf >= 4096 then
      self.out[#self.out + 1] = string.char(table.unpack(buf))
      self.buf = {}
    end
    self.acc = self.acc >> 8
    self.n = self.n - 8
  end
end

local function reverse(code, len)
  local r = 0
  for _ = 1, len do r = (r << 1) | (code & 1); code = code >> 1 end
  return r
end

-- Huffman codes are sent most significant bit first.
local LIT_CODE, LIT_LEN = {}, {}
for v = 0, 287 do
  local code, len
  if v <= 143 then code, len = 0x30 + v, 8
  elseif v <= 255 then code, len = 0x190 + v - 144, 9
  elseif v <= 279 then code, len = v - 256, 7
  else code, len = 0xC0 + v - 280, 8 end
  LIT_CODE[v], LIT_LEN[v] = reverse(code, len), len
end
local DIST_CODE = {}
for d = 0, 29 do DIST_CODE[d] = reverse(d, 5) end

function Bits:literal(b) self:put(LIT_CODE[b], LIT_LEN[b]) end

-- one match, 3 <= len <= 258, 1 <= dist <= 32768
function Bits:match(len, dist)
  local i = 29
  while LEN_BASE[i] > len do i = i - 1 end
  local sym = 256 + i
  self:put(LIT_CODE[sym], LIT_LEN[sym])
  if LEN_EXTRA[i] > 0 then self:put(len - LEN_BASE[i], LEN_EXTRA[i]) end
  local d = 29
  while DIST_BASE[d] > dist do d = d - 1 end
  self:put(DIST_CODE[d], 5)
  if DIST_EXTRA[d] > 0 then self:put(dist - DIST_BASE[d], DIST_EXTRA[d]) end
end

-- `total` bytes copied from `dist` back, split into legal matches.
function Bits:copy(total, dist)
  while total > 0 do
    local m = total > 258 and 258 or total
    local rest = total - m
    if rest > 0 and rest < 3 then m = total - 3 end
    self:match(m, dist)
    total = total - m
  end
end

function Bits:finish()
  if self.n > 0 then self:put(0, 8 - self.n) end
  if #self.buf > 0 then self.out[#self.out + 1] = string.char(table.unpack(self.buf)) end
  return table.concat(self.out)
end

-- zlib stream of rows given as run lists {len1, byte1, len2, byte2, ...};
-- each row's first run is its filter byte.
local function zlib_runs(rows, stride)
  local bits = bits_new()
  bits:put(1, 1)          -- BFINAL
  bits:put(1, 2)          -- BTYPE = 01, fixed Huffman
  local s1, s2 = 1, 0
  local prev_key
  for _, runs in ipairs(rows) do
    local key = table.concat(runs, ",")
    for i = 1, #runs, 2 do
      local n, b = runs[i], runs[i + 1]
      s2 = (s2 + n * s1 + b * (n * (n + 1) // 2)) % 65521
      s1 = (s1 + n * b) % 65521
    end
    if key == prev_key then
      bits:copy(stride, stride)
    else
      for i = 1, #runs, 2 do
        local n, b = runs[i], runs[i + 1]
        bits:literal(b)
        n = n - 1
        if n >= 3 then bits:copy(n, 1) n = 0 end
        for _ = 1, n do bits:literal(b) end
      end
    end
    prev_key = key
  end
  bits:put(LIT_CODE[256], LIT_LEN[256])   -- end of block
  local adler = (s2 << 16) | s1
  return "\x78\x01" .. bits:finish() .. string.pack(">I4", adler)
end

local function chunk(kind, data)
  return string.pack(">I4", #data) .. kind .. data .. string.pack(">I4", crc32(kind .. data))
end

-- png(w, h, palette {{r,g,b},...}, rows of runs) -> bytes
local function png(w, h, palette, rows)
  local plte = {}
  for i, c in ipairs(palette) do plte[i] = string.char(c[1], c[2], c[3]) end
  return "\137PNG\r\n\26\n"
    .. chunk("IHDR", string.pack(">I4I4BBBBB", w, h, 8, 3, 0, 0, 0))
    .. chunk("PLTE", table.concat(plte))
    .. chunk("IDAT", zlib_runs(rows, w + 1))
    .. chunk("IEND", "")
end
M.png = png

---------------------------------------------------------------------------
-- Drawing
---------------------------------------------------------------------------

local rng = require("plugins.demo-upstreams.library").rng   -- splitmix64

local function hsv(hh, s, v)
  local i = math.floor(hh * 6) % 6
  local f = hh * 6 - math.floor(hh * 6)
  local p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
  local r, g, b
  if i == 0 then r, g, b = v, t, p elseif i == 1 then r, g, b = q, v, p
  elseif i == 2 then r, g, b = p, v, t elseif i == 3 then r, g, b = p, q, v
  elseif i == 4 then r, g, b = t, p, v else r, g, b = v, p, q end
  return { math.floor(r * 255 + 0.5), math.floor(g * 255 + 0.5), math.floor(b * 255 + 0.5) }
end

-- Paint [x0, x1] (inclusive, clipped) with colour c over a segment list
-- {{x0, x1, c}, ...} covering the row.
local function paint(segs, x0, x1, c, w)
  if x0 < 0 then x0 = 0 end
  if x1 > w - 1 then x1 = w - 1 end
  if x1 < x0 then return segs end
  local out = {}
  for _, s in ipairs(segs) do
    if s[2] < x0 or s[1] > x1 then out[#out + 1] = s
    else
      if s[1] < x0 then out[#out + 1] = { s[1], x0 - 1, s[3] } end
      if s[2] > x1 then out[#out + 1] = { x1 + 1, s[2], s[3] } end
    end
  end
  out[#out + 1] = { x0, x1, c }
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

local function runs_of(segs)
  local runs = { 1, 0 }                  -- filter type None
  local last
  for _, s in ipairs(segs) do
    local n = s[2] - s[1] + 1
    if last and runs[#runs] == s[3] then runs[#runs - 1] = runs[#runs - 1] + n
    else runs[#runs + 1] = n; runs[#runs + 1] = s[3] end
    last = s
  end
  return runs
end

local function clamp_side(v, default)
  v = math.tointeger(tonumber(v)) or default
  if v < 1 then v = default end
  if v > MAX_SIDE then v = MAX_SIDE end
  return v
end
M.clamp_side = clamp_side

-- draw(seed, w, h, opts) -> PNG bytes. opts.bar: a title bar at the bottom.
function M.draw(seed, w, h, opts)
  opts = opts or {}
  local r = rng(seed)
  local hue = r(1000) / 1000
  local palette = {}
  -- 0..7: the gradient, dark to light in one hue
  for i = 0, 7 do palette[#palette + 1] = hsv(hue, 0.55, 0.18 + i * 0.07) end
  local shape_hue = (hue + 0.33 + r(340) / 1000) % 1
  palette[#palette + 1] = hsv(shape_hue, 0.75, 0.9)           -- 8 main shape
  palette[#palette + 1] = hsv((shape_hue + 0.5) % 1, 0.6, 0.8) -- 9 second shape
  palette[#palette + 1] = { 20, 20, 24 }                       -- 10 title bar
  palette[#palette + 1] = { 235, 235, 235 }                    -- 11 title bar text blocks
  local kind = r(4)
  local cx, cy = w * (25 + r(50)) // 100, h * (20 + r(45)) // 100
  local rad = math.max(2, math.min(w, h) * (15 + r(20)) // 100)
  local bx0, by0 = w * r(50) // 100, h * r(60) // 100
  local bx1, by1 = bx0 + math.max(2, w * (15 + r(35)) // 100), by0 + math.max(2, h * (10 + r(25)) // 100)
  local stripe_k, stripe_a = (r(2) == 0 and 1 or -1) * (r(3) + 1) / 2, r(w + 1)
  local stripe_t = math.max(2, w // (6 + r(6)))
  local bar = opts.bar and h >= 24 and h - math.max(6, h * 18 // 100) or nil
  local blocks = {}
  if bar then
    local x = math.max(2, w // 12)
    local words = 2 + r(3)
    for _ = 1, words do
      local len = math.max(3, w * (8 + r(18)) // 100)
      if x + len >= w - 2 then break end
      blocks[#blocks + 1] = { x, x + len }
      x = x + len + math.max(2, w // 30)
    end
  end
  local bar_text0, bar_text1 = bar and bar + (h - bar) // 3, bar and bar + 2 * (h - bar) // 3

  local rows = {}
  for y = 0, h - 1 do
    local band = y * 8 // h
    local segs = { { 0, w - 1, band } }
    if bar and y >= bar then
      segs = { { 0, w - 1, 10 } }
      if y >= bar_text0 and y < bar_text1 then
        for _, b in ipairs(blocks) do segs = paint(segs, b[1], b[2], 11, w) end
      end
    else
      if kind == 0 or kind == 2 then           -- circle
        local dy = y - cy
        if dy * dy <= rad * rad then
          local dx = math.floor(math.sqrt(rad * rad - dy * dy))
          segs = paint(segs, cx - dx, cx + dx, 8, w)
        end
      end
      if kind == 1 or kind == 2 then           -- box
        if y >= by0 and y <= by1 then segs = paint(segs, bx0, bx1, 9, w) end
      end
      if kind == 3 then                        -- triangle
        local top, base = cy - rad, cy + rad
        if y >= top and y <= base then
          local half = (y - top) * rad // math.max(1, base - top)
          segs = paint(segs, cx - half, cx + half, 8, w)
        end
      end
      if kind ~= 2 then                        -- a diagonal stripe
        local x0 = math.floor(stripe_a + y * stripe_k)
        segs = paint(segs, x0, x0 + stripe_t, 9, w)
      end
    end
    rows[#rows + 1] = runs_of(segs)
  end
  return png(w, h, palette, rows)
end

-- A round avatar for a plex.tv demo user.
function M.avatar(n, size)
  local w = size or 128
  local r = rng(n * 7919)
  local palette = { hsv(r(1000) / 1000, 0.5, 0.35), hsv(r(1000) / 1000, 0.6, 0.95) }
  local rows, c, rad = {}, w // 2, w * 3 // 8
  for y = 0, w - 1 do
    local segs = { { 0, w - 1, 0 } }
    local dy = y - c
    if dy * dy <= rad * rad then
      local dx = math.floor(math.sqrt(rad * rad - dy * dy))
      segs = paint(segs, c - dx, c + dx, 1, w)
    end
    rows[#rows + 1] = runs_of(segs)
  end
  return png(w, w, palette, rows)
end

return M
