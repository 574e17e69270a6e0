-- plugins/requests/catalog.lua — what Overseerr knows about titles (search
-- and details), cached, in MediaNest's shape, annotated for the viewer:
-- availability, the live request if there is one, whether they asked for it
-- or follow it.
--
-- Cache: 5 minutes per query (and per title), kept an hour longer as a
-- stale copy served (marked `stale = true`) while Overseerr is down. The
-- live requests MediaNest knows about are read from the database on every
-- answer, so a request made a second ago shows even in a cached page.
local cache = require "nest.cache"
local crypto = require "nest.crypto"
local json = require "nest.json"
local errors = require "nest.errors"
local overseerr = require "plugins.requests.overseerr"
local store = require "plugins.requests.store"

local M = {}

local TTL, STALE = 300, 3600          -- defaults; plugins.settings.requests.cache_ttl

M.MEDIA_AVAILABILITY = { [2] = "requested", [3] = "processing", [4] = "partially_available", [5] = "available" }
-- A live local request's status as availability.
local LOCAL_AVAILABILITY = { pending = "requested", approved = "processing", processing = "processing",
                             partially_available = "partially_available", available = "available" }

-- Raise the HTTP error an Overseerr failure deserves.
function M.raise(err)
  if err.status == 503 or not err.upstream then
    errors.raise(503, err.code or "OVERSEERR_UNAVAILABLE", err.message)
  end
  if err.status == 404 then errors.raise(404, "MEDIA_NOT_FOUND", "Overseerr does not know this title") end
  errors.raise(502, "OVERSEERR_ERROR", "Overseerr refused: " .. tostring(err.message), { status = err.status })
end

local function year_of(date)
  return type(date) == "string" and math.tointeger(tonumber(date:sub(1, 4))) or nil
end

local function availability_of(media_info)
  if type(media_info) ~= "table" then return "none" end
  return M.MEDIA_AVAILABILITY[math.tointeger(media_info.status)] or "none"
end

-- Posters Overseerr has named: the image proxy fetches only these, so it
-- is no open door to TMDB and what it stores grows no faster than searches.
local POSTER_TTL = 30 * 86400
function M.known_poster(path)
  if type(path) ~= "string" or path == "" then return end
  cache.set("requests:poster:" .. path:gsub("^/", ""), 1, POSTER_TTL)
end

function M.is_known_poster(file)
  return cache.get("requests:poster:" .. file) ~= nil
end

local function item_of(r)
  local movie = r.mediaType == "movie"
  local title = movie and r.title or r.name
  return { tmdbId = math.tointeger(r.id), mediaType = r.mediaType, title = title or "",
           year = year_of(movie and r.releaseDate or r.firstAirDate),
           overview = r.overview or "", posterPath = type(r.posterPath) == "string" and r.posterPath or json.null,
           availability = availability_of(r.mediaInfo) }
end

-- Overlay what MediaNest knows (live requests, the viewer's part in them).
function M.annotate(items, viewer)
  local keys, by_key = {}, {}
  for _, it in ipairs(items) do
    local k = it.mediaType .. ":" .. it.tmdbId
    keys[#keys + 1] = k
    by_key[k] = by_key[k] or {}
    table.insert(by_key[k], it)
  end
  local live = store.live_for_many(keys)
  local ids = {}
  for _, r in ipairs(live) do ids[#ids + 1] = r.id end
  local following = store.following_set(viewer, ids)
  for _, r in ipairs(live) do
    for _, it in ipairs(by_key[r.media_type .. ":" .. r.tmdb_id] or {}) do
      if it.requestId == nil then
        it.requestId = r.id
        local a = LOCAL_AVAILABILITY[r.status]
        if a and (it.availability ~= "available") then it.availability = a end
      end
      if r.user_id == viewer then it.requested = true end
      if following[r.id] then it.following = true end
    end
  end
  for _, it in ipairs(items) do
    it.requestId = it.requestId or json.null
    it.requested = it.requested or false
    it.following = it.following or false
  end
  return items
end

-- Which Overseerr answered: part of every key, so pointing MediaNest at
-- another Overseerr never serves the old one's results.
local function origin()
  local s = overseerr.service()
  return crypto.hex(crypto.sha256(s and s.url or "-")):sub(1, 12)
end

local function cached(key, ttl, loader)
  local v, err, level = cache.fetch(key, { ttl = ttl or TTL, stale_ttl = STALE }, loader)
  if v == nil then
    if err then M.raise(err) end
    return nil
  end
  return v, level == "stale"
end

-- search(q, page, viewer[, ttl]) -> {results, page, totalPages, totalResults, stale?}
function M.search(q, page, viewer, ttl)
  local key = ("requests:search:%s:%s:%d"):format(origin(), crypto.hex(crypto.sha256(q)):sub(1, 32), page)
  local v, stale = cached(key, ttl, function()
    local body, err = overseerr.call("GET", "/search", { query = { query = q, page = page, language = "en" } })
    if not body then return nil, err end
    local results = json.array()
    for _, r in ipairs(body.results or {}) do
      -- people are dropped: MediaNest requests titles, not persons
      if r.mediaType == "movie" or r.mediaType == "tv" then
        results[#results + 1] = item_of(r)
        M.known_poster(r.posterPath)
      end
    end
    return { results = results, page = math.tointeger(body.page) or page,
             totalPages = math.tointeger(body.totalPages) or 1, totalResults = math.tointeger(body.totalResults) or #results }
  end)
  v.results = json.array(M.annotate(v.results or {}, viewer))
  if stale then v.stale = true end
  return v
end

local function seasons_of(d)
  local out = json.array()
  local mi = type(d.mediaInfo) == "table" and d.mediaInfo or {}
  local status = {}
  for _, s in ipairs(type(mi.seasons) == "table" and mi.seasons or {}) do
    status[math.tointeger(s.seasonNumber)] = M.MEDIA_AVAILABILITY[math.tointeger(s.status)]
  end
  -- seasons of active Overseerr requests count as requested
  for _, rq in ipairs(type(mi.requests) == "table" and mi.requests or {}) do
    local st = math.tointeger(rq.status)
    if st == 1 or st == 2 then
      for _, s in ipairs(rq.seasons or {}) do
        local n = math.tointeger(s.seasonNumber)
        if n and not status[n] then status[n] = st == 1 and "requested" or "processing" end
      end
    end
  end
  for _, s in ipairs(d.seasons or {}) do
    local n = math.tointeger(s.seasonNumber)
    if n and n >= 1 then
      out[#out + 1] = { seasonNumber = n, episodeCount = math.tointeger(s.episodeCount) or 0,
                        name = s.name, availability = status[n] or "none" }
    end
  end
  return out
end

local function details_of(kind, d)
  local movie = kind == "movie"
  local genres = json.array()
  for _, g in ipairs(d.genres or {}) do genres[#genres + 1] = g.name end
  local out = { tmdbId = math.tointeger(d.id), mediaType = kind, title = (movie and d.title or d.name) or "",
                year = year_of(movie and d.releaseDate or d.firstAirDate), overview = d.overview or "",
                posterPath = type(d.posterPath) == "string" and d.posterPath or json.null,
                backdropPath = type(d.backdropPath) == "string" and d.backdropPath or json.null,
                genres = genres, runtime = movie and math.tointeger(d.runtime) or nil,
                availability = availability_of(d.mediaInfo) }
  if not movie then out.seasons = seasons_of(d) end
  return out
end

function M.details_key(kind, id) return ("requests:media:%s:%d:%s"):format(kind, id, origin()) end

-- details(kind, tmdb_id[, ttl]) -> the cached details (not annotated) | raises
function M.details(kind, id, ttl)
  local v, stale = cached(M.details_key(kind, id), ttl, function()
    local body, err = overseerr.call("GET", "/" .. kind .. "/" .. id, { query = { language = "en" } })
    if not body then return nil, err end
    M.known_poster(body.posterPath)
    return details_of(kind, body)
  end)
  if stale then v.stale = true end
  return v
end

-- Mark each season of a show with what MediaNest's live requests asked for.
function M.annotate_seasons(d, live)
  if not d.seasons then return d end
  local asked = {}
  for _, r in ipairs(live) do
    if r.seasons == json.null or r.seasons == nil then
      for _, s in ipairs(d.seasons) do asked[s.seasonNumber] = r end
    else
      for _, n in ipairs(r.seasons) do asked[n] = r end
    end
  end
  for _, s in ipairs(d.seasons) do
    local r = asked[s.seasonNumber]
    if r and (s.availability == "none") then s.availability = LOCAL_AVAILABILITY[r.status] or "requested" end
    if r then s.requestId = r.id end
  end
  return d
end

return M
