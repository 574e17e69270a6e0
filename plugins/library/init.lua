-- plugins/library/init.lua — the Plex library: libraries, paged items,
-- collections, item details, search, recently added, and the poster proxy.
--
-- Everything is asked of Plex *as the signed-in user* (their own server
-- token), so a library the owner did not share with them is absent from
-- every answer and its items answer 404. Answers are cached per user
-- (catalog.lua) and served stale, marked "stale": true, while Plex is down;
-- with nothing cached, 503 PLEX_UNAVAILABLE. A token Plex no longer accepts
-- gives 401 PLEX_REAUTH_REQUIRED: the web UI asks the user to sign in again.
local catalog = require "plugins.library.catalog"
local images = require "plugins.library.images"
local plex = require "plugins.library.plex"
local avatars = require "plugins.library.avatars"
local http = require "plugins.library.http"

local plugin = {
  name = "library", version = "1.0.0", priority = 300,
  description = "Plex library browsing as each user, and the Plex image proxy",
  schema = { fields = {
    image_cache_bytes = { type = "integer", default = 256 * 1024 * 1024, min = 1024 },
    image_cache_files = { type = "integer", default = 20000, min = 1 },
    -- cache lifetimes in seconds (docs/library.md)
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

function plugin.routes(r, conf)
  local disk = { bytes = conf.image_cache_bytes, files = conf.image_cache_files }   -- the image cache's bounds
  catalog.configure(conf)
  plex.configure(conf)

  r:get("/plex/libraries", {}, function(req, res)
    return http.answer(res, catalog.libraries(req.user.id))
  end)

  r:get("/plex/libraries/{key}/items", {}, function(req, res)
    local sort = http.one_of(req, "sort", catalog.SORTS, "title")
    local dir = http.one_of(req, "dir", { asc = true, desc = true }, sort == "title" and "asc" or "desc")
    local kind = http.one_of(req, "type", catalog.TYPES)
    local start, size = http.paging(req)
    local key = http.rating_key(req, "key")
    return http.answer(res, catalog.items(req.user.id, key, { sort = sort, dir = dir, type = kind, start = start,
                                                         size = size }))
  end)

  r:get("/plex/libraries/{key}/collections", {}, function(req, res)
    return http.answer(res, catalog.collections(req.user.id, http.rating_key(req, "key")))
  end)

  r:get("/plex/collections/{key}", {}, function(req, res)
    local start, size = http.paging(req)
    return http.answer(res, catalog.collection(req.user.id, http.rating_key(req, "key"), start, size))
  end)

  r:get("/plex/items/{rk}", {}, function(req, res)
    return http.answer(res, catalog.item(req.user.id, http.rating_key(req, "rk")))
  end)

  r:get("/plex/items/{rk}/children", {}, function(req, res)
    local start, size = http.paging(req, 100)
    return http.answer(res, catalog.children(req.user.id, http.rating_key(req, "rk"), start, size))
  end)

  r:get("/plex/search", { rate = "search" }, function(req, res)
    return http.answer(res, catalog.search(req.user.id, http.search_query(req)))
  end)

  r:get("/plex/recently-added", {}, function(req, res)
    return http.answer(res, catalog.recently_added(req.user.id))
  end)

  r:get("/images/plex", {}, function(req, res)
    local path, rk, what, w = http.plex_image(req)
    local ok, err = catalog.may_fetch_image(req.user.id, rk)
    if ok == false or (err and err.code == "PLEX_REAUTH_REQUIRED") then return http.answer(res, nil, err) end
    local etag = images.etag(images.id(path, w))
    if ok and http.not_modified(req, res, etag, http.IMMUTABLE) then return end
    local token = ok and plex.token(req.user.id)
    local ctype, body
    if token then ctype, body = images.plex(token, path, what, w, disk) end
    if not ctype then return http.placeholder(res) end     -- Plex failed: never a broken image
    return http.image(req, res, ctype, body, etag, http.IMMUTABLE)
  end)

  -- a user's plex.tv avatar (any signed-in user may see anyone's: they are
  -- shown next to requests and in admin lists)
  r:get("/images/avatar/{id}", {}, function(req, res)
    local ctype, body, etag = avatars.get(req:param_int("id"), disk)
    if ctype then return http.image(req, res, ctype, body, etag, "private, max-age=86400") end
    if body == nil then return res:error(404, "NOT_FOUND", "This user has no avatar") end
    return http.placeholder(res)
  end)
end

function plugin.init()
  images.count_disk()
end

return plugin
