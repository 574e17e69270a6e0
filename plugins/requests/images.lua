-- plugins/requests/images.lua — GET /images/tmdb/{size}/{path}: TMDB
-- posters through MediaNest, so the browser loads images from 'self' only
-- (the CSP says img-src 'self') and TMDB sees one client, not every user.
--
-- Sizes come from a fixed set and the path must be a poster Overseerr has
-- named in a search or details answer (catalog.known_poster), so this is no
-- open proxy and the disk cache grows no faster than searches (which are
-- rate-limited). Kept in memory (the L1 cache, an hour) and on
-- disk (<data_dir>/cache/tmdb/<size>/<file>, for a week); answered with an
-- ETag and a long Cache-Control, 304 on If-None-Match. The upstream is
-- image.tmdb.org, or with the demo Overseerr the demo's drawn posters.
-- The disk cache uses plain (blocking) file calls: a poster is tens of KB on
-- a local disk, read once per hour per instance (then it is in memory).
local l1 = require "nest.core.cache"
local config = require "nest.config"
local crypto = require "nest.crypto"
local errors = require "nest.errors"
local fetch = require "nest.fetch"
local services = require "nest.services"
local catalog = require "plugins.requests.catalog"

local M = {}

M.SIZES = { w92 = true, w154 = true, w185 = true, w300 = true, w342 = true, w500 = true, w780 = true,
            w1280 = true, original = true, w600_and_h900_bestv2 = true }
local FILE = "^[%w_%-]+%.[jJpPwW][pPnNeE][gGeEbB][gGpP]?$"
local MAX_BYTES = 8 * 1024 * 1024
local MEM_TTL, DISK_TTL = 3600, 7 * 86400

-- The base URL posters are fetched from.
function M.upstream(settings)
  if settings.tmdb_image_url and settings.tmdb_image_url ~= "" then return settings.tmdb_image_url end
  local s = services.get("overseerr")
  local base = s and type(s.url) == "string" and s.url:match("^(https?://.-)/demo/overseerr/?$")
  if base then return base .. "/demo/tmdb/t/p" end
  return "https://image.tmdb.org/t/p"
end

local function dir()
  local cfg = config.get() or {}
  return config.path(cfg.data_dir or ".data/medianest") .. "/cache/tmdb"
end

local function read_disk(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

local function write_disk(size, file, data)
  local d = dir() .. "/" .. size
  if not require("nest.core.fs").mkdir_p(d) then return end
  local tmp = d .. "/." .. file .. ".tmp"
  local f = io.open(tmp, "wb")
  if not f then return end
  f:write(data)
  f:close()
  os.rename(tmp, d .. "/" .. file)
end

-- By the bytes, not the name: TMDB's .jpg are JPEG, the demo's are PNG.
local function type_of(data)
  if data:sub(1, 8) == "\137PNG\r\n\26\n" then return "image/png" end
  if data:sub(1, 4) == "RIFF" and data:sub(9, 12) == "WEBP" then return "image/webp" end
  return "image/jpeg"
end

-- -> {body, etag} | raises
local function load(size, file, settings)
  local key = "requests:tmdb:" .. size .. "/" .. file
  local hit = l1.get(key)
  if hit then return { body = hit, etag = '"' .. crypto.hex(crypto.sha256(hit)):sub(1, 24) .. '"' } end
  local disk = dir() .. "/" .. size .. "/" .. file
  local data = read_disk(disk)
  if not data then
    local res, err = fetch(M.upstream(settings) .. "/" .. size .. "/" .. file,
                           { timeout = { connect = 3, total = 10 }, max_size = MAX_BYTES, service = "tmdb" })
    if not res then errors.raise(503, "IMAGE_UNAVAILABLE", "The image server is unreachable (" .. tostring(err) .. ")") end
    if res.status == 404 then errors.raise(404, "NOT_FOUND", "No such image") end
    if res.status ~= 200 then errors.raise(502, "IMAGE_UNAVAILABLE", "The image server answered " .. res.status) end
    data = res.body
    pcall(write_disk, size, file, data)
  end
  l1.set(key, data, MEM_TTL, { "requests:tmdb" })
  return { body = data, etag = '"' .. crypto.hex(crypto.sha256(data)):sub(1, 24) .. '"' }
end

function M.serve(req, res, settings)
  local size, path = req.params.size, req.params.path
  if not M.SIZES[size] then
    errors.raise(404, "NOT_FOUND", "Unknown image size", { sizes = { "w92", "w154", "w185", "w300", "w342",
      "w500", "w780", "w1280", "original" } })
  end
  if type(path) ~= "string" or #path > 100 or not path:match(FILE) or not catalog.is_known_poster(path) then
    errors.raise(404, "NOT_FOUND", "Not a poster of a title Overseerr has shown")
  end
  local img = load(size, path, settings)
  res:header("ETag", img.etag)
  res:header("Cache-Control", "private, max-age=" .. DISK_TTL)
  if req:header("if-none-match") == img.etag then return res:send("", 304) end
  return res:send(img.body, 200, type_of(img.body))
end

return M
