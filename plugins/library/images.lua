-- plugins/library/images.lua — the Plex image proxy behind
-- GET /api/v1/images/plex?path=/library/metadata/{rk}/{thumb|art}/{ts}&w=N.
--
-- Rules (docs/library.md):
--   * only Plex metadata image paths (shape.IMAGE_PATH, thumb or art): no
--     open proxy, no SSRF; the width is rounded up to one of WIDTHS;
--   * the caller may fetch only images of items Plex lets them see
--     (catalog.may_fetch_image);
--   * fetched once through Plex's transcoder with the user's server token,
--     then kept on disk (<data_dir>/images/plex, bounded in bytes and files,
--     least recently used evicted first) and in the L1 cache (small images);
--   * answered with a strong ETag (a hash of path and width: a versioned
--     path never changes), Cache-Control immutable for a year, and 304 to a
--     matching If-None-Match; a Plex failure gives a neutral placeholder that
--     no cache keeps.
-- The Plex token is only ever in the request to Plex, never in an answer.
local crypto = require "nest.crypto"
local config = require "nest.config"
local l1 = require "nest.core.cache"
local fs = require "nest.core.fs"
local timer = require "nest.timer"
local log = require "nest.log"
local plex = require "plugins.library.plex"

local M = {}

M.WIDTHS = { 150, 300, 600, 1200 }
local ASPECT = { thumb = 3 / 2, art = 9 / 16 }      -- height / width
local MAX_IMAGE = 4 * 1024 * 1024                   -- larger answers from Plex are refused
local MEM_MAX = 512 * 1024                          -- larger images are served from disk only
local MEM_TTL = 3600
local TYPES = { ["image/jpeg"] = true, ["image/png"] = true, ["image/webp"] = true, ["image/gif"] = true }

M.PLACEHOLDER = table.concat({
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 300" width="200" height="300">',
  '<rect width="200" height="300" fill="#2a2f3a"/>',
  '<path d="M70 120h60v60H70z" fill="none" stroke="#5b6475" stroke-width="6"/>',
  '<circle cx="86" cy="138" r="7" fill="#5b6475"/>',
  '<path d="M76 174l20-22 14 14 10-10 10 18z" fill="#5b6475"/></svg>' })

-- The width served for a requested one: the smallest of WIDTHS >= w.
function M.round_width(w)
  for _, x in ipairs(M.WIDTHS) do if w <= x then return x end end
  return M.WIDTHS[#M.WIDTHS]
end

-- settings: {image_cache_bytes, image_cache_files}
local function dir()
  local cfg = config.get() or {}
  return config.path(cfg.data_dir or ".data/medianest") .. "/images/plex"
end

function M.id(path, w) return crypto.hex(crypto.sha256(path .. "|" .. w)) end
function M.etag(id) return '"' .. id:sub(1, 32) .. '"' end

local function file_of(id) return dir() .. "/" .. id:sub(1, 2) .. "/" .. id end

-- Stored form (memory and disk): "<content-type>\n" .. bytes
local function pack(ctype, body) return ctype .. "\n" .. body end
local function unpack_image(s)
  local nl = s:find("\n", 1, true)
  if not nl then return nil end
  return s:sub(1, nl - 1), s:sub(nl + 1)
end

local function mem_key(id) return "library:img:" .. id end
local function used_key(id) return "library:img-used:" .. id end

local function read_disk(id)
  local f = io.open(file_of(id), "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Disk usage counters live in L1 (they outlive a reload) and start from a
-- walk of the directory, once per process.
local BYTES, FILES, COUNTED, EVICTING = "library:img-disk:bytes", "library:img-disk:files",
  "library:img-disk:counted", "library:img-disk:evicting"

local function list_files()
  local ok, proc = pcall(require("nest.proc").spawn,
    { "find", dir(), "-type", "f", "-printf", "%T@ %s %p\n" })
  local out = {}
  if not ok or not proc then return out end
  for line in proc:lines() do
    local t, size, path = line:match("^(%S+) (%d+) (.+)$")
    if path then out[#out + 1] = { t = tonumber(t) or 0, size = tonumber(size), path = path } end
  end
  proc:wait()
  return out
end

local function count_disk()
  if l1.add(COUNTED, 1, 0) ~= true then return end
  local bytes, files = 0, 0
  for _, f in ipairs(list_files()) do bytes, files = bytes + f.size, files + 1 end
  l1.set(BYTES, bytes, 0)
  l1.set(FILES, files, 0)
end
M.count_disk = count_disk

-- Remove the least recently used files until under 90% of both bounds.
-- Last use: our L1 note of the last hit, else the file's mtime.
local function evict(limits)
  if l1.add(EVICTING, 1, 60) ~= true then return end
  local files = list_files()
  for _, f in ipairs(files) do
    f.used = tonumber(l1.get(used_key(f.path:match("([^/]+)$")))) or f.t
  end
  table.sort(files, function(a, b) return a.used < b.used end)
  local bytes, count = 0, #files
  for _, f in ipairs(files) do bytes = bytes + f.size end
  local removed = 0
  for _, f in ipairs(files) do
    if bytes <= limits.bytes * 0.9 and count <= limits.files * 0.9 then break end
    if os.remove(f.path) then
      bytes, count, removed = bytes - f.size, count - 1, removed + 1
      l1.delete(mem_key(f.path:match("([^/]+)$")))
    end
  end
  l1.set(BYTES, bytes, 0)
  l1.set(FILES, count, 0)
  l1.delete(EVICTING)
  log.info("image cache evicted", { removed = removed, bytes = bytes, files = count })
end

local function write_disk(id, packed, limits)
  local path = file_of(id)
  local ok = fs.mkdir_p(path:match("^(.*)/"))
  if not ok then return end
  local tmp = path .. ".tmp" .. crypto.hex(crypto.random(4))
  local f = io.open(tmp, "wb")
  if not f then return end
  f:write(packed)
  f:close()
  os.rename(tmp, path)
  local bytes = l1.incr(BYTES, #packed, 0, 0) or 0
  local files = l1.incr(FILES, 1, 0, 0) or 0
  if bytes > limits.bytes or files > limits.files then
    timer.at(0, function(premature) if not premature then evict(limits) end end)
  end
end

-- Fetch from Plex's transcoder: -> ctype, body | nil, err
local function transcode(token, path, what, w)
  local h = math.floor(w * ASPECT[what] + 0.5)
  local res, err = plex.get(token, "/photo/:/transcode", {
    url = path, width = tostring(w), height = tostring(h), minSize = "1", upscale = "1", format = "jpg",
  }, { accept = "image/*", max_size = MAX_IMAGE })
  if not res then return nil, err end
  local ctype = (res.headers["content-type"] or ""):match("^([^;%s]+)")
  if res.status ~= 200 or not TYPES[ctype or ""] then
    return nil, { code = "PLEX_IMAGE", message = ("Plex answered HTTP %d (%s)"):format(res.status, tostring(ctype)) }
  end
  return ctype, res.body
end

-- An image through the caches: memory, then disk, then load() -> ctype, body.
-- -> ctype, body, level ("memory" | "disk" | "upstream") | nil, err
-- limits = {bytes, files} of the disk cache.
function M.cached(id, load, limits)
  local packed = l1.get(mem_key(id))
  local level = "memory"
  if not packed then
    packed, level = read_disk(id), "disk"
    if not packed then
      local ctype, body = load()
      if not ctype then return nil, body end
      packed, level = pack(ctype, body), "upstream"
      write_disk(id, packed, limits)
    end
    if #packed <= MEM_MAX then l1.set(mem_key(id), packed, MEM_TTL) end
  end
  if level ~= "upstream" then l1.set(used_key(id), math.floor(require("nest.core.app").now()), 86400 * 30) end
  local ctype, body = unpack_image(packed)
  if not ctype then return nil, { code = "IMAGE", message = "corrupt cache entry" } end
  return ctype, body, level
end

-- A Plex image (path already checked against shape.IMAGE_PATH) at width w.
function M.plex(token, path, what, w, limits)
  return M.cached(M.id(path, w), function() return transcode(token, path, what, w) end, limits)
end

-- Is ctype an image type we pass on?
function M.image_type(ctype) return TYPES[ctype or ""] == true end

return M
