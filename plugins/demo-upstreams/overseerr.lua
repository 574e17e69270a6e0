-- plugins/demo-upstreams/overseerr.lua — a stand-in Overseerr (API v1) for
-- `serve --demo` and the specs, mounted at /demo/overseerr by the plugin's
-- init.lua (docs/demo-upstreams.md, ../shared/reference/external-apis.md, the OpenAPI file
-- spec/fixtures/reference/overseerr-api.json whose shapes the answers follow).
--
-- What it reproduces: X-Api-Key (403 with Overseerr's body on a bad or
-- missing key; /status is public), X-API-User (the request acts as that
-- Overseerr user; an unknown id is a 403 like a bad key), the search rule
-- (a raw reserved character in the query string — `+`, `!`, `'`, `(`, `)`,
-- `*`, ... — is a 400 "Parameter 'query' must be url encoded..."), admin
-- auto-approval, duplicates (409) and "No seasons available to request"
-- (202), request and media status numbers, request filters/sorts/paging, and
-- the webhook agent: on every request state change it POSTs the default
-- template (every value a string, media/request objects, issue/comment null)
-- to the configured URL with the configured Authorization header.
--
-- Users: 1 "owner" (ADMIN, auto-approves), 2 "friend" (REQUEST only).
-- Catalogue: a few well-known titles, every movie and show of the PMS fake's
-- generated library (AVAILABLE, with the TMDB ids and ratingKeys the PMS
-- metadata carries: movie i is tmdb 10000+13i / ratingKey 100000+i, show s
-- is tmdb 50000+17s / tvdb 70000+11s / ratingKey 200000+s), and generated
-- titles Plex does not have, to request.
--
-- Spec controls (public, documented in docs/demo-upstreams.md):
-- /demo/overseerr/_control {latency_ms, failure_rate, failure_status,
-- fail_next, reset} as every fake of the plugin (plexutil.control), and
-- under /demo/overseerr/_control/: requests/{id} {status}, webhook {url,
-- authorization}, reset.
--
-- State lives in this module, so per generation (one Lua state per app
-- generation): a hot reload or a restart starts from the initial catalogue.
local json = require "nest.json"
local fetch = require "nest.fetch"
local timer = require "nest.timer"
local util = require "plugins.demo-upstreams.plexutil"

local M = {}

local PREFIX = "/demo/overseerr"
local API = PREFIX .. "/api/v1"
local DEMO_KEY = "demo-overseerr-key"
local VERSION = "1.33.2"

local PERM = { ADMIN = 2, MANAGE_REQUESTS = 16, REQUEST = 32, AUTO_APPROVE = 128 }
local REQ = { PENDING = 1, APPROVED = 2, DECLINED = 3, FAILED = 4, COMPLETED = 5 }
local MEDIA = { UNKNOWN = 1, PENDING = 2, PROCESSING = 3, PARTIALLY_AVAILABLE = 4, AVAILABLE = 5 }
local MEDIA_NAME = { "UNKNOWN", "PENDING", "PROCESSING", "PARTIALLY_AVAILABLE", "AVAILABLE", "BLOCKLISTED", "DELETED" }
M.REQUEST_STATUS, M.MEDIA_STATUS, M.DEMO_KEY = REQ, MEDIA, DEMO_KEY

---------------------------------------------------------------------------
-- Catalogue (deterministic)
---------------------------------------------------------------------------

local KNOWN_MOVIES = {
  { 27205, "Inception", "2010-07-15", "tt1375666", true },
  { 603, "The Matrix", "1999-03-30", "tt0133093", true },
  { 157336, "Interstellar", "2014-11-05", "tt0816692", false },
  { 155, "The Dark Knight", "2008-07-16", "tt0468569", false },
  { 680, "Pulp Fiction", "1994-09-10", "tt0110912", false },
  { 550, "Fight Club", "1999-10-15", "tt0137523", false },
  { 862, "Toy Story", "1995-10-30", "tt0114709", true },
  { 329865, "Arrival", "2016-11-10", "tt2543164", false },
  { 337401, "Mulan", "2020-09-04", "tt4566758", false },
  { 19913, "(500) Days of Summer", "2009-07-17", "tt1022603", false },
  { 646380, "Don't Look Up", "2021-12-07", "tt11286314", false },
  { 954, "Mission: Impossible", "1996-05-22", "tt0117060", false },
  { 146, "Crouching Tiger, Hidden Dragon", "2000-07-06", "tt0190332", false },
  -- the seed's load test searches "matrix": its sequels are not in Plex yet
  { 604, "The Matrix Reloaded", "2003-05-15", "tt0234215", false },
  { 605, "The Matrix Revolutions", "2003-11-05", "tt0242653", false },
}
local KNOWN_TV = {
  { 1399, "Game of Thrones", "2011-04-17", 121361, 8, false },
  { 1396, "Breaking Bad", "2008-01-20", 81189, 5, true },
  { 66732, "Stranger Things", "2016-07-15", 305288, 4, false },
  { 76479, "The Boys", "2019-07-25", 355567, 4, false },
  { 1668, "Friends", "1994-09-22", 79168, 10, false },
  { 60625, "Rick and Morty", "2013-12-02", 275274, 7, false },
}
local ADJ = { "Silent", "Crimson", "Hidden", "Last", "Golden", "Broken", "Electric", "Frozen", "Distant",
              "Wild", "Quiet", "Burning", "Secret", "Endless", "Midnight", "Paper", "Iron", "Velvet" }
local NOUN = { "Harbor", "Garden", "Signal", "River", "Empire", "Orchard", "Lantern", "Frontier", "Machine",
               "Tide", "Mountain", "Archive", "Station", "Voyage", "Kingdom", "Compass", "Horizon", "Mirror" }
local GENRES = { { id = 28, name = "Action" }, { id = 12, name = "Adventure" }, { id = 35, name = "Comedy" },
                 { id = 18, name = "Drama" }, { id = 878, name = "Science Fiction" }, { id = 53, name = "Thriller" } }
local GENERATED_MOVIES, GENERATED_TV = 600, 120

local catalogue   -- built once per generation: { movies = {[id]=m}, tv = {[id]=t}, list = {...}, people = {...} }

local top_settings = {}   -- the plugin's settings (seed, movies, shows: the PMS fake's library)

-- The PMS fake's generated library (library.lua), when it is there: its
-- movies and shows are "already in Plex" here, with the TMDB/TVDB ids and
-- ratingKeys its metadata carries, so search results line up with Plex.
local function plex_library()
  local ok, lib = pcall(require, "plugins.demo-upstreams.library")
  if not ok or type(lib) ~= "table" or type(lib.new) ~= "function" then return nil end
  local s = top_settings
  local n_movies, n_shows = math.tointeger(s.movies) or 5000, math.tointeger(s.shows) or 500
  local ok2, l = pcall(lib.new, { seed = s.seed or 20240501, movies = n_movies, shows = n_shows, videos = 0 })
  if not ok2 or type(l) ~= "table" or type(l.core) ~= "function" then return nil end
  return l, lib, n_movies, n_shows
end

local function build_catalogue()
  local c = { movies = {}, tv = {}, list = {}, people = {} }
  local function add_movie(id, title, date, imdb, available, rating_key)
    if c.movies[id] then return end
    local m = { kind = "movie", id = id, title = title, releaseDate = date, imdbId = imdb,
                available = available, ratingKey = rating_key, genre = GENRES[id % #GENRES + 1],
                voteAverage = 5 + (id % 50) / 10, popularity = 10 + id % 97,
                runtime = 85 + id % 70, posterPath = ("/demo-movie-%d.jpg"):format(id) }
    c.movies[id] = m
    c.list[#c.list + 1] = m
  end
  local function add_tv(id, name, date, tvdb, seasons, available, rating_key)
    if c.tv[id] then return end
    local t = { kind = "tv", id = id, name = name, firstAirDate = date, tvdbId = tvdb, seasons = seasons,
                available = available, ratingKey = rating_key, genre = GENRES[id % #GENRES + 1],
                voteAverage = 6 + (id % 40) / 10, popularity = 20 + id % 89,
                posterPath = ("/demo-tv-%d.jpg"):format(id) }
    c.tv[id] = t
    c.list[#c.list + 1] = t
  end
  for _, m in ipairs(KNOWN_MOVIES) do add_movie(m[1], m[2], m[3], m[4], m[5]) end
  for _, t in ipairs(KNOWN_TV) do add_tv(t[1], t[2], t[3], t[4], t[5], t[6]) end
  local lib, mod, n_movies, n_shows = plex_library()
  if lib then
    local ok, err = pcall(function()
      for i = 1, n_movies do
        local core = lib:core(100000 + i)
        if core then
          add_movie(10000 + i * 13, core.title, ("%04d-01-01"):format(core.year), "tt" .. (1000000 + i * 37),
            true, tostring(100000 + i))
        end
      end
      for i = 1, n_shows do
        local core = lib:core(200000 + i)
        if core then
          local seasons = type(mod.n_seasons) == "function" and mod.n_seasons(lib, i) or 1
          add_tv(50000 + i * 17, core.title, ("%04d-01-01"):format(core.year), 70000 + i * 11, seasons, true,
            tostring(200000 + i))
        end
      end
    end)
    if not ok then require("nest.log").warn("demo overseerr: the PMS library did not load", { error = tostring(err) }) end
  end
  -- titles Plex does not have (requestable); without the PMS library some are "available"
  for i = 1, GENERATED_MOVIES do
    local a, n = ADJ[(i * 7) % #ADJ + 1], NOUN[(i * 11 + i // #NOUN) % #NOUN + 1]
    local title = ("The %s %s"):format(a, n)
    if i > #ADJ * #NOUN // 2 then title = title .. " " .. (i % 3 + 2) end
    add_movie(900000 + i, title, ("%d-%02d-%02d"):format(1970 + i % 54, i % 12 + 1, i % 28 + 1),
      ("tt9%06d"):format(i), not lib and i % 5 == 0)
  end
  for i = 1, GENERATED_TV do
    local a, n = ADJ[(i * 5) % #ADJ + 1], NOUN[(i * 13) % #NOUN + 1]
    add_tv(950000 + i, ("%s %s"):format(a, n), ("%d-%02d-01"):format(1990 + i % 34, i % 12 + 1),
      700000 + i, 1 + i % 6, not lib and i % 4 == 0)
  end
  c.people[1] = { id = 6193, name = "Leonardo DiCaprio", knownFor = { 27205 } }
  c.people[2] = { id = 1892, name = "Matt Damon", knownFor = { 157336 } }
  return c
end

---------------------------------------------------------------------------
-- State
---------------------------------------------------------------------------

local control          -- latency/failure injection (plexutil's control, shared shape with the other fakes)
local state            -- users, media (by "movie:id"), requests, counters, webhook, outbox
local settings_ref = {}

local function iso(t)
  local s = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. (".%03dZ"):format(math.floor((t - s) * 1000))
end

local function now()
  local ok, app = pcall(require, "nest.core.app")
  return ok and app.now() or os.time()
end

local function new_user(id, name, perms, created)
  return { id = id, email = name .. "@medianest.demo", plexUsername = name, username = name,
           displayName = name, plexId = 1000 + id, userType = 1, permissions = perms,
           avatar = "/demo/plextv/avatars/" .. name .. ".png", createdAt = created, updatedAt = created,
           requestCount = 0 }
end

local function reset_state()
  catalogue = catalogue or build_catalogue()
  local t0 = iso(now() - 86400 * 30)
  state = {
    users = { new_user(1, "owner", PERM.ADMIN, t0), new_user(2, "friend", PERM.REQUEST, t0) },
    media = {}, media_by_id = {}, next_media = 1,
    requests = {}, order = {}, next_request = 1, seq = 0,
    webhook = state and state.webhook or nil,
    deliveries = {}, outbox = {}, sending = false,
  }
  -- what is already in Plex
  for _, item in ipairs(catalogue.list) do
    if item.available then
      local m = { id = state.next_media, mediaType = item.kind, tmdbId = item.id,
            tvdbId = item.kind == "tv" and item.tvdbId or json.null, status = MEDIA.AVAILABLE,
            status4k = MEDIA.UNKNOWN, createdAt = t0, updatedAt = t0, seasons = {},
            ratingKey = item.ratingKey or tostring(50000 + state.next_media), item = item }
      if item.kind == "tv" then
        for n = 1, item.seasons do m.seasons[n] = MEDIA.AVAILABLE end
      end
      state.next_media = state.next_media + 1
      state.media[item.kind .. ":" .. item.id] = m
      state.media_by_id[m.id] = m
    end
  end
end

local function user_by_id(id)
  for _, u in ipairs(state.users) do if u.id == id then return u end end
end

local function has_perm(u, p)
  return (u.permissions & PERM.ADMIN) ~= 0 or (u.permissions & p) ~= 0
end

---------------------------------------------------------------------------
-- Serialisation (shapes of the OpenAPI file)
---------------------------------------------------------------------------

local function user_json(u)
  if not u then return json.null end
  return { id = u.id, email = u.email, plexUsername = u.plexUsername, username = u.username,
           displayName = u.displayName, plexId = u.plexId, userType = u.userType,
           permissions = u.permissions, avatar = u.avatar, createdAt = u.createdAt,
           updatedAt = u.updatedAt, requestCount = u.requestCount }
end

local request_json

local function media_json(m, with_requests)
  if not m then return nil end
  local seasons = json.array()
  local nums = {}
  for n in pairs(m.seasons) do nums[#nums + 1] = n end
  table.sort(nums)
  for _, n in ipairs(nums) do
    seasons[#seasons + 1] = { id = m.id * 100 + n, seasonNumber = n, status = m.seasons[n],
                              status4k = MEDIA.UNKNOWN, createdAt = m.createdAt, updatedAt = m.updatedAt }
  end
  local out = { id = m.id, mediaType = m.mediaType, tmdbId = m.tmdbId, tvdbId = m.tvdbId,
                imdbId = m.item.imdbId or json.null, status = m.status, status4k = m.status4k,
                createdAt = m.createdAt, updatedAt = m.updatedAt, seasons = seasons,
                ratingKey = m.ratingKey or json.null, ratingKey4k = json.null,
                plexUrl = m.ratingKey and ("https://app.plex.tv/desktop#!/server/demo-pms-machine-0001/details?key=%%2Flibrary%%2Fmetadata%%2F" .. m.ratingKey) or json.null,
                serviceId = json.null, externalServiceId = json.null, mediaAddedAt = m.status == MEDIA.AVAILABLE and m.updatedAt or json.null }
  if with_requests then
    local reqs = json.array()
    for _, id in ipairs(state.order) do
      local r = state.requests[id]
      if r and r.media == m then reqs[#reqs + 1] = request_json(r, true) end
    end
    out.requests = reqs
  end
  return out
end

function request_json(r, no_media)
  local seasons = json.array()
  for _, s in ipairs(r.seasons) do
    seasons[#seasons + 1] = { id = r.id * 100 + s.seasonNumber, seasonNumber = s.seasonNumber,
                              status = s.status, createdAt = r.createdAt, updatedAt = r.updatedAt }
  end
  return { id = r.id, status = r.status, type = r.type, is4k = r.is4k,
           media = (not no_media) and media_json(r.media) or nil,
           createdAt = r.createdAt, updatedAt = r.updatedAt,
           requestedBy = user_json(r.requestedBy), modifiedBy = user_json(r.modifiedBy),
           seasons = seasons, serverId = 0, profileId = 4, rootFolder = r.type == "tv" and "/tv" or "/movies",
           languageProfileId = json.null, tags = json.array(), isAutoRequest = false }
end

local function result_json(item)
  local m = state.media[item.kind .. ":" .. item.id]
  local base = { id = item.id, mediaType = item.kind, popularity = item.popularity,
                 posterPath = item.posterPath, backdropPath = "/demo-backdrop-" .. item.id .. ".jpg",
                 voteCount = 100 + item.id % 9000, voteAverage = item.voteAverage,
                 genreIds = { item.genre.id }, overview = "A demo " .. item.kind .. " from MediaNest's fake Overseerr.",
                 originalLanguage = "en", mediaInfo = media_json(m) }
  if item.kind == "movie" then
    base.title, base.originalTitle, base.releaseDate = item.title, item.title, item.releaseDate
    base.adult, base.video = false, false
  else
    base.name, base.originalName, base.firstAirDate = item.name, item.name, item.firstAirDate
    base.originCountry = { "US" }
  end
  return base
end

local function person_json(p)
  local known = json.array()
  for _, id in ipairs(p.knownFor) do known[#known + 1] = result_json(catalogue.movies[id]) end
  return { id = p.id, name = p.name, mediaType = "person", adult = false, popularity = 30,
           profilePath = "/demo-person-" .. p.id .. ".jpg", knownFor = known }
end

local function common_details(item)
  return {
    id = item.id, backdropPath = "/demo-backdrop-" .. item.id .. ".jpg", posterPath = item.posterPath,
    genres = { item.genre }, homepage = "", originalLanguage = "en",
    overview = "A demo " .. item.kind .. " from MediaNest's fake Overseerr.",
    popularity = item.popularity, productionCompanies = { { id = 1, name = "Demo Pictures", originCountry = "US", logoPath = json.null } },
    productionCountries = { { iso_3166_1 = "US", name = "United States of America" } },
    spokenLanguages = { { englishName = "English", iso_639_1 = "en", name = "English" } },
    status = "Released", tagline = "", voteAverage = item.voteAverage, voteCount = 100 + item.id % 9000,
    credits = { cast = { { id = 6193, castId = 1, character = "Lead", creditId = "c" .. item.id,
                           gender = 2, name = "Demo Actor", order = 0, profilePath = json.null } },
                crew = json.array() },
    relatedVideos = json.array(), watchProviders = json.array(),
    mediaInfo = media_json(state.media[item.kind .. ":" .. item.id], true),
  }
end

local function movie_details(item)
  local d = common_details(item)
  d.imdbId, d.adult, d.budget, d.revenue, d.runtime = item.imdbId, false, 1000000 * (item.id % 200), json.null, item.runtime
  d.title, d.originalTitle, d.releaseDate, d.video = item.title, item.title, item.releaseDate, false
  d.releases = { results = json.array() }
  d.externalIds = { imdbId = item.imdbId, facebookId = json.null, instagramId = json.null, twitterId = json.null }
  return d
end

local function tv_details(item)
  local d = common_details(item)
  d.name, d.originalName, d.firstAirDate = item.name, item.name, item.firstAirDate
  d.lastAirDate, d.inProduction, d.type = item.firstAirDate, false, "Scripted"
  d.episodeRunTime, d.languages, d.originCountry = { 45 }, { "en" }, { "US" }
  d.contentRatings = { results = { { iso_3166_1 = "US", rating = "TV-14" } } }
  d.createdBy = json.array()
  d.networks = { { id = 49, name = "Demo Network", originCountry = "US", logoPath = json.null } }
  d.numberOfSeason, d.numberOfEpisodes = item.seasons, item.seasons * 10
  d.keywords = json.array()
  d.externalIds = { tvdbId = item.tvdbId, imdbId = json.null, facebookId = json.null }
  local seasons = json.array()
  for n = 0, item.seasons do
    seasons[#seasons + 1] = { id = item.id * 100 + n, airDate = item.firstAirDate, episodeCount = n == 0 and 2 or 10,
                              name = n == 0 and "Specials" or ("Season " .. n), overview = "",
                              posterPath = item.posterPath, seasonNumber = n }
  end
  d.seasons = seasons
  d.lastEpisodeToAir = { id = item.id * 1000 + 1, name = "Finale", airDate = item.firstAirDate, episodeNumber = 10,
                         overview = "", productionCode = "", seasonNumber = item.seasons, showId = item.id,
                         stillPath = json.null, voteAverage = 7, voteCount = 10 }
  return d
end

---------------------------------------------------------------------------
-- Webhook agent
---------------------------------------------------------------------------

local NOTIFY_EVENT = {
  MEDIA_PENDING = "New %s Request", MEDIA_AUTO_APPROVED = "%s Request Automatically Approved",
  MEDIA_APPROVED = "%s Request Approved", MEDIA_AVAILABLE = "%s Request Now Available",
  MEDIA_DECLINED = "%s Request Declined", MEDIA_FAILED = "%s Request Failed",
}

local function item_of(m) return m.item end

local function subject_of(item)
  if item.kind == "movie" then return ("%s (%s)"):format(item.title, item.releaseDate:sub(1, 4)) end
  return ("%s (%s)"):format(item.name, item.firstAirDate:sub(1, 4))
end

-- The default webhook template of Overseerr, filled: every value a string.
local function webhook_payload(kind, r)
  local item = item_of(r.media)
  local m = r.media
  local u = r.requestedBy
  local extra = json.array()
  if r.type == "tv" then
    local ns = {}
    for _, s in ipairs(r.seasons) do ns[#ns + 1] = tostring(s.seasonNumber) end
    extra[1] = { name = "Requested Seasons", value = table.concat(ns, ", ") }
  end
  return {
    notification_type = kind,
    event = NOTIFY_EVENT[kind]:format(item.kind == "movie" and "Movie" or "Series"),
    subject = subject_of(item),
    message = "A demo " .. item.kind .. " from MediaNest's fake Overseerr.",
    image = "https://image.tmdb.org/t/p/w600_and_h900_bestv2" .. item.posterPath,
    media = {
      media_type = m.mediaType,
      tmdbId = tostring(m.tmdbId),
      tvdbId = m.tvdbId ~= json.null and tostring(m.tvdbId) or "",
      status = MEDIA_NAME[m.status] or "",
      status4k = MEDIA_NAME[m.status4k] or "",
    },
    request = {
      request_id = tostring(r.id),
      requestedBy_email = u.email,
      requestedBy_username = u.displayName,
      requestedBy_avatar = u.avatar,
      requestedBy_settings_discordId = "",
      requestedBy_settings_telegramChatId = "",
    },
    issue = json.null,
    comment = json.null,
    extra = extra,
  }
end

-- Where the agent posts: the control endpoint's choice, else the settings,
-- else (serve --demo) MediaNest's own webhook route with the demo secret.
local function webhook_target()
  if state.webhook then return state.webhook.url, state.webhook.authorization end
  local s = settings_ref
  if s.webhook_url and s.webhook_url ~= "" then return s.webhook_url, s.webhook_auth end
  local ok, cfg = pcall(function() return require("nest.config").get() end)
  if ok and cfg and cfg.demo and cfg.services and cfg.services.overseerr then
    local o = cfg.services.overseerr
    local base = type(o.url) == "string" and o.url:match("^(https?://[^/]+)")
    if base and not base:match(":0$") then
      return base .. "/api/v1/webhooks/overseerr", s.webhook_auth or o.webhook_secret
    end
  end
  return nil
end

local function drain()
  while #state.outbox > 0 do
    local job = table.remove(state.outbox, 1)
    local headers = { ["Content-Type"] = "application/json", ["User-Agent"] = "Overseerr/" .. VERSION }
    if job.authorization and job.authorization ~= "" then headers.Authorization = job.authorization end
    local res, err = fetch(job.url, { method = "POST", headers = headers, body = json.encode(job.payload),
                                      timeout = 5, service = "demo-overseerr-webhook" })
    local d = state.deliveries
    d[#d + 1] = { notification_type = job.payload.notification_type, request_id = job.payload.request.request_id,
                  url = job.url, status = res and res.status or json.null, error = err or json.null }
    if #d > 100 then table.remove(d, 1) end
  end
  state.sending = false
end

local function notify(kind, r)
  local url, auth = webhook_target()
  if not url then return end
  state.outbox[#state.outbox + 1] = { url = url, authorization = auth, payload = webhook_payload(kind, r) }
  if not state.sending then
    state.sending = true
    local my_state = state
    timer.at(0, function(premature)
      if premature or my_state ~= state then my_state.sending = false return end
      drain()
    end)
  end
end

---------------------------------------------------------------------------
-- Requests
---------------------------------------------------------------------------

local function touch(r, by)
  state.seq = state.seq + 1
  r.seq = state.seq
  r.updatedAt = iso(now())
  r.media.updatedAt = r.updatedAt
  if by then r.modifiedBy = by end
end

local function media_for(item)
  local key = item.kind .. ":" .. item.id
  local m = state.media[key]
  if not m then
    local t = iso(now())
    m = { id = state.next_media, mediaType = item.kind, tmdbId = item.id,
          tvdbId = item.kind == "tv" and item.tvdbId or json.null, status = MEDIA.UNKNOWN,
          status4k = MEDIA.UNKNOWN, createdAt = t, updatedAt = t, seasons = {}, item = item }
    state.next_media = state.next_media + 1
    state.media[key] = m
    state.media_by_id[m.id] = m
  end
  return m
end

local function active(r) return r.status == REQ.PENDING or r.status == REQ.APPROVED end

-- The media's status from its requests (for a movie) or seasons (tv).
local function recompute_media(m)
  if m.status == MEDIA.AVAILABLE and m.mediaType == "movie" then return end
  if m.mediaType == "tv" then
    local any, all, total = false, true, m.item.seasons
    for n = 1, total do
      if m.seasons[n] == MEDIA.AVAILABLE then any = true else all = false end
    end
    if all then m.status = MEDIA.AVAILABLE return end
    if any then m.status = MEDIA.PARTIALLY_AVAILABLE return end
  end
  local best = MEDIA.UNKNOWN
  for _, r in pairs(state.requests) do
    if r.media == m and not r.is4k then
      if r.status == REQ.PENDING and best < MEDIA.PENDING then best = MEDIA.PENDING end
      if r.status == REQ.APPROVED and best < MEDIA.PROCESSING then best = MEDIA.PROCESSING end
    end
  end
  m.status = best
end

-- Set a request's state; returns the webhook notification it causes, if any.
local function set_state(r, what, by)
  local kind
  if what == "approved" then
    r.status = REQ.APPROVED
    for _, s in ipairs(r.seasons) do s.status = REQ.APPROVED end
    kind = "MEDIA_APPROVED"
  elseif what == "declined" then
    r.status = REQ.DECLINED
    for _, s in ipairs(r.seasons) do s.status = REQ.DECLINED end
    kind = "MEDIA_DECLINED"
  elseif what == "failed" then
    r.status = REQ.FAILED
    kind = "MEDIA_FAILED"
  elseif what == "pending" then
    r.status = REQ.PENDING
    kind = "MEDIA_PENDING"
  elseif what == "processing" then
    r.status = REQ.APPROVED
    r.media.status = MEDIA.PROCESSING
  elseif what == "completed" then
    r.status = REQ.COMPLETED
  elseif what == "available" or what == "partially_available" then
    if r.status == REQ.PENDING then r.status = REQ.APPROVED end
    if r.media.mediaType == "tv" then
      local list = r.seasons
      if what == "partially_available" then list = { r.seasons[1] } end
      for _, s in ipairs(list) do r.media.seasons[s.seasonNumber] = MEDIA.AVAILABLE end
      if what == "available" then
        -- every season the request asked for is in; the show is fully available when all are
        r.media.status = MEDIA.AVAILABLE
        for n = 1, r.media.item.seasons do
          if r.media.seasons[n] ~= MEDIA.AVAILABLE then r.media.status = MEDIA.PARTIALLY_AVAILABLE end
        end
      else
        r.media.status = MEDIA.PARTIALLY_AVAILABLE
      end
    else
      r.media.status = MEDIA.AVAILABLE
    end
    kind = "MEDIA_AVAILABLE"
  else
    return nil, "unknown status '" .. tostring(what) .. "'"
  end
  if what ~= "available" and what ~= "partially_available" and what ~= "processing" then recompute_media(r.media) end
  touch(r, by)
  return kind or true
end

local FILTERS = {
  all = function() return true end,
  approved = function(r) return r.status == REQ.APPROVED end,
  pending = function(r) return r.status == REQ.PENDING end,
  declined = function(r) return r.status == REQ.DECLINED end,
  failed = function(r) return r.status == REQ.FAILED end,
  available = function(r) return r.media.status == MEDIA.AVAILABLE end,
  processing = function(r)
    return r.status == REQ.APPROVED and r.media.status ~= MEDIA.AVAILABLE
  end,
  unavailable = function(r)
    return (r.status == REQ.PENDING or r.status == REQ.APPROVED) and r.media.status ~= MEDIA.AVAILABLE
  end,
}

---------------------------------------------------------------------------
-- HTTP
---------------------------------------------------------------------------

local function forbidden(res)
  return res:json({ status = 403, error = "You do not have permission to access this endpoint" }, 403)
end

local function message(res, status, msg)
  return res:json({ message = msg }, status)
end

-- The Overseerr user this request acts as, or nil after answering 403.
local function authenticate(req, res)
  local key = settings_ref.api_key or DEMO_KEY
  local given = req.headers["x-api-key"]
  if not given or given ~= key then forbidden(res) return nil end
  local uid = 1
  local hdr = req.headers["x-api-user"]
  if hdr and hdr ~= "" then uid = math.tointeger(tonumber(hdr)) end
  local u = uid and user_by_id(uid)
  if not u then forbidden(res) return nil end
  return u
end

-- Wrap a handler: faults, then the key (unless public), then fn(req, res, user).
local function handler(fn, public)
  return function(req, res)
    if not state then reset_state() end
    if control and control:before() then
      return message(res, control.failure_status, "Something went wrong.")
    end
    local user
    if not public then
      user = authenticate(req, res)
      if not user then return end
    end
    return fn(req, res, user)
  end
end

-- The raw value of a query parameter (before decoding), for the url-encoding rule.
local function raw_param(req, name)
  for pair in (req.raw_query or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k == name then return v end
  end
end

local function pct_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function int_param(v, default)
  if v == nil or v == "" then return default end
  return math.tointeger(tonumber(v))
end

local function page_of(list, take, skip)
  local out = json.array()
  for i = skip + 1, math.min(#list, skip + take) do out[#out + 1] = list[i] end
  return out
end

local function routes(r)
  local pub = { auth = "public", at_root = true }
  local function get(path, fn, public) r:get(API .. path, pub, handler(fn, public)) end
  local takes_body = { auth = "public", at_root = true, body_limit = 64 * 1024 }
  local function post(path, fn) r:post(API .. path, takes_body, handler(fn)) end

  get("/status", function(_, res)
    return res:json({ version = VERSION, commitTag = "v" .. VERSION, updateAvailable = false,
                      commitsBehind = 0, restartRequired = false })
  end, true)

  get("/auth/me", function(_, res, user) return res:json(user_json(user)) end)

  get("/user", function(req, res)
    local q = req:query_params()
    local take, skip = int_param(q.take, 10) or 10, int_param(q.skip, 0) or 0
    local all = {}
    for _, u in ipairs(state.users) do all[#all + 1] = user_json(u) end
    return res:json({ pageInfo = { pages = math.max(1, math.ceil(#all / take)), pageSize = take,
                                   results = #all, page = math.ceil(skip / take) + 1 },
                      results = page_of(all, take, skip) })
  end)

  get("/user/{userId}", function(req, res)
    local u = user_by_id(math.tointeger(tonumber(req.params.userId)) or -1)
    if not u then return message(res, 404, "User not found.") end
    return res:json(user_json(u))
  end)

  get("/search", function(req, res)
    local raw = raw_param(req, "query")
    if raw == nil or raw == "" then
      return res:json({ message = "request/query must have required property 'query'",
                        errors = { { path = "/query/query", message = "must have required property 'query'",
                                     errorCode = "required.openapi.validation" } } }, 400)
    end
    if raw:find("[/?:@!$'()*+,;=]") then
      return res:json({ message = "Parameter 'query' must be url encoded. Its value may not contain reserved characters.",
                        errors = { { path = "/query/query",
                                     message = "Parameter 'query' must be url encoded. Its value may not contain reserved characters." } } }, 400)
    end
    local query = pct_decode(raw):lower()
    local page = int_param(req:query_params().page, 1) or 1
    if page < 1 then page = 1 end
    local hits = {}
    for _, item in ipairs(catalogue.list) do
      local name = (item.title or item.name):lower()
      if name:find(query, 1, true) then hits[#hits + 1] = item end
    end
    local people = {}
    for _, p in ipairs(catalogue.people) do
      if p.name:lower():find(query, 1, true) then people[#people + 1] = p end
    end
    local results = json.array()
    local all = {}
    for _, p in ipairs(people) do all[#all + 1] = { person = p } end
    for _, it in ipairs(hits) do all[#all + 1] = { item = it } end
    for i = (page - 1) * 20 + 1, math.min(#all, page * 20) do
      local e = all[i]
      results[#results + 1] = e.person and person_json(e.person) or result_json(e.item)
    end
    return res:json({ page = page, totalPages = math.max(1, math.ceil(#all / 20)), totalResults = #all,
                      results = results })
  end)

  get("/movie/{movieId}", function(req, res)
    local item = catalogue.movies[math.tointeger(tonumber(req.params.movieId)) or -1]
    if not item then return message(res, 404, "Unable to retrieve movie.") end
    return res:json(movie_details(item))
  end)

  get("/tv/{tvId}", function(req, res)
    local item = catalogue.tv[math.tointeger(tonumber(req.params.tvId)) or -1]
    if not item then return message(res, 404, "Unable to retrieve series.") end
    return res:json(tv_details(item))
  end)

  get("/request/count", function(_, res)
    local c = { total = 0, movie = 0, tv = 0, pending = 0, approved = 0, declined = 0, processing = 0,
                available = 0 }
    for _, q in pairs(state.requests) do
      c.total = c.total + 1
      c[q.type] = c[q.type] + 1
      if q.status == REQ.PENDING then c.pending = c.pending + 1 end
      if q.status == REQ.APPROVED then c.approved = c.approved + 1 end
      if q.status == REQ.DECLINED then c.declined = c.declined + 1 end
      if FILTERS.processing(q) then c.processing = c.processing + 1 end
      if FILTERS.available(q) then c.available = c.available + 1 end
    end
    return res:json(c)
  end)

  get("/request", function(req, res, user)
    local q = req:query_params()
    local take, skip = int_param(q.take, 10), int_param(q.skip, 0)
    if not take or take < 1 or not skip or skip < 0 then
      return message(res, 400, "request/query/take and skip must be numbers")
    end
    local filter = FILTERS[q.filter or "all"]
    if not filter then
      return message(res, 400, "request/query/filter must be equal to one of the allowed values: all, approved, available, pending, processing, unavailable, failed")
    end
    local sort = q.sort or "added"
    if sort ~= "added" and sort ~= "modified" then
      return message(res, 400, "request/query/sort must be equal to one of the allowed values: added, modified")
    end
    local by = int_param(q.requestedBy)
    if not has_perm(user, PERM.MANAGE_REQUESTS) then by = user.id end
    local list = {}
    for _, id in ipairs(state.order) do
      local rq = state.requests[id]
      if rq and filter(rq) and (not by or rq.requestedBy.id == by) then list[#list + 1] = rq end
    end
    table.sort(list, function(a, b)
      if sort == "modified" then return a.seq > b.seq end
      return a.id > b.id
    end)
    local out = {}
    for i, rq in ipairs(list) do out[i] = rq end
    local page = page_of(out, take, skip)
    for i, rq in ipairs(page) do page[i] = request_json(rq) end
    return res:json({ pageInfo = { pages = math.ceil(#list / take), pageSize = take, results = #list,
                                   page = math.ceil(skip / take) + 1 },
                      results = page })
  end)

  post("/request", function(req, res, user)
    local body = json.decode(req.body or "")
    if type(body) ~= "table" then return message(res, 400, "request/body must be object") end
    local mt, mid = body.mediaType, math.tointeger(body.mediaId)
    if mt ~= "movie" and mt ~= "tv" then
      return message(res, 400, "request/body/mediaType must be equal to one of the allowed values: movie, tv")
    end
    if not mid then return message(res, 400, "request/body must have required property 'mediaId'") end
    local requester = user
    if body.userId ~= nil and body.userId ~= json.null then
      if not has_perm(user, PERM.ADMIN) then return forbidden(res) end
      requester = user_by_id(math.tointeger(body.userId) or -1)
      if not requester then return message(res, 404, "User not found.") end
    end
    if not has_perm(requester, PERM.REQUEST) then
      return res:json({ message = "You do not have permission to make requests." }, 403)
    end
    local item = (mt == "movie" and catalogue.movies or catalogue.tv)[mid]
    if not item then return message(res, 404, "Media not found.") end
    local is4k = body.is4k == true
    local m = media_for(item)
    local seasons = {}
    if mt == "movie" then
      if m.status == MEDIA.AVAILABLE and not is4k then
        return message(res, 409, "Request for this media already exists.")
      end
      for _, rq in pairs(state.requests) do
        if rq.media == m and rq.is4k == is4k and rq.status ~= REQ.DECLINED then
          return message(res, 409, "Request for this media already exists.")
        end
      end
    else
      local wanted = {}
      if body.seasons == "all" then
        for n = 1, item.seasons do wanted[#wanted + 1] = n end
      elseif type(body.seasons) == "table" then
        for _, n in ipairs(body.seasons) do
          n = math.tointeger(n)
          if n and n >= 1 and n <= item.seasons then wanted[#wanted + 1] = n end
        end
      end
      local taken = {}
      for n, st in pairs(m.seasons) do if st == MEDIA.AVAILABLE then taken[n] = true end end
      for _, rq in pairs(state.requests) do
        if rq.media == m and rq.is4k == is4k and active(rq) then
          for _, s in ipairs(rq.seasons) do taken[s.seasonNumber] = true end
        end
      end
      table.sort(wanted)
      for _, n in ipairs(wanted) do
        if not taken[n] then taken[n] = true seasons[#seasons + 1] = { seasonNumber = n, status = REQ.PENDING } end
      end
      if #seasons == 0 then return message(res, 202, "No seasons available to request") end
    end
    local t = iso(now())
    local rq = { id = state.next_request, status = REQ.PENDING, type = mt, is4k = is4k, media = m,
                 createdAt = t, updatedAt = t, requestedBy = requester, modifiedBy = nil, seasons = seasons }
    state.next_request = state.next_request + 1
    state.requests[rq.id] = rq
    state.order[#state.order + 1] = rq.id
    requester.requestCount = requester.requestCount + 1
    local auto = has_perm(requester, PERM.AUTO_APPROVE)
    if auto then
      set_state(rq, "approved", requester)
      notify("MEDIA_AUTO_APPROVED", rq)
    else
      recompute_media(m)
      touch(rq)
      notify("MEDIA_PENDING", rq)
    end
    return res:json(request_json(rq), 201)
  end)

  local function find_request(req, res)
    local id = math.tointeger(tonumber(req.params.requestId))
    local rq = id and state.requests[id]
    if not rq then message(res, 404, "Request not found.") return nil end
    return rq
  end

  get("/request/{requestId}", function(req, res, user)
    local rq = find_request(req, res)
    if not rq then return end
    if not has_perm(user, PERM.MANAGE_REQUESTS) and rq.requestedBy ~= user then
      return res:json({ message = "You do not have permission to view this request." }, 403)
    end
    return res:json(request_json(rq))
  end)

  r:put(API .. "/request/{requestId}", takes_body, handler(function(req, res, user)
    if not has_perm(user, PERM.MANAGE_REQUESTS) then return forbidden(res) end
    local rq = find_request(req, res)
    if not rq then return end
    local body = json.decode(req.body or "")
    if type(body) ~= "table" or (body.mediaType ~= "movie" and body.mediaType ~= "tv") then
      return message(res, 400, "request/body must have required property 'mediaType'")
    end
    if body.is4k ~= nil then rq.is4k = body.is4k == true end
    if rq.type == "tv" and type(body.seasons) == "table" then
      local seasons = {}
      for _, n in ipairs(body.seasons) do
        n = math.tointeger(n)
        if n and n >= 1 and n <= rq.media.item.seasons then seasons[#seasons + 1] = { seasonNumber = n, status = rq.status } end
      end
      rq.seasons = seasons
    end
    touch(rq, user)
    return res:json(request_json(rq))
  end))

  r:delete(API .. "/request/{requestId}", pub, handler(function(req, res, user)
    local rq = find_request(req, res)
    if not rq then return end
    if not has_perm(user, PERM.MANAGE_REQUESTS) and (rq.requestedBy ~= user or rq.status ~= REQ.PENDING) then
      return message(res, 401, "You do not have permission to delete this request.")
    end
    state.requests[rq.id] = nil
    recompute_media(rq.media)
    return res:send("", 204)
  end))

  post("/request/{requestId}/{action}", function(req, res, user)
    local action = req.params.action
    if action ~= "approve" and action ~= "decline" and action ~= "retry" then
      return message(res, 400, "request/params/status must be equal to one of the allowed values: approve, decline")
    end
    if not has_perm(user, PERM.MANAGE_REQUESTS) then return forbidden(res) end
    local rq = find_request(req, res)
    if not rq then return end
    local kind = set_state(rq, action == "decline" and "declined" or "approved", user)
    if action == "retry" then kind = nil end
    if type(kind) == "string" then notify(kind, rq) end
    return res:json(request_json(rq))
  end)

  -- TMDB's image server (image.tmdb.org/t/p/{size}/{file}), which Overseerr's
  -- posterPath values point into: drawn posters for the catalogue's titles.
  r:get("/demo/tmdb/t/p/{size}/{file}", pub, function(req, res)
    if control and control:before() then return res:send("", control.failure_status) end
    local kind, id = req.params.file:match("^demo%-(%a+)%-(%d+)%.jpg$")
    local item = id and ((kind == "movie" and catalogue.movies) or (kind == "tv" and catalogue.tv) or {})[tonumber(id)]
    local w = tonumber(req.params.size:match("^w(%d+)")) or 500
    if not item or not (req.params.size == "original" or req.params.size:match("^w%d+")) then
      return res:send("<html><body>404 Not Found</body></html>", 404, "text/html")
    end
    local image = require "plugins.demo-upstreams.image"
    w = math.min(w, 780)
    local cache = require "nest.core.cache"
    local key = ("demo-tmdb:%s:%d"):format(req.params.file, w)
    local png = cache.get(key)
    if not png then
      png = image.draw(item.id, w, w * 3 // 2, { bar = true })
      cache.set(key, png, 3600, { "demo-tmdb" })
    end
    res:header("cache-control", "public, max-age=31536000")
    return res:send(png, 200, "image/png")
  end)

  -- Controls for specs --------------------------------------------------------
  local C = PREFIX .. "/_control"
  -- back to the initial catalogue; the webhook target set by POST webhook stays
  r:post(C .. "/reset", takes_body, function(_, res)
    reset_state()
    control:reset()
    return res:json({ reset = true })
  end)

  r:post(C .. "/requests/{id}", takes_body, function(req, res)
    if not state then reset_state() end
    local rq = state.requests[math.tointeger(tonumber(req.params.id)) or -1]
    if not rq then return message(res, 404, "Request not found.") end
    local body = req:json()
    local what = body.status
    local by_number = { [1] = "pending", [2] = "approved", [3] = "declined", [4] = "failed", [5] = "completed" }
    if math.type(what) == "integer" then what = by_number[what] end
    local kind, err = set_state(rq, type(what) == "string" and what:lower() or "", user_by_id(1))
    if not kind then return message(res, 400, err) end
    if type(kind) == "string" then notify(kind, rq) end
    return res:json(request_json(rq))
  end)

  r:post(C .. "/webhook", takes_body, function(req, res)
    if not state then reset_state() end
    local body = req:json()
    if type(body.url) == "string" and body.url ~= "" then
      state.webhook = { url = body.url, authorization = body.authorization }
    else
      state.webhook = nil
    end
    return res:json({ url = body.url or json.null })
  end)

  r:get(C .. "/webhook", pub, function(_, res)
    if not state then reset_state() end
    local url = webhook_target()
    local d = json.array()
    for i, x in ipairs(state.deliveries) do d[i] = x end
    return res:json({ url = url or json.null, pending = #state.outbox, deliveries = d })
  end)

  -- GET/POST /demo/overseerr/_control {latency_ms, failure_rate, failure_status, fail_next, reset}
  util.control_routes(r, PREFIX, control)
end

-- routes(r, settings): settings may hold api_key (default the demo key),
-- webhook_url and webhook_auth (the Authorization header value), either at
-- the top level or under settings.overseerr.
function M.routes(r, settings)
  settings = type(settings) == "table" and settings or {}
  top_settings = settings
  settings_ref = type(settings.overseerr) == "table" and settings.overseerr or settings
  control = util.control(settings)
  if not state then reset_state() end
  routes(r)
end

function M.init(_, settings)
  if settings then
    settings_ref = type(settings.overseerr) == "table" and settings.overseerr or settings
  end
  if not state then reset_state() end
end

function M.destroy()
  if state then state.outbox = {} end
end

-- For specs and other fakes: the catalogue's known titles.
function M.catalogue()
  catalogue = catalogue or build_catalogue()
  return catalogue
end

return M
