-- plugins/library/init.lua — the Plex library: libraries, paged items,
-- collections, item details, search, recently added, and the poster proxy.
--
-- Everything is asked of Plex *as the signed-in user* (their own server
-- token), so a library the owner did not share with them is absent from
-- every answer and its items answer 404. Answers are cached per user
-- (catalog.lua) and served stale, marked "stale": true, while Plex is down;
-- with nothing cached, 503 PLEX_UNAVAILABLE. A token Plex no longer accepts
-- gives 401 PLEX_REAUTH_REQUIRED: the web UI asks the user to sign in again.
local errors = require "nest.errors"
local catalog = require "plugins.library.catalog"
local images = require "plugins.library.images"
local shape = require "plugins.library.shape"
local plex = require "plugins.library.plex"
local avatars = require "plugins.library.avatars"

local plugin = {
  name = "library", version = "1.0.0", priority = 300,
  description = "Plex library browsing as each user, and the Plex image proxy",
  schema = { fields = {
    image_cache_bytes = { type = "integer", default = 256 * 1024 * 1024, min = 1024 },
    image_cache_files = { type = "integer", default = 20000, min = 1 },
    -- cache lifetimes in seconds (DESIGN 4.3)
    listing_ttl = { type = "number", default = 600, min = 0.1 },
    search_ttl = { type = "number", default = 300, min = 0.1 },
    recent_ttl = { type = "number", default = 300, min = 0.1 },
    identity_ttl = { type = "number", default = 3600, min = 0.1 },
    -- a Plex call's total time (s), and how long the breaker stays open (s)
    timeout = { type = "number", default = 8, min = 0.1, max = 60 },
    breaker_reset = { type = "number", default = 30, min = 0.1 },
  } },
}

-- MediaNest changed a library (a finished YouTube download, a refresh):
-- `plex_section_changed {sectionKey}` drops that section's pages, every
-- collection, and what lists items across sections.
plugin.invalidations = {
  plex_section_changed = { "plex:section:{sectionKey}:*", "plex:collections:*", "plex:recent:*", "plex:search:*" },
  youtube_download_completed = { "plex:collections:*", "plex:recent:*" },
}

local MAX_PAGE = 200
-- versioned Plex paths never change; "private": the answer depends on who asks
local IMMUTABLE = "private, max-age=31536000, immutable"

local function answer(res, v, err)
  if v then return res:send(catalog.body(v), 200, "application/json") end
  if err and err.code == "PLEX_REAUTH_REQUIRED" then
    return res:error(401, "PLEX_REAUTH_REQUIRED", err.message)
  end
  if err and err.message == plex.NOT_CONFIGURED then
    return res:error(503, "PLEX_UNAVAILABLE", "Plex is not set up on this MediaNest yet: ask an administrator")
  end
  if err then
    return res:error(503, "PLEX_UNAVAILABLE",
      "Plex is not answering and nothing is saved to show instead: try again in a minute", nil, 30)
  end
  return res:error(404, "NOT_FOUND", "No such item in the libraries you can see")
end

-- Paging: ?start=&size=, or, as Plex takes it, X-Plex-Container-Start/-Size
-- headers (the query wins when both are there).
local function paging(req, default)
  local function from_header(qname, hname, o)
    local h = req:header(hname)
    if req:query_params()[qname] ~= nil or h == nil then return req:query_int(qname, o) end
    local n = h:match("^%d+$") and math.tointeger(tonumber(h))
    if not n or n < o.min or n > o.max then
      errors.raise(400, "VALIDATION_ERROR", ("%s must be an integer from %d to %d"):format(hname, o.min, o.max),
        { field = hname })
    end
    return n
  end
  return from_header("start", "x-plex-container-start", { default = 0, min = 0, max = 1000000 }),
         from_header("size", "x-plex-container-size", { default = default or 60, min = 1, max = MAX_PAGE })
end

local function rating_key(req, name)
  local v = req.params[name]
  if not (v and v:match("^%d+$") and #v <= 12) then errors.raise(404, "NOT_FOUND", "No such item") end
  return v
end

local function one_of(req, name, set, default)
  local v = req:query_string(name, { default = default, max = 20 })
  if v ~= nil and set[v] == nil then
    local names = {}
    for k in pairs(set) do names[#names + 1] = k end
    table.sort(names)
    errors.raise(400, "VALIDATION_ERROR", ("%s must be one of %s"):format(name, table.concat(names, ", ")),
      { field = name, allowed = names })
  end
  return v
end

local function placeholder(res)
  res:header("cache-control", "no-store")
  return res:send(images.PLACEHOLDER, 200, "image/svg+xml")
end

local function image(req, res, ctype, body, etag, cache_control)
  res:header("etag", etag)
  res:header("cache-control", cache_control)
  if req:header("if-none-match") == etag then return res:send("", 304) end
  return res:send(body, 200, ctype)
end

function plugin.routes(r, conf)
  catalog.configure(conf)
  plex.configure(conf)
  r:get("/plex/libraries", {}, function(req, res)
    return answer(res, catalog.libraries(req.user.id))
  end)

  r:get("/plex/libraries/{key}/items", {}, function(req, res)
    local sort = one_of(req, "sort", catalog.SORTS, "title")
    local dir = one_of(req, "dir", { asc = true, desc = true }, sort == "title" and "asc" or "desc")
    local kind = one_of(req, "type", catalog.TYPES)
    local start, size = paging(req)
    local key = rating_key(req, "key")
    return answer(res, catalog.items(req.user.id, key, { sort = sort, dir = dir, type = kind, start = start,
                                                         size = size }))
  end)

  r:get("/plex/libraries/{key}/collections", {}, function(req, res)
    return answer(res, catalog.collections(req.user.id, rating_key(req, "key")))
  end)

  r:get("/plex/collections/{key}", {}, function(req, res)
    local start, size = paging(req)
    return answer(res, catalog.collection(req.user.id, rating_key(req, "key"), start, size))
  end)

  r:get("/plex/items/{rk}", {}, function(req, res)
    return answer(res, catalog.item(req.user.id, rating_key(req, "rk")))
  end)

  r:get("/plex/items/{rk}/children", {}, function(req, res)
    local start, size = paging(req, 100)
    return answer(res, catalog.children(req.user.id, rating_key(req, "rk"), start, size))
  end)

  r:get("/plex/search", { rate = "search" }, function(req, res)
    local q = req:query_string("q", { required = true, max = 100 })
    q = q:gsub("^%s+", ""):gsub("%s+$", "")
    if q == "" then errors.raise(400, "VALIDATION_ERROR", "q must not be blank", { field = "q" }) end
    return answer(res, catalog.search(req.user.id, q))
  end)

  r:get("/plex/recently-added", {}, function(req, res)
    return answer(res, catalog.recently_added(req.user.id))
  end)

  r:get("/images/plex", {}, function(req, res)
    local path = req:query_string("path", { required = true, max = 200 })
    local rk, what = path:match(shape.IMAGE_PATH)
    if not rk or not (what == "thumb" or what == "art") then
      errors.raise(400, "BAD_IMAGE_PATH", "path must be a Plex image path /library/metadata/{ratingKey}/{thumb|art}/{version}",
        { field = "path" })
    end
    local w = images.round_width(req:query_int("w", { default = 300, min = 1, max = 4000 }))
    local ok, err = catalog.may_fetch_image(req.user.id, rk)
    if err and err.code == "PLEX_REAUTH_REQUIRED" then return answer(res, nil, err) end
    if ok == false then return answer(res) end
    local etag = images.etag(images.id(path, w))
    if ok and req:header("if-none-match") == etag then       -- answered without reading the image
      res:header("etag", etag)
      res:header("cache-control", IMMUTABLE)
      return res:send("", 304)
    end
    local ctype, body
    if ok then
      local token = plex.token(req.user.id)
      if token then
        ctype, body = images.plex(token, path, what, w,
          { bytes = conf.image_cache_bytes, files = conf.image_cache_files })
      end
    end
    if not ctype then return placeholder(res) end
    return image(req, res, ctype, body, etag, IMMUTABLE)
  end)

  -- a user's plex.tv avatar (any signed-in user may see anyone's: they are
  -- shown next to requests and in admin lists)
  r:get("/images/avatar/{id}", {}, function(req, res)
    local ctype, body, etag = avatars.get(req:param_int("id"),
      { bytes = conf.image_cache_bytes, files = conf.image_cache_files })
    if ctype then return image(req, res, ctype, body, etag, "private, max-age=86400") end
    if body == nil then return res:error(404, "NOT_FOUND", "This user has no avatar") end
    return placeholder(res)
  end)
end

function plugin.init()
  images.count_disk()
end

return plugin
