-- plugins/demo-upstreams/library.lua — the Plex Media Server fake's library,
-- generated from a seed: every item is a pure function of its ratingKey, so
-- nothing is built at start. Only what a request needs is computed: a sort
-- order or a search index is made on first use (a few arrays of ints and
-- strings) and kept; items scanned from disk and collections are the only
-- stored state.
--
-- ratingKeys: movies 100000+i, shows 200000+s, generated YouTube videos
-- 300000+v, scanned files 400000+k, collections 500000+k, home videos
-- 600000+k (section 4, which the owner does not share with the friend), seasons
-- 10000000 + s*100 + n, episodes 100000000 + s*10000 + n*100 + e.
-- addedAt grows with the index in every section, so "recently added" is the
-- index order reversed.
local M = {}
M.__index = M

local BASE_TIME = 1672531200          -- 2023-01-01
local MOVIE, SHOW, VIDEO, SCANNED, COLLECTION, HOME = 100000, 200000, 300000, 400000, 500000, 600000
local SEASON, EPISODE = 10000000, 100000000

local ADJ = { "Silent", "Crimson", "Hidden", "Last", "Golden", "Broken", "Midnight", "Frozen", "Wild",
  "Distant", "Electric", "Lonely", "Burning", "Secret", "Hollow", "Velvet", "Iron", "Paper", "Restless",
  "Northern", "Savage", "Gentle", "Lucky", "Bitter", "Endless", "Quiet", "Scarlet", "Falling", "Brave",
  "Strange", "Little", "Eternal", "Shattered", "Dark", "Bright", "Lost", "Final", "Twin", "Sacred", "Fading" }
local NOUN = { "Harbor", "Garden", "Empire", "River", "Signal", "Kingdom", "Mirror", "Horizon", "Orchard",
  "Frontier", "Storm", "Lantern", "Voyage", "Machine", "Island", "Summer", "Winter", "Echo", "Circus",
  "Witness", "Station", "Letter", "Forest", "Compass", "Canyon", "Theory", "Promise", "Shadow", "Planet",
  "Highway", "Tide", "Engine", "Crown", "Desert", "Orbit", "Ritual", "Carnival", "Archive", "Monsoon", "Harvest" }
local PLACE = { "Brooklyn", "Lisbon", "Tokyo", "Nairobi", "Oslo", "Cairo", "Havana", "Montreal", "Seoul",
  "Dublin", "Marseille", "Reykjavik", "Lagos", "Kyoto", "Vienna", "Santiago" }
local GENRES = { "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family",
  "Fantasy", "History", "Horror", "Music", "Mystery", "Romance", "Science Fiction", "Thriller", "War", "Western" }
local RATINGS = { "G", "PG", "PG-13", "R", "NR" }
local TV_RATINGS = { "TV-G", "TV-PG", "TV-14", "TV-MA" }
local STUDIOS = { "Northlight Pictures", "Paper Crane Films", "Bluewater Studios", "Lantern House",
  "Red Meridian", "Octave Entertainment", "Halcyon Works", "Saltmarsh Media" }
local NETWORKS = { "DBC", "Channel Nine", "Streamline", "NorthTV", "Vista", "Arcadia One" }
local CHANNELS = { "Tinker Lab", "Slow Travel", "Kitchen Physics", "Retro Circuits", "Trail Notes",
  "Pocket Science", "Woodshop Daily", "Synth Garden" }
local EVENTS = { "Birthday", "Picnic", "Wedding", "Graduation", "Camping Trip", "Beach Day", "Recital",
  "First Steps", "Road Trip", "Holiday Dinner" }
local VERBS = { "Building", "Fixing", "Exploring", "Cooking", "Restoring", "Testing", "Measuring", "Drawing" }
local ROMAN = { "II", "III", "IV" }
local VIDEO_EXTS = { mp4 = true, mkv = true, webm = true, mov = true, avi = true, m4v = true }

-- splitmix64 from a seed: r(n) -> 0..n-1, r() -> the raw 64-bit value
-- (image.lua draws posters with it too)
local function rng(seed)
  local x = seed
  return function(n)
    x = x + 0x9E3779B97F4A7C15
    local z = x
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    if n then return (z >> 1) % n end
    return z
  end
end
M.rng = rng

local function pick(r, t) return t[r(#t) + 1] end

local function hex(r, n)
  local out = {}
  for i = 1, n do out[i] = ("%x"):format(r(16)) end
  return table.concat(out)
end

local function title_sort(t)
  return (t:gsub("^The ", ""):gsub("^An? ", ""))
end

local function date_of(t) return os.date("!%Y-%m-%d", t) end

-- new{seed, movies, shows, videos, home_videos, youtube_root, machine_id}
function M.new(o)
  local self = setmetatable({
    seed = o.seed or 1, n_movies = o.movies or 5000, n_shows = o.shows or 500, n_videos = o.videos or 100,
    n_home = o.home_videos or 40,
    youtube_root = o.youtube_root or "/data/youtube", machine_id = o.machine_id,
    scanned = {}, scanned_by_path = {}, collections = {}, collection_order = {}, next_collection = 0,
    orders = {}, search_index = {}, leaf_index = nil, created = BASE_TIME,
  }, M)
  self.sections = {
    { key = "1", type = "movie", title = "Movies", agent = "tv.plex.agents.movie",
      scanner = "Plex Movie", language = "en-US", location = "/data/movies", uuid = "demo-section-movies-0001" },
    { key = "2", type = "show", title = "TV Shows", agent = "tv.plex.agents.series",
      scanner = "Plex TV Series", language = "en-US", location = "/data/tv", uuid = "demo-section-shows-0002" },
    { key = "3", type = "movie", title = "YouTube", agent = "tv.plex.agents.none",
      scanner = "Plex Video Files Scanner", language = "xn", location = self.youtube_root,
      uuid = "demo-section-youtube-0003" },
    -- the owner's own videos: not shared with the friend (pms.lua SHARED)
    { key = "4", type = "movie", title = "Home Videos", agent = "tv.plex.agents.none",
      scanner = "Plex Video Files Scanner", language = "xn", location = "/data/home-videos",
      uuid = "demo-section-home-0004" },
  }
  for _, s in ipairs(self.sections) do
    s.refreshing = false
    s.scannedAt = BASE_TIME + 50000000
    s.updatedAt = s.scannedAt
    self.sections[s.key] = s
  end
  -- one collection to begin with
  local picks = {}
  for i = 1, math.min(12, self.n_movies) do picks[#picks + 1] = MOVIE + i * 7 % math.max(1, self.n_movies) + 1 end
  if #picks > 0 then self:create_collection("1", "Staff Picks", picks) end
  return self
end

function M:section(key) return self.sections[tostring(key)] end

-- The section key an item (or collection) belongs to, or nil.
function M:section_of(rk)
  local kind, a = self:kind(rk)
  if not kind then return nil end
  if kind == "movie" then return "1" end
  if kind == "video" or kind == "scanned" then return "3" end
  if kind == "home" then return "4" end
  if kind == "collection" then return self.collections[a].section end
  return "2"
end

---------------------------------------------------------------------------
-- Items
---------------------------------------------------------------------------

local function seeded(self, rk) return rng(self.seed * 1000003 + rk) end

local function n_seasons(self, s) return 1 + seeded(self, SHOW + s)(6) end
local function n_episodes(self, s, n) return 6 + seeded(self, SEASON + s * 100 + n)(7) end
M.n_seasons, M.n_episodes = n_seasons, n_episodes

-- The few fields sorts and searches need, cheaply.
function M:core(rk)
  if rk > MOVIE and rk <= MOVIE + self.n_movies then
    local i = rk - MOVIE
    local r = seeded(self, rk)
    local form = r(5)
    local t
    if form == 0 then t = "The " .. pick(r, ADJ) .. " " .. pick(r, NOUN)
    elseif form == 1 then t = pick(r, ADJ) .. " " .. pick(r, NOUN)
    elseif form == 2 then t = "The " .. pick(r, NOUN) .. " of " .. pick(r, PLACE)
    elseif form == 3 then t = pick(r, NOUN) .. " " .. pick(r, ROMAN)
    else t = pick(r, ADJ) .. " " .. pick(r, NOUN) .. "s" end
    return { title = t, year = 1950 + r(75), rating = (30 + r(70)) / 10, duration = (80 + r(80)) * 60000,
             addedAt = BASE_TIME + i * 10800 + r(3600) }
  elseif rk > SHOW and rk <= SHOW + self.n_shows then
    local s = rk - SHOW
    local r = seeded(self, rk + 7)
    local form = r(3)
    local t
    if form == 0 then t = pick(r, NOUN) .. "s"
    elseif form == 1 then t = "The " .. pick(r, ADJ) .. " " .. pick(r, NOUN) .. "s"
    else t = pick(r, PLACE) .. " " .. pick(r, NOUN) end
    return { title = t, year = 1990 + r(35), rating = (50 + r(50)) / 10, duration = (22 + r(40)) * 60000,
             addedAt = BASE_TIME + s * 100000 }
  elseif rk > VIDEO and rk <= VIDEO + self.n_videos then
    local v = rk - VIDEO
    local r = seeded(self, rk)
    local t = ("%s a %s %s in %d Minutes | %s"):format(pick(r, VERBS), pick(r, ADJ), pick(r, NOUN),
      2 + r(58), pick(r, CHANNELS))
    return { title = t, year = 2015 + r(10), rating = 0, duration = (2 + r(58)) * 60000,
             addedAt = BASE_TIME + 50000000 + v * 3600 }
  elseif rk > HOME and rk <= HOME + self.n_home then
    local k = rk - HOME
    local r = seeded(self, rk)
    local year = 2005 + r(20)
    return { title = ("%s in %s, %d"):format(pick(r, EVENTS), pick(r, PLACE), year), year = year, rating = 0,
             duration = (1 + r(30)) * 60000, addedAt = BASE_TIME + 54100000 + k * 600 }   -- the newest of all
  elseif rk > SCANNED and rk <= SCANNED + #self.scanned then
    local f = self.scanned[rk - SCANNED]
    return { title = f.title, year = tonumber(os.date("!%Y", f.addedAt)), rating = 0, duration = f.duration,
             addedAt = f.addedAt }
  elseif rk >= EPISODE then
    local s, n, e = (rk - EPISODE) // 10000, (rk - EPISODE) // 100 % 100, rk % 100
    local r = seeded(self, rk)
    local t = (n == 1 and e == 1) and "Pilot" or (r(2) == 0 and ("The " .. pick(r, NOUN))
      or (pick(r, ADJ) .. " " .. pick(r, NOUN)))
    return { title = t, year = 1990 + n, rating = (60 + r(40)) / 10, duration = (22 + r(40)) * 60000,
             addedAt = BASE_TIME + s * 100000 + n * 5000 + e * 600 }
  end
  return nil
end

-- What kind of item a ratingKey names: kind, and its indices.
function M:kind(rk)
  rk = math.tointeger(tonumber(rk))
  if not rk then return nil end
  if rk > MOVIE and rk <= MOVIE + self.n_movies then return "movie", rk - MOVIE end
  if rk > SHOW and rk <= SHOW + self.n_shows then return "show", rk - SHOW end
  if rk > VIDEO and rk <= VIDEO + self.n_videos then return "video", rk - VIDEO end
  if rk > SCANNED and rk <= SCANNED + #self.scanned then return "scanned", rk - SCANNED end
  if rk > HOME and rk <= HOME + self.n_home then return "home", rk - HOME end
  if self.collections[rk] then return "collection", rk end
  if rk >= EPISODE then
    local s, n, e = (rk - EPISODE) // 10000, (rk - EPISODE) // 100 % 100, rk % 100
    if s >= 1 and s <= self.n_shows and n >= 1 and n <= n_seasons(self, s) and e >= 1
      and e <= n_episodes(self, s, n) then return "episode", s, n, e end
  elseif rk >= SEASON then
    local s, n = (rk - SEASON) // 100, (rk - SEASON) % 100
    if s >= 1 and s <= self.n_shows and n >= 1 and n <= n_seasons(self, s) then return "season", s, n end
  end
  return nil
end

local function tags(list) local out = {} for i, t in ipairs(list) do out[i] = { tag = t } end return out end

local function sentence(r)
  return ("A %s %s must face a %s %s before the %s %s is lost forever."):format(
    pick(r, ADJ):lower(), pick(r, NOUN):lower(), pick(r, ADJ):lower(), pick(r, NOUN):lower(),
    pick(r, ADJ):lower(), pick(r, NOUN):lower())
end

local function media(rk, duration, file, r)
  local res = ({ "1080", "720", "4k", "sd" })[r(4) + 1]
  return { {
    id = rk, duration = duration, bitrate = 2000 + r(8000), width = res == "4k" and 3840 or res == "1080" and 1920 or 1280,
    height = res == "4k" and 2160 or res == "1080" and 1080 or 720, aspectRatio = 1.78,
    audioChannels = 2, audioCodec = "aac", videoCodec = "h264", videoResolution = res,
    container = file:match("%.(%w+)$") or "mkv", videoFrameRate = "24p",
    Part = { { id = rk, key = "/library/parts/" .. rk .. "/" .. BASE_TIME .. "/file." .. (file:match("%.(%w+)$") or "mkv"),
               duration = duration, file = file, size = duration * 300, container = file:match("%.(%w+)$") or "mkv" } },
  } }
end

local function art_paths(rk, ts)
  return "/library/metadata/" .. rk .. "/thumb/" .. ts, "/library/metadata/" .. rk .. "/art/" .. ts
end

-- The full metadata of one item (a fresh table), or nil.
function M:get(rk)
  local kind, a, b, c = self:kind(rk)
  if not kind then return nil end
  rk = math.tointeger(tonumber(rk))
  if kind == "collection" then return self:collection_meta(rk) end
  local core = kind == "season" and nil or self:core(rk)
  local r = seeded(self, rk * 31 + 1)
  local m
  if kind == "movie" or kind == "video" or kind == "scanned" or kind == "home" then
    local sec = self.sections[kind == "movie" and "1" or kind == "home" and "4" or "3"]
    local updated = core.addedAt + 86400
    local thumb, art = art_paths(rk, updated)
    m = { ratingKey = tostring(rk), key = "/library/metadata/" .. rk, type = "movie", title = core.title,
          titleSort = title_sort(core.title), librarySectionID = tonumber(sec.key), librarySectionKey =
          "/library/sections/" .. sec.key, librarySectionTitle = sec.title, year = core.year,
          duration = core.duration, addedAt = core.addedAt, updatedAt = updated, thumb = thumb, art = art }
    if kind == "movie" then
      local g1, g2 = r(#GENRES) + 1, r(#GENRES) + 1
      m.guid = "plex://movie/" .. hex(r, 24)
      m.Guid = { { id = "imdb://tt" .. (1000000 + a * 37) }, { id = "tmdb://" .. (10000 + a * 13) } }
      m.summary = sentence(r)
      m.tagline = "Nothing stays " .. pick(r, ADJ):lower() .. " forever."
      m.studio = pick(r, STUDIOS)
      m.contentRating = pick(r, RATINGS)
      m.rating = core.rating
      m.audienceRating = (40 + r(60)) / 10
      m.originallyAvailableAt = ("%04d-%02d-%02d"):format(core.year, 1 + r(12), 1 + r(28))
      m.Genre = tags(g1 == g2 and { GENRES[g1] } or { GENRES[g1], GENRES[g2] })
      m.Director = tags({ pick(r, ADJ) .. " " .. pick(r, NOUN) .. "son" })
      local file = ("/data/movies/%s (%d)/%s (%d).mkv"):format(core.title, core.year, core.title, core.year)
      m.Media = media(rk, core.duration, file, r)
    else
      m.guid = "local://" .. rk
      m.summary = kind == "video" and ("Downloaded from a YouTube playlist. " .. sentence(r)) or ""
      m.originallyAvailableAt = date_of(core.addedAt)
      local file = kind == "video" and (self.youtube_root .. "/demo/" .. core.title:gsub("[/|]", "-") .. ".mp4")
        or kind == "home" and ("/data/home-videos/" .. core.title:gsub("[/,]", "") .. ".mp4")
        or self.scanned[a].file
      m.Media = media(rk, core.duration, file, r)
      m.studio = kind == "video" and core.title:match("| (.*)$") or nil
    end
  elseif kind == "show" then
    local sec = self.sections["2"]
    local seasons, leaves = n_seasons(self, a), 0
    for n = 1, seasons do leaves = leaves + n_episodes(self, a, n) end
    local updated = core.addedAt + 86400
    local thumb, art = art_paths(rk, updated)
    m = { ratingKey = tostring(rk), key = "/library/metadata/" .. rk .. "/children", type = "show",
          title = core.title, titleSort = title_sort(core.title), guid = "plex://show/" .. hex(r, 24),
          Guid = { { id = "tvdb://" .. (70000 + a * 11) }, { id = "tmdb://" .. (50000 + a * 17) } },
          librarySectionID = 2, librarySectionKey = "/library/sections/2", librarySectionTitle = sec.title,
          summary = sentence(r), studio = pick(r, NETWORKS), contentRating = pick(r, TV_RATINGS),
          rating = core.rating, year = core.year, duration = core.duration,
          originallyAvailableAt = ("%04d-%02d-%02d"):format(core.year, 1 + r(12), 1 + r(28)),
          leafCount = leaves, viewedLeafCount = 0, childCount = seasons, index = 1,
          addedAt = core.addedAt, updatedAt = updated, thumb = thumb, art = art,
          Genre = tags({ pick(r, GENRES) }) }
  elseif kind == "season" then
    local show = self:core(SHOW + a)
    local added = BASE_TIME + a * 100000 + b * 5000
    local srk = SHOW + a
    local thumb, art = art_paths(rk, added + 86400)
    m = { ratingKey = tostring(rk), key = "/library/metadata/" .. rk .. "/children", type = "season",
          title = "Season " .. b, index = b, parentRatingKey = tostring(srk), parentKey = "/library/metadata/" .. srk,
          parentTitle = show.title, parentIndex = 1, parentThumb = art_paths(srk, show.addedAt + 86400),
          guid = "plex://season/" .. hex(r, 24), librarySectionID = 2, librarySectionKey = "/library/sections/2",
          librarySectionTitle = self.sections["2"].title, leafCount = n_episodes(self, a, b), viewedLeafCount = 0,
          addedAt = added, updatedAt = added + 86400, thumb = thumb, art = art, summary = "" }
  elseif kind == "episode" then
    local show = self:core(SHOW + a)
    local srk, prk = SHOW + a, SEASON + a * 100 + b
    local thumb, art = art_paths(rk, core.addedAt + 86400)
    m = { ratingKey = tostring(rk), key = "/library/metadata/" .. rk, type = "episode", title = core.title,
          titleSort = title_sort(core.title), index = c, parentIndex = b,
          parentRatingKey = tostring(prk), parentKey = "/library/metadata/" .. prk, parentTitle = "Season " .. b,
          grandparentRatingKey = tostring(srk), grandparentKey = "/library/metadata/" .. srk,
          grandparentTitle = show.title, grandparentThumb = art_paths(srk, show.addedAt + 86400),
          guid = "plex://episode/" .. hex(r, 24), librarySectionID = 2, librarySectionKey = "/library/sections/2",
          librarySectionTitle = self.sections["2"].title, summary = sentence(r), contentRating = pick(r, TV_RATINGS),
          rating = core.rating, year = show.year + b - 1, duration = core.duration,
          originallyAvailableAt = date_of(BASE_TIME - (self.n_shows - a) * 86400 * 30 + b * 86400 * 365 + c * 86400 * 7),
          addedAt = core.addedAt, updatedAt = core.addedAt + 86400, thumb = thumb, art = art }
    m.Media = media(rk, core.duration, ("/data/tv/%s/Season %02d/%s - s%02de%02d.mkv"):format(
      show.title, b, show.title, b, c), r)
  end
  return m
end

---------------------------------------------------------------------------
-- Listings
---------------------------------------------------------------------------

local TYPE_NUM = { movie = 1, show = 2, season = 3, episode = 4, collection = 18 }
M.TYPE_NUM = TYPE_NUM

-- Leaf index of the show section: prefix sums of seasons and episodes per
-- show, made on first use (two arrays of n_shows integers).
local function leaf_index(self)
  if self.leaf_index then return self.leaf_index end
  local seasons_cum, eps_cum = { [0] = 0 }, { [0] = 0 }
  for s = 1, self.n_shows do
    local ns = n_seasons(self, s)
    local ne = 0
    for n = 1, ns do ne = ne + n_episodes(self, s, n) end
    seasons_cum[s] = seasons_cum[s - 1] + ns
    eps_cum[s] = eps_cum[s - 1] + ne
  end
  self.leaf_index = { seasons = seasons_cum, episodes = eps_cum }
  return self.leaf_index
end

local function find_show(cum, pos, n)       -- the show s with cum[s-1] < pos <= cum[s]
  local lo, hi = 1, n
  while lo < hi do
    local mid = (lo + hi) // 2
    if cum[mid] < pos then lo = mid + 1 else hi = mid end
  end
  return lo
end

-- The entries of a section for a type: count, and rk_at(pos) in index order
-- (which is also addedAt order). nil when the section has no such type.
function M:entries(key, type_num)
  local sec = self:section(key)
  if not sec then return nil end
  if sec.type == "movie" then
    if type_num and type_num ~= 1 then return 0, function() end end
    if sec.key == "1" then return self.n_movies, function(p) return MOVIE + p end end
    if sec.key == "4" then return self.n_home, function(p) return HOME + p end end
    local nv = self.n_videos
    return nv + #self.scanned, function(p) return p <= nv and VIDEO + p or SCANNED + (p - nv) end
  end
  type_num = type_num or 2
  if type_num == 2 then return self.n_shows, function(p) return SHOW + p end end
  if type_num == 3 or type_num == 4 then
    local idx = leaf_index(self)
    local cum = type_num == 3 and idx.seasons or idx.episodes
    local n = self.n_shows
    return cum[n] or 0, function(p)
      local s = find_show(cum, p, n)
      local k = p - cum[s - 1]
      if type_num == 3 then return SEASON + s * 100 + k end
      for season = 1, n_seasons(self, s) do
        local ne = n_episodes(self, s, season)
        if k <= ne then return EPISODE + s * 10000 + season * 100 + k end
        k = k - ne
      end
    end
  end
  return 0, function() end
end

local SORT_FIELDS = { titleSort = "title", title = "title", year = "year", rating = "rating",
  duration = "duration", addedAt = "addedAt", originallyAvailableAt = "year", updatedAt = "addedAt" }

-- list(key, {type, sort, start, size}) -> metadata list, totalSize | nil
function M:list(key, o)
  local count, rk_at = self:entries(key, o.type)
  if not count then return nil end
  local field, dir = (o.sort or "titleSort"):match("^([%w]+):?(%a*)$")
  field = SORT_FIELDS[field or ""] or "title"
  local desc = dir == "desc"
  local start, size = o.start or 0, o.size or count
  local out = {}
  local last = math.min(count, start + size)
  if field == "addedAt" then
    for pos = start + 1, last do out[#out + 1] = self:get(rk_at(desc and (count - pos + 1) or pos)) end
    return out, count
  end
  local okey = key .. ":" .. tostring(o.type) .. ":" .. field .. ":" .. count
  local order = self.orders[okey]
  if not order then
    local vals, idx = {}, {}
    for p = 1, count do
      local rk = rk_at(p)
      local c = self:core(rk) or self:get(rk)      -- seasons have no core: their full metadata
      local v = c and c[field] or 0
      vals[p] = field == "title" and title_sort(v):lower() or v
      idx[p] = p
    end
    table.sort(idx, function(x, y)
      if vals[x] ~= vals[y] then return vals[x] < vals[y] end
      return x < y
    end)
    order = idx
    self.orders[okey] = order
  end
  for pos = start + 1, last do
    out[#out + 1] = self:get(rk_at(order[desc and (count - pos + 1) or pos]))
  end
  return out, count
end

-- Recently added: newest first, across the given sections (all by default).
-- Movie sections give movies, the show section gives episodes.
function M:recently_added(keys, start, size)
  local streams = {}
  for _, key in ipairs(keys) do
    local sec = self:section(key)
    if sec then
      local count, rk_at = self:entries(key, sec.type == "show" and 4 or 1)
      streams[#streams + 1] = { pos = count, rk_at = rk_at }
    end
  end
  local out, n = {}, 0
  while n < start + size do
    local best, best_t
    for _, st in ipairs(streams) do
      if st.pos >= 1 then
        local t = self:core(st.rk_at(st.pos)).addedAt
        if not best or t > best_t then best, best_t = st, t end
      end
    end
    if not best then break end
    n = n + 1
    if n > start then out[#out + 1] = self:get(best.rk_at(best.pos)) end
    best.pos = best.pos - 1
  end
  return out
end

function M:children(rk)
  local kind, a, b = self:kind(rk)
  if not kind then return nil end
  local out = {}
  if kind == "show" then
    for n = 1, n_seasons(self, a) do out[#out + 1] = self:get(SEASON + a * 100 + n) end
  elseif kind == "season" then
    for e = 1, n_episodes(self, a, b) do out[#out + 1] = self:get(EPISODE + a * 10000 + b * 100 + e) end
  elseif kind == "collection" then
    for _, item in ipairs(self.collections[a].items) do out[#out + 1] = self:get(item) end
  end
  return out, kind
end

---------------------------------------------------------------------------
-- Search
---------------------------------------------------------------------------

local function index_of(self, key, type_num)
  local ikey = key .. ":" .. type_num
  local count, rk_at = self:entries(key, type_num)
  local idx = self.search_index[ikey]
  if idx and idx.count == count then return idx end
  idx = { count = count, rks = {}, titles = {} }
  for p = 1, count do
    local rk = rk_at(p)
    idx.rks[p] = rk
    idx.titles[p] = self:core(rk).title:lower()
  end
  self.search_index[ikey] = idx
  return idx
end

-- search(query, limit, section[, visible]) -> hubs {hubIdentifier, title, type, size, more,
-- Metadata}; visible: the set of section keys the caller may see (all when nil)
function M:search(query, limit, section_key, visible)
  local function wanted(key)
    return (not section_key or section_key == key) and (not visible or visible[key])
  end
  local q = query:lower()
  local hubs = {
    { id = "movie", title = "Movies", type = "movie", sources = { { "1", 1 }, { "3", 1 }, { "4", 1 } } },
    { id = "show", title = "Shows", type = "show", sources = { { "2", 2 } } },
    { id = "episode", title = "Episodes", type = "episode", sources = { { "2", 4 } } },
    { id = "collection", title = "Collections", type = "collection" },
  }
  local out = {}
  for _, hub in ipairs(hubs) do
    local found, total = {}, 0
    if hub.sources then
      for _, src in ipairs(hub.sources) do
        if wanted(src[1]) then
          local idx = index_of(self, src[1], src[2])
          for p = 1, idx.count do
            if idx.titles[p]:find(q, 1, true) then
              total = total + 1
              if #found < limit then found[#found + 1] = self:get(idx.rks[p]) end
            end
          end
        end
      end
    else
      for _, crk in ipairs(self.collection_order) do
        local col = self.collections[crk]
        if col.title:lower():find(q, 1, true) and wanted(col.section) then
          total = total + 1
          if #found < limit then found[#found + 1] = self:collection_meta(crk) end
        end
      end
    end
    out[#out + 1] = { hubIdentifier = hub.id, title = hub.title, type = hub.type, hubKey =
      "/library/metadata/" .. (function() local k = {} for i, m in ipairs(found) do k[i] = m.ratingKey end return table.concat(k, ",") end)(),
      size = #found, more = total > #found, style = "shelf", Metadata = found }
  end
  return out
end

---------------------------------------------------------------------------
-- Collections
---------------------------------------------------------------------------

function M:collection_meta(crk)
  local col = self.collections[crk]
  if not col then return nil end
  local sec = self.sections[col.section]
  return { ratingKey = tostring(crk), key = "/library/collections/" .. crk .. "/children", type = "collection",
           subtype = col.subtype, title = col.title, titleSort = col.title, smart = "0",
           guid = "collection://" .. col.guid, librarySectionID = tonumber(col.section),
           librarySectionKey = "/library/sections/" .. col.section, librarySectionTitle = sec.title,
           childCount = tostring(#col.items), minYear = col.min_year, maxYear = col.max_year,
           summary = "", contentRating = "", addedAt = col.addedAt, updatedAt = col.updatedAt,
           thumb = "/library/metadata/" .. crk .. "/thumb/" .. col.updatedAt, posterUrl = col.poster_url,
           art = "/library/metadata/" .. crk .. "/art/" .. col.updatedAt }
end

-- The item type a collection of these ratingKeys holds, or nil, why.
function M:items_type(rks, section)
  local t
  for _, rk in ipairs(rks) do
    local kind = self:kind(rk)
    if not kind or kind == "collection" then return nil, "unknown item " .. tostring(rk) end
    local m = self:get(rk)
    if section and tostring(m.librarySectionID) ~= tostring(section) then
      return nil, "item " .. rk .. " is not in section " .. section
    end
    if t and m.type ~= t then return nil, "items of mixed types" end
    t = m.type
  end
  return t
end

function M:create_collection(section, title, rks)
  self.next_collection = self.next_collection + 1
  local crk = COLLECTION + self.next_collection
  local now = BASE_TIME + 50000000
  if self.next_collection > 1 then now = os.time() end
  local first = rks[1] and self:get(rks[1])
  self.collections[crk] = { section = tostring(section), title = title, items = {}, added = {},
    subtype = first and first.type or "movie", addedAt = now, updatedAt = now,
    guid = ("%08x-demo-%04d"):format(self.seed & 0xFFFFFFFF, self.next_collection) }
  self.collection_order[#self.collection_order + 1] = crk
  self:add_to_collection(crk, rks)
  return crk
end

function M:add_to_collection(crk, rks)
  local col = self.collections[crk]
  for _, rk in ipairs(rks) do
    rk = math.tointeger(tonumber(rk))
    if rk and not col.added[rk] then
      col.added[rk] = true
      col.items[#col.items + 1] = rk
      local y = self:core(rk) and self:core(rk).year
      if y then
        col.min_year = math.min(col.min_year or y, y)
        col.max_year = math.max(col.max_year or y, y)
      end
    end
  end
  if self.next_collection > 1 then col.updatedAt = os.time() end
end

-- Take one item out of a collection; false when either is unknown.
function M:remove_from_collection(crk, rk)
  local col = self.collections[crk]
  if not (col and col.added[rk]) then return false end
  col.added[rk] = nil
  for i, k in ipairs(col.items) do
    if k == rk then table.remove(col.items, i) break end
  end
  col.updatedAt = os.time()
  return true
end

function M:delete_collection(crk)
  if not self.collections[crk] then return false end
  self.collections[crk] = nil
  for i, k in ipairs(self.collection_order) do
    if k == crk then table.remove(self.collection_order, i) break end
  end
  return true
end

function M:section_collections(key)
  local out = {}
  for _, crk in ipairs(self.collection_order) do
    if self.collections[crk].section == tostring(key) then out[#out + 1] = self:collection_meta(crk) end
  end
  return out
end

---------------------------------------------------------------------------
-- Scanning (the YouTube section: files really on disk)
---------------------------------------------------------------------------

-- Add the video files found (a list of absolute paths) to the YouTube
-- section; returns the number of new items.
function M:add_files(files)
  local added = 0
  for _, path in ipairs(files) do
    local ext = path:match("%.(%w+)$")
    if ext and VIDEO_EXTS[ext:lower()] and not self.scanned_by_path[path] then
      local name = path:match("([^/]+)$"):gsub("%.%w+$", "")
      local title = name:gsub("%s*%[[%w_%-]+%]$", "")
      self.scanned[#self.scanned + 1] = { file = path, title = title, addedAt = os.time(),
                                          duration = 60000 * (1 + #title % 20) }
      self.scanned_by_path[path] = SCANNED + #self.scanned
      added = added + 1
    end
  end
  return added
end

function M:scanned_rk(path) return self.scanned_by_path[path] end

return M
