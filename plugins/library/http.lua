-- plugins/library/http.lua — the library routes' edge: reading paging, keys
-- and enumerations from a request (400 naming the field), and turning a
-- catalog answer or error into the HTTP answer (200 as stored, 401
-- PLEX_REAUTH_REQUIRED, 503 PLEX_UNAVAILABLE, 404), and images with their
-- caching headers.
local errors = require "nest.errors"
local catalog = require "plugins.library.catalog"
local images = require "plugins.library.images"
local plex = require "plugins.library.plex"
local shape = require "plugins.library.shape"

local M = {}

M.MAX_PAGE = 200
-- versioned Plex paths never change; "private": the answer depends on who asks
M.IMMUTABLE = "private, max-age=31536000, immutable"

function M.answer(res, v, err)
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
function M.paging(req, default)
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
         from_header("size", "x-plex-container-size", { default = default or 60, min = 1, max = M.MAX_PAGE })
end

function M.rating_key(req, name)
  local v = req.params[name]
  if not (v and v:match("^%d+$") and #v <= 12) then errors.raise(404, "NOT_FOUND", "No such item") end
  return v
end

function M.one_of(req, name, set, default)
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

-- The search text: 1-100 characters, trimmed, not blank.
function M.search_query(req)
  local q = req:query_string("q", { required = true, max = 100 }):gsub("^%s+", ""):gsub("%s+$", "")
  if q == "" then errors.raise(400, "VALIDATION_ERROR", "q must not be blank", { field = "q" }) end
  return q
end

-- GET /images/plex's parameters: -> path, ratingKey, "thumb"|"art", width
-- (rounded up to images.WIDTHS). Anything but a Plex metadata image path is
-- a 400: the proxy never fetches anything else.
function M.plex_image(req)
  local path = req:query_string("path", { required = true, max = 200 })
  local rk, what = path:match(shape.IMAGE_PATH)
  if not rk or not (what == "thumb" or what == "art") then
    errors.raise(400, "BAD_IMAGE_PATH",
      "path must be a Plex image path /library/metadata/{ratingKey}/{thumb|art}/{version}", { field = "path" })
  end
  return path, rk, what, images.round_width(req:query_int("w", { default = 300, min = 1, max = 4000 }))
end

-- 304 when the client holds this version (answered without the image).
function M.not_modified(req, res, etag, cache_control)
  if req:header("if-none-match") ~= etag then return false end
  res:header("etag", etag)
  res:header("cache-control", cache_control)
  res:send("", 304)
  return true
end

function M.placeholder(res)
  res:header("cache-control", "no-store")
  return res:send(images.PLACEHOLDER, 200, "image/svg+xml")
end

function M.image(req, res, ctype, body, etag, cache_control)
  if M.not_modified(req, res, etag, cache_control) then return end
  res:header("etag", etag)
  res:header("cache-control", cache_control)
  return res:send(body, 200, ctype)
end

return M
