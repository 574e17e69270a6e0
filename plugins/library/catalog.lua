-- plugins/library/catalog.lua — what the library routes answer, read through
-- nest.cache (cache-aside, single-flight per key, serve-stale) from Plex as
-- the signed-in user.
--
-- Cache keys carry the user id (docs/library.md says why: Plex's sharing
-- can filter inside a section, so answers may differ between users even for
-- the same section). Shapes of the keys, so invalidation can aim:
--   plex:sections:u<uid>                              libraries (10 min)
--   plex:section:<key>:u<uid>:items:<sort>:<type>:<start>:<size>   (10 min)
--   plex:collections:<key>:u<uid>                     a section's collections (10 min)
--   plex:collections:item:<ck>:u<uid>:<start>:<size>  a collection and its items (10 min)
--   plex:item:<rk>:u<uid>[:children:<start>:<size>]   details, children (10 min)
--   plex:search:u<uid>:<query>                        search (5 min)
--   plex:recent:u<uid>                                recently added (5 min)
--   plex:identity                                     the server's machine id (1 h)
-- Every value carries fetchedAt; past its TTL a value is kept STALE_TTL more
-- and served (stale = true) while Plex is down.
--
-- Every function -> answer {body, stale} (M.body: the JSON to send) | nil
-- (not found / not visible) | nil, err (err.code PLEX_REAUTH_REQUIRED or
-- PLEX_UNAVAILABLE).
local cache = require "nest.cache"
local l1 = require "nest.core.cache"
local json = require "nest.json"
local napp = require "nest.core.app"
local plex = require "plugins.library.plex"
local shape = require "plugins.library.shape"

local M = {}

-- TTLs (docs/library.md); the plugin's settings may change them (configure)
M.TTL = { listing = 600, search = 300, recent = 300, identity = 3600 }
function M.configure(conf)
  M.TTL = { listing = conf.listing_ttl, search = conf.search_ttl, recent = conf.recent_ttl,
            identity = conf.identity_ttl }
end
local STALE_TTL = 86400
local SEEN_TTL = 3600
local RECENT_SIZE = 30
local SEARCH_LIMIT = 12

---------------------------------------------------------------------------
-- Which images a user may fetch
---------------------------------------------------------------------------

local function seen_key(uid, rk) return ("library:see:u%s:%s"):format(uid, rk) end

-- Remember, in this instance's L1, the ratingKeys whose images we showed uid.
local function remember(uid, seen)
  for rk in pairs(seen) do l1.set(seen_key(uid, rk), 1, SEEN_TTL) end
end

function M.may_see_image(uid, rk) return l1.get(seen_key(uid, rk)) ~= nil end
function M.saw_image(uid, rk) l1.set(seen_key(uid, rk), 1, SEEN_TTL) end

---------------------------------------------------------------------------
-- Calls
---------------------------------------------------------------------------

local function now_iso() return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(napp.now())) end

-- After Plex answered 401 for a resource: is the token bad (sign in again)
-- or is the resource in a library not shared with this user (not found)?
-- Plex answers both with 401; /library/sections tells them apart.
local function refused(uid, token)
  local ok_key = "library:token-ok:u" .. tostring(uid)
  if l1.get(ok_key) then return nil end
  local _, status = plex.container(token, "/library/sections")
  if status == 200 then
    l1.set(ok_key, 1, 60)
    return nil
  end
  if status == 401 or status == 403 then
    plex.forget_token(uid)
    return plex.reauth()
  end
  return nil, status    -- PLEX_UNAVAILABLE (a table) or another status
end

-- GET a MediaContainer as uid: -> mc | nil (not found) | nil, err
local function get(uid, path, query)
  local token, terr = plex.token(uid)
  if not token then return nil, terr end
  local mc, status = plex.container(token, path, query)
  if mc then return mc end
  if type(status) == "table" then return nil, status end
  if status == 401 or status == 403 then
    local _, err = refused(uid, token)
    if type(err) == "table" then return nil, err end
  end
  return nil           -- 400, 404, or a section not shared with uid
end

-- cache.fetch of a loader's table, kept as its JSON text: a cache hit is sent
-- as is, with no decode and re-encode (the hot path of a grid).
-- -> answer {body = JSON text of an object, stale = bool} | nil | nil, err
local function cached(key, ttl, loader)
  local v, err, level = cache.fetch(key, { ttl = ttl, stale_ttl = STALE_TTL }, function()
    local t, lerr = loader()
    if t == nil then return nil, lerr end
    return json.encode(t)
  end)
  if type(err) == "table" and err.code == "PLEX_REAUTH_REQUIRED" then return nil, err end
  if v == nil then
    if err and type(err) ~= "table" then err = { code = "PLEX_UNAVAILABLE", message = tostring(err) } end
    return nil, err
  end
  return { body = v, stale = level == "stale" }
end

-- The answer's text with "stale" added (every answer is a JSON object).
function M.body(answer)
  return answer.body:sub(1, -2) .. (answer.stale and ',"stale":true}' or ',"stale":false}')
end

-- The answer as a table (for the few callers that look inside).
function M.decode(answer)
  local t = json.decode(answer.body)
  t.stale = answer.stale
  return t
end

local function paging_query(start, size)
  return { ["X-Plex-Container-Start"] = tostring(start), ["X-Plex-Container-Size"] = tostring(size) }
end

local function merge(a, b) for k, v in pairs(b or {}) do a[k] = v end return a end

---------------------------------------------------------------------------
-- Answers
---------------------------------------------------------------------------

function M.identity()
  local v = cache.fetch("plex:identity", { ttl = M.TTL.identity, stale_ttl = STALE_TTL }, function()
    local url = plex.base()
    if not url then return plex.unavailable(plex.NOT_CONFIGURED) end
    local res, err = plex.get("", "/identity")
    if not res then return nil, err end
    local mc = res.body_json and res.body_json.MediaContainer
    if type(mc) ~= "table" or type(mc.machineIdentifier) ~= "string" then
      return plex.unavailable("Plex /identity has no machineIdentifier")
    end
    return { machineIdentifier = mc.machineIdentifier, version = mc.version }
  end)
  return v and v.machineIdentifier
end

function M.libraries(uid)
  return cached("plex:sections:u" .. uid, M.TTL.listing, function()
    local mc, err = get(uid, "/library/sections")
    if not mc then return nil, err or plex.unavailable("Plex refused the library list") end
    local out = json.array()
    for _, dir in ipairs(type(mc.Directory) == "table" and mc.Directory or {}) do
      -- one size-0 page per section gives its item count
      local count = get(uid, "/library/sections/" .. tostring(dir.key) .. "/all", paging_query(0, 0))
      out[#out + 1] = shape.section(dir, count and math.tointeger(tonumber(count.totalSize)))
    end
    return { libraries = out, fetchedAt = now_iso() }
  end)
end

-- The section uid sees with this key, or nil.
function M.section(uid, key)
  local answer, err = M.libraries(uid)
  if not answer then return nil, err end
  local libs = M.decode(answer)
  for _, s in ipairs(libs.libraries) do
    if s.key == key then return s, libs end
  end
  return nil
end

-- Pages. The cache must not grow with every start/size a client can invent,
-- so only aligned pages of the usual sizes are cached as asked (a grid's
-- pages: the hot path, sent as stored); any other start/size is cut from the
-- aligned 200-item pages that cover it. At most total/60 + total/120 +
-- total/200 entries per listing and user.
local PAGE_SIZES = { [60] = true, [120] = true, [200] = true }
local BLOCK = 200

local function paged(exact, start, size)
  if start % size == 0 and PAGE_SIZES[size] then return exact(start, size) end
  local items, out, stale = json.array(), nil, false
  for b = start // BLOCK, (start + size - 1) // BLOCK do
    local a, err = exact(b * BLOCK, BLOCK)
    if not a then return nil, err end
    local t = M.decode(a)
    stale, out = stale or a.stale, out or t
    for i, it in ipairs(t.items) do
      local pos = b * BLOCK + i - 1
      if pos >= start and pos < start + size then items[#items + 1] = it end
    end
    if #t.items < BLOCK then break end
  end
  out.items, out.start, out.size, out.stale = items, start, #items, nil
  return { body = json.encode(out), stale = stale }
end

local SORTS = { title = "titleSort", added = "addedAt", year = "year", rating = "rating" }
local TYPES = { movie = 1, show = 2, season = 3, episode = 4 }
M.SORTS, M.TYPES = SORTS, TYPES

-- o = {sort, dir, type, start, size}
function M.items(uid, key, o)
  local sort = SORTS[o.sort] .. (o.dir == "desc" and ":desc" or "")
  return paged(function(start, size)
    local ck = ("plex:section:%s:u%s:items:%s:%s:%d:%d"):format(key, uid, sort, o.type or "", start, size)
    return cached(ck, M.TTL.listing, function()
      -- asked of the user's own sections first: an unshared one is a 404 without a Plex 401
      local section, serr = M.section(uid, key)
      if not section then return nil, serr end
      local q = merge({ sort = sort, type = o.type and tostring(TYPES[o.type]) or nil }, paging_query(start, size))
      local mc, err = get(uid, "/library/sections/" .. key .. "/all", q)
      if not mc then return nil, err end
      local seen = {}
      local items = shape.items(mc.Metadata, seen)
      remember(uid, seen)
      return { items = items, start = start, size = #items,
               total = math.tointeger(tonumber(mc.totalSize)) or #items, fetchedAt = now_iso() }
    end)
  end, o.start, o.size)
end

function M.collections(uid, key)
  return cached(("plex:collections:%s:u%s"):format(key, uid), M.TTL.listing, function()
    local section, serr = M.section(uid, key)
    if not section then return nil, serr end
    local mc, err = get(uid, "/library/sections/" .. key .. "/collections")
    if not mc then return nil, err end
    local seen = {}
    local cols = shape.items(mc.Metadata, seen)
    remember(uid, seen)
    return { collections = cols, fetchedAt = now_iso() }
  end)
end

function M.collection(uid, ck, start, size)
  return paged(function(pstart, psize)
    return cached(("plex:collections:item:%s:u%s:%d:%d"):format(ck, uid, pstart, psize), M.TTL.listing, function()
      local meta, err = get(uid, "/library/metadata/" .. ck)
      if not meta then return nil, err end
      local m = type(meta.Metadata) == "table" and meta.Metadata[1]
      if type(m) ~= "table" or m.type ~= "collection" then return nil end
      local mc, cerr = get(uid, "/library/collections/" .. ck .. "/children", paging_query(pstart, psize))
      if not mc then return nil, cerr end
      local seen = {}
      local col = shape.item(m, seen)
      local items = shape.items(mc.Metadata, seen)
      remember(uid, seen)
      return { collection = col, items = items, start = pstart, size = #items,
               total = math.tointeger(tonumber(mc.totalSize)) or #items, fetchedAt = now_iso() }
    end)
  end, start, size)
end

local function children(uid, rk, start, size)
  local mc, err = get(uid, "/library/metadata/" .. rk .. "/children", paging_query(start, size))
  if not mc then return nil, err end
  return mc
end

function M.item(uid, rk)
  return cached(("plex:item:%s:u%s"):format(rk, uid), M.TTL.listing, function()
    local mc, err = get(uid, "/library/metadata/" .. rk)
    if not mc then return nil, err end
    local m = type(mc.Metadata) == "table" and mc.Metadata[1]
    if type(m) ~= "table" then return nil end
    local seen = {}
    local d = shape.details(m, seen, M.identity())
    -- a show lists its seasons here (a handful); a season's episodes and a
    -- collection's items are paged through /children
    if m.type == "show" then
      local kids, kerr = children(uid, rk, 0, 200)
      if not kids then return nil, kerr end
      d.children = shape.items(kids.Metadata, seen)
    end
    remember(uid, seen)
    return { item = d, fetchedAt = now_iso() }
  end)
end

function M.children(uid, rk, start, size)
  return paged(function(pstart, psize)
    return cached(("plex:item:%s:u%s:children:%d:%d"):format(rk, uid, pstart, psize), M.TTL.listing, function()
      local mc, err = children(uid, rk, pstart, psize)
      if not mc then return nil, err end
      local seen = {}
      local items = shape.items(mc.Metadata, seen)
      remember(uid, seen)
      return { items = items, start = pstart, size = #items,
               total = math.tointeger(tonumber(mc.totalSize)) or #items, fetchedAt = now_iso() }
    end)
  end, start, size)
end

local GROUP_ORDER = { "movie", "show", "season", "episode", "collection" }

function M.search(uid, q)
  return cached(("plex:search:u%s:%s"):format(uid, q:lower()), M.TTL.search, function()
    local mc, err = get(uid, "/hubs/search", { query = q, limit = tostring(SEARCH_LIMIT) })
    if not mc then return nil, err end
    local seen, by_type = {}, {}
    for _, hub in ipairs(type(mc.Hub) == "table" and mc.Hub or {}) do
      local items = shape.items(hub.Metadata, seen)
      if #items > 0 and type(hub.type) == "string" then
        by_type[hub.type] = { type = hub.type, title = hub.title, items = items, more = hub.more == true or hub.more == 1 }
      end
    end
    local groups = json.array()
    for _, t in ipairs(GROUP_ORDER) do
      if by_type[t] then groups[#groups + 1] = by_type[t] by_type[t] = nil end
    end
    for _, g in pairs(by_type) do groups[#groups + 1] = g end
    remember(uid, seen)
    return { query = q, groups = groups, fetchedAt = now_iso() }
  end)
end

function M.recently_added(uid)
  return cached("plex:recent:u" .. uid, M.TTL.recent, function()
    local mc, err = get(uid, "/library/recentlyAdded", paging_query(0, RECENT_SIZE))
    if not mc then return nil, err end
    local seen = {}
    local items = shape.items(mc.Metadata, seen)
    remember(uid, seen)
    return { items = items, fetchedAt = now_iso() }
  end)
end

-- May uid fetch the image of ratingKey rk? Shown to them in an answer, or
-- Plex lets them read the item (then remembered).
function M.may_fetch_image(uid, rk)
  if M.may_see_image(uid, rk) then return true end
  local mc, err = get(uid, "/library/metadata/" .. rk)
  if err then return nil, err end
  if not mc then return false end
  M.saw_image(uid, rk)
  return true
end

return M
