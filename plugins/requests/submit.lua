-- plugins/requests/submit.lua — POST /media/request: validate, refuse
-- duplicates and titles already in Plex, forward to Overseerr as the user,
-- record it.
--
-- Never half-made: the local row is written only after Overseerr answered
-- 201, and if that write fails the Overseerr request is deleted again and
-- the client told 503. While Overseerr is down nothing is written and the
-- answer is 503 OVERSEERR_UNAVAILABLE (the client may simply retry).
local errors = require "nest.errors"
local json = require "nest.json"
local log = require "nest.log"
local invalidate = require "nest.invalidate"
local ws = require "nest.ws"
local overseerr = require "plugins.requests.overseerr"
local catalog = require "plugins.requests.catalog"
local store = require "plugins.requests.store"
local status = require "plugins.requests.status"
local users = require "plugins.requests.users"

local M = {}

local MAX_ID = 2147483647

local function bad(field, message)
  errors.raise(400, "VALIDATION_ERROR", message, { field = field })
end

-- The body {tmdbId, mediaType, seasons?}; tmdbId may be a string of digits
-- (the seed's load test sends "603").
function M.parse(body)
  if type(body) ~= "table" or body[1] ~= nil then bad("body", "Expected a JSON object {tmdbId, mediaType, seasons?}") end
  local id = body.tmdbId
  if id == nil or id == json.null then bad("tmdbId", "tmdbId is required") end
  if type(id) == "string" and id:match("^%d+$") and #id <= 10 then id = math.tointeger(tonumber(id)) end
  if type(id) == "number" then id = math.tointeger(id) end
  if math.type(id) ~= "integer" or id < 1 or id > MAX_ID then bad("tmdbId", "tmdbId must be a positive integer") end
  local kind = body.mediaType
  if kind ~= "movie" and kind ~= "tv" then bad("mediaType", "mediaType must be \"movie\" or \"tv\"") end
  local seasons = body.seasons
  if seasons == json.null then seasons = nil end
  if seasons ~= nil then
    if kind == "movie" then bad("seasons", "A movie has no seasons: leave seasons out") end
    if seasons == "all" then seasons = nil
    elseif type(seasons) ~= "table" or (next(seasons) ~= nil and seasons[1] == nil) then
      bad("seasons", "seasons must be a list of season numbers or \"all\"")
    elseif #seasons == 0 then bad("seasons", "seasons must name at least one season")
    elseif #seasons > 100 then bad("seasons", "seasons: at most 100")
    else
      local seen, list = {}, {}
      for _, n in ipairs(seasons) do
        n = math.type(n) == "float" and math.tointeger(n) or n
        if math.type(n) ~= "integer" or n < 1 then bad("seasons", "seasons must be season numbers (1, 2, ...)") end
        if not seen[n] then seen[n] = true list[#list + 1] = n end
      end
      table.sort(list)
      seasons = list
    end
  end
  return { tmdb_id = id, media_type = kind, seasons = seasons }
end

local function already_requested(row, viewer)
  errors.raise(409, "ALREADY_REQUESTED",
    ("%s has already been requested; you can follow that request to be told when it is available"):format(row.title),
    { requestId = row.id, status = row.status, canFollow = row.user_id ~= viewer,
      following = store.is_watching(row.id, viewer), mine = row.user_id == viewer })
end

-- Seasons of the show that are already asked for by a live request here.
local function covered(live)
  local set, all = {}, false
  for _, r in ipairs(live) do
    if r.seasons == json.null or r.seasons == nil then all = true
    else for _, n in ipairs(r.seasons) do set[n] = r end end
  end
  return set, all
end

local function check_duplicates(p, live, viewer, d)
  if #live == 0 then return end
  if p.media_type == "movie" then return already_requested(live[1], viewer) end
  local set, all = covered(live)
  if all then return already_requested(live[1], viewer) end
  local wanted = p.seasons
  if not wanted then
    wanted = {}
    for _, s in ipairs(d.seasons or {}) do wanted[#wanted + 1] = s.seasonNumber end
  end
  for _, n in ipairs(wanted) do if not set[n] then return end end
  return already_requested(set[wanted[1]], viewer)
end

local function check_available(p, d)
  if p.media_type == "movie" then
    if d.availability == "available" then
      errors.raise(409, "ALREADY_AVAILABLE", d.title .. " is already in Plex", { tmdbId = p.tmdb_id })
    end
    return
  end
  local avail, count = {}, 0
  for _, s in ipairs(d.seasons or {}) do
    avail[s.seasonNumber] = s.availability == "available"
    count = count + 1
  end
  if p.seasons then
    for _, n in ipairs(p.seasons) do
      if avail[n] == nil then
        bad("seasons", ("Season %d does not exist (%s has %d)"):format(n, d.title, count))
      end
    end
  end
  local list = p.seasons or {}
  if not p.seasons then for n in pairs(avail) do list[#list + 1] = n end end
  for _, n in ipairs(list) do if not avail[n] then return end end
  if #list > 0 or d.availability == "available" then
    errors.raise(409, "ALREADY_AVAILABLE", d.title .. ": the requested seasons are already in Plex",
      { tmdbId = p.tmdb_id })
  end
end

-- Overseerr said 409 although MediaNest had no live request: someone asked
-- in Overseerr directly. Adopt that request so it can be followed here.
local function adopt(p, d, viewer)
  local body = overseerr.call("GET", "/" .. p.media_type .. "/" .. p.tmdb_id)
  local mi = type(body) == "table" and type(body.mediaInfo) == "table" and body.mediaInfo or {}
  for _, rq in ipairs(type(mi.requests) == "table" and mi.requests or {}) do
    local st = math.tointeger(rq.status)
    if st == 1 or st == 2 then
      local existing = store.by_overseerr_id(math.tointeger(rq.id))
      if existing then return already_requested(existing, viewer) end
      local row = store.create({ user_id = nil, tmdb_id = p.tmdb_id, media_type = p.media_type,
        seasons = nil, title = d.title, year = d.year, poster_path = d.posterPath ~= json.null and d.posterPath or nil,
        status = status.from_overseerr(rq), overseerr_request_id = math.tointeger(rq.id),
        overseerr_media_id = math.tointeger(mi.id), source = "sync" })
      if row then return already_requested(row, viewer) end
    end
  end
  errors.raise(409, "ALREADY_REQUESTED", d.title .. " has already been requested in Overseerr", { requestId = json.null })
end

local function forward(p, d, as, viewer)
  local payload = { mediaType = p.media_type, mediaId = p.tmdb_id }
  if p.media_type == "tv" then payload.seasons = p.seasons or "all" end
  local body, err = overseerr.call("POST", "/request", { json = payload, as = as or nil })
  if body then return body end
  if not err.upstream then catalog.raise(err) end
  if err.status == 202 then
    errors.raise(409, "NOTHING_TO_REQUEST", "Overseerr has nothing left to request: " .. tostring(err.message))
  elseif err.status == 409 then
    return adopt(p, d, viewer)
  elseif err.status == 403 or err.status == 401 then
    errors.raise(403, "OVERSEERR_REFUSED", "Overseerr refused the request: " .. tostring(err.message))
  end
  catalog.raise(err)
end

local function seasons_of(created, p)
  if p.media_type ~= "tv" then return nil end
  local list = {}
  for _, s in ipairs(type(created.seasons) == "table" and created.seasons or {}) do
    list[#list + 1] = math.tointeger(s.seasonNumber)
  end
  if #list == 0 then return p.seasons end
  table.sort(list)
  return list
end

-- create(user, body, settings) -> the new row
function M.create(user, body, settings)
  local p = M.parse(body)
  local d = catalog.details(p.media_type, p.tmdb_id, settings.cache_ttl)
  if d.stale then
    errors.raise(503, "OVERSEERR_UNAVAILABLE", "Overseerr is unreachable; nothing was requested. Try again later.")
  end
  check_available(p, d)
  check_duplicates(p, store.live_for(p.tmdb_id, p.media_type), user.id, d)
  local as, err = users.overseerr_id(user)
  if as == nil then catalog.raise(err) end
  if as == false and settings.unmapped_users ~= "key_user" then
    errors.raise(403, "OVERSEERR_USER_NOT_FOUND",
      "Your Plex account has no Overseerr user yet; ask an admin to import you in Overseerr (Users › Import Plex Users)")
  end
  local created = forward(p, d, as, user.id)
  local row, werr = store.create({ user_id = user.id, tmdb_id = p.tmdb_id, media_type = p.media_type,
    seasons = seasons_of(created, p), title = d.title, year = d.year,
    poster_path = d.posterPath ~= json.null and d.posterPath or nil, status = status.from_overseerr(created, nil, true),
    overseerr_request_id = math.tointeger(created.id),
    overseerr_media_id = type(created.media) == "table" and math.tointeger(created.media.id) or nil,
    requested_as = as or nil, source = "user" })
  if not row then
    log.error("request forwarded but not recorded; deleting it in Overseerr", { error = tostring(werr),
      overseerr_request = created.id })
    overseerr.call("DELETE", "/request/" .. math.tointeger(created.id))
    errors.raise(503, "DATABASE_UNAVAILABLE", "The request could not be recorded; nothing was requested. Try again.")
  end
  invalidate.emit("media_request_created", { userId = user.id, mediaType = row.media_type, tmdbId = row.tmdb_id })
  ws.broadcast("user:" .. user.id, "request:update", store.shape(row))
  return row
end

return M
