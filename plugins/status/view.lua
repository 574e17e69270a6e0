-- plugins/status/view.lua — what the dashboard shows: the snapshot of every
-- monitor's current state (read from the database, cached 60 s in
-- nest.cache and dropped on every instance when a cycle writes, through the
-- status plugin's invalidation map), the API shape of a service, the
-- feature availability derived from it, and the JSON bodies of
-- GET /dashboard/status, cached encoded per audience ("user" sees visible
-- services only, "admin" sees all, with `visible`).
--
--   view.snapshot() -> { services = { row... }, by_id = {...}, updatedAt } | nil, err
--   view.service(row, admin) -> Service (API shape)
--   view.features(snapshot) -> { library, requests, youtube }
--   view.body(audience) -> JSON text | nil, err
--   view.status(audience) -> { services, features, updatedAt } | nil, err
--   view.STALE (seconds) a monitor not checked for this long leaves the dashboard
local cache = require "nest.cache"
local db = require "nest.db"
local json = require "nest.json"
local store = require "plugins.status.store"

local M = {}

M.TTL = 60
M.KEY = "status:snapshot"
M.STALE = 600

local function v(x) if x == nil or x == db.null then return json.null end return x end
local function num(x) if x == nil or x == db.null then return json.null end return tonumber(x) end

function M.service(row, admin)
  local s = {
    id = row.id, name = row.name, source = row.source,
    status = (row.status ~= nil and row.status ~= db.null) and row.status or "unknown",
    responseTimeMs = v(row.response_time_ms), uptime24h = num(row.uptime_24h),
    uptime30d = num(row.uptime_30d), lastCheckAt = v(row.last_check_at), message = v(row.message),
  }
  if row.integration ~= nil and row.integration ~= db.null then s.integration = row.integration end
  if admin then s.visible = row.visible == true end
  return s
end

-- What each feature needs, in order: the first unusable one is the reason.
local NEEDS = {
  library = { "plex" },
  requests = { "overseerr" },
  youtube = { "youtube", "plex" },
}
local LABEL = { plex = "Plex", overseerr = "Overseerr", youtube = "The YouTube tool" }

local function usable(row, id)
  if not row then return false, LABEL[id] .. " is not configured" end
  if row.integration ~= nil and row.integration ~= db.null then
    return false, row.message ~= db.null and row.message or (LABEL[id] .. " refuses MediaNest's credentials")
  end
  if row.status == "down" then
    local why = row.message ~= db.null and row.message or nil
    return false, LABEL[id] .. " is down" .. (why and (": " .. why) or "")
  end
  if row.status == "maintenance" then return false, LABEL[id] .. " is under maintenance" end
  -- up, degraded (slow but working) and unknown (not checked yet) are usable
  return true
end

function M.features(snap)
  local out = {}
  for feature, needs in pairs(NEEDS) do
    local f = { available = true, reason = json.null }
    for _, id in ipairs(needs) do
      local ok, why = usable(snap.by_id[id], id)
      if not ok then f = { available = false, reason = why } break end
    end
    out[feature] = f
  end
  return out
end

local function load()
  local rows, err = store.current(M.STALE)
  if not rows then return nil, err end
  local updated
  for _, r in ipairs(rows) do
    local at = r.last_check_at
    if at ~= db.null and (not updated or at > updated) then updated = at end
  end
  return { services = rows, updatedAt = updated or json.null }
end

function M.snapshot()
  local snap, err = cache.fetch(M.KEY, { ttl = M.TTL }, load)
  if not snap then return nil, err end
  snap.by_id = {}
  for _, r in ipairs(snap.services) do snap.by_id[r.id] = r end
  return snap
end

function M.status_of(snap, audience)
  local admin = audience == "admin"
  local list = json.array()
  for _, r in ipairs(snap.services) do
    if admin or r.visible == true then list[#list + 1] = M.service(r, admin) end
  end
  return { services = list, features = M.features(snap), updatedAt = snap.updatedAt }
end

function M.status(audience)
  local snap, err = M.snapshot()
  if not snap then return nil, err end
  return M.status_of(snap, audience)
end

-- The encoded body, cached per audience beside the snapshot (same TTL, same
-- invalidation): the hot path of GET /dashboard/status is one L1 lookup.
function M.body(audience)
  return cache.fetch("status:body:" .. audience, { ttl = M.TTL }, function()
    local st, err = M.status(audience)
    if not st then return nil, err end
    return json.encode(st)
  end)
end

return M
