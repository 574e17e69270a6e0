-- plugins/status/stats.lua — GET /dashboard/stats: the signed-in user's own
-- counts (their requests and downloads by status) and the size of the Plex
-- library.
--
--   stats.for_user(user_id) -> { requests, downloads, library } | nil, err
--
-- Requests: partially_available counts as available (the dashboard shows
-- one "available" figure); cancelled ones count in total only. Library:
-- sections and items of the server, read from Plex with the configured
-- token (one call per section, X-Plex-Container-Size=0 so only totalSize
-- comes back), cached 10 minutes for everyone; null when Plex cannot say.
local db = require "nest.db"
local cache = require "nest.cache"
local fetch = require "nest.fetch"
local json = require "nest.json"
local services = require "nest.services"

local M = {}

M.LIBRARY_TTL = 600
local TIMEOUT = 3

local REQUESTS = [[
  SELECT count(*) AS total,
         count(*) FILTER (WHERE status = 'pending') AS pending,
         count(*) FILTER (WHERE status = 'approved') AS approved,
         count(*) FILTER (WHERE status = 'processing') AS processing,
         count(*) FILTER (WHERE status IN ('available', 'partially_available')) AS available,
         count(*) FILTER (WHERE status = 'declined') AS declined,
         count(*) FILTER (WHERE status = 'failed') AS failed
  FROM media_requests WHERE user_id = $1]]

local DOWNLOADS = [[
  SELECT count(*) AS total,
         count(*) FILTER (WHERE status = 'queued') AS queued,
         count(*) FILTER (WHERE status = 'downloading') AS downloading,
         count(*) FILTER (WHERE status = 'completed') AS completed,
         count(*) FILTER (WHERE status = 'failed') AS failed,
         count(*) FILTER (WHERE status = 'cancelled') AS cancelled
  FROM youtube_downloads WHERE user_id = $1]]

local function plex_get(s, path)
  local res = fetch(s.url:gsub("/+$", "") .. path, {
    headers = { Accept = "application/json", ["X-Plex-Token"] = s.token,
                ["X-Plex-Client-Identifier"] = "medianest-status",
                ["X-Plex-Container-Start"] = "0", ["X-Plex-Container-Size"] = "0" },
    timeout = { connect = 2, total = TIMEOUT }, service = "status_plex", max_size = 1024 * 1024 })
  if not res or res.status ~= 200 then return nil end
  local ok, v = pcall(res.json, res)
  return ok and type(v) == "table" and type(v.MediaContainer) == "table" and v.MediaContainer or nil
end

-- -> { items, sections } | nil, "unavailable" (not cached: retried next time)
local function library_size()
  local s = services.get("plex")
  if not (s and s.enabled and s.url and s.token) then return nil, "unavailable" end
  local mc = plex_get(s, "/library/sections")
  if not mc then return nil, "unavailable" end
  local sections, items = 0, 0
  for _, d in ipairs(type(mc.Directory) == "table" and mc.Directory or {}) do
    local key = type(d) == "table" and tostring(d.key or "")
    if key and key:match("^%d+$") then
      sections = sections + 1
      local all = plex_get(s, "/library/sections/" .. key .. "/all")
      items = items + (all and math.tointeger(tonumber(all.totalSize)) or 0)
    end
  end
  return { items = items, sections = sections }
end

function M.for_user(user_id)
  local req, err = db.query({ REQUESTS, prepare = "status_stats_requests" }, user_id)
  if not req then return nil, err end
  local dl
  dl, err = db.query({ DOWNLOADS, prepare = "status_stats_downloads" }, user_id)
  if not dl then return nil, err end
  local lib = cache.fetch("status:library-size", { ttl = M.LIBRARY_TTL }, library_size)
  return {
    requests = req[1], downloads = dl[1],
    library = { items = lib and lib.items or json.null, sections = lib and lib.sections or json.null },
  }
end

return M
