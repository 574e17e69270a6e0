-- plugins/library/avatars.lua — users' plex.tv avatars served from our own
-- origin (GET /api/v1/images/avatar/{userId}), so the CSP can stay 'self'
-- and the browser never talks to plex.tv.
--
-- The avatar URL is the `thumb` plex.tv gave at sign-in (users.thumb). Only
-- URLs on an allowed host are fetched, redirects included: https plex.tv and
-- its subdomains, Gravatar (where plex.tv sends accounts without a picture),
-- and the configured plex.tv service's own origin (the demo). No token is
-- sent: avatars are public on plex.tv. Kept in the image caches
-- (images.lua) under a hash of the URL, so a new picture is a new entry.
local fetch = require "nest.fetch"
local services = require "nest.services"
local db = require "nest.db"
local images = require "plugins.library.images"

local M = {}

local MAX_REDIRECTS = 3
local MAX_SIZE = 1024 * 1024
local TIMEOUT = { connect = 2, total = 5 }

local function origin(url)
  local o = type(url) == "string" and url:match("^(https?://[^/?#]+)")
  return o and o:lower()
end

-- May we fetch this URL?
function M.allowed(url)
  local scheme, host = (type(url) == "string" and url or ""):match("^(https?)://([^/:?#@]+)[/:?#]?")
  if not host or url:find("@", 1, true) then return false end
  host = host:lower()
  if scheme == "https" and (host == "plex.tv" or host:sub(-8) == ".plex.tv"
      or host == "secure.gravatar.com" or host == "www.gravatar.com") then
    return true
  end
  local tv = services.get("plextv")
  local own = tv and origin(tv.url)
  return own ~= nil and origin(url) == own and own ~= "https://plex.tv"
end

-- The avatar URL of user `id`, or nil.
function M.url_of(id)
  local rows = db.query("SELECT thumb FROM users WHERE id = $1", id)
  local thumb = rows and rows[1] and rows[1].thumb
  if type(thumb) ~= "string" or thumb == "" then return nil end
  return thumb
end

-- Fetch an allowed URL, following allowed redirects: -> ctype, body | nil, err
local function download(url)
  for _ = 0, MAX_REDIRECTS do
    if not M.allowed(url) then return nil, { code = "AVATAR_HOST", message = "avatar host not allowed" } end
    local res, err = fetch(url, { headers = { Accept = "image/*" }, timeout = TIMEOUT, max_size = MAX_SIZE,
                                  service = "plextv" })
    if not res then return nil, { code = "AVATAR_FETCH", message = tostring(err) } end
    if res.status >= 300 and res.status < 400 and res.headers.location then
      local loc = res.headers.location
      if loc:sub(1, 1) == "/" then loc = origin(url) .. loc end
      url = loc
    else
      local ctype = (res.headers["content-type"] or ""):match("^([^;%s]+)")
      if res.status ~= 200 or not images.image_type(ctype) then
        return nil, { code = "AVATAR_FETCH", message = ("HTTP %d %s"):format(res.status, tostring(ctype)) }
      end
      return ctype, res.body
    end
  end
  return nil, { code = "AVATAR_FETCH", message = "too many redirects" }
end

-- -> ctype, body, etag | nil (no avatar: 404) | nil, err (fetch failed)
function M.get(id, limits)
  local url = M.url_of(id)
  if not url then return nil end
  if not M.allowed(url) then return nil, { code = "AVATAR_HOST", message = "avatar host not allowed" } end
  local key = images.id("avatar:" .. url, 0)
  local ctype, body = images.cached(key, function() return download(url) end, limits)
  if not ctype then return nil, body end
  return ctype, body, images.etag(key)
end

return M
