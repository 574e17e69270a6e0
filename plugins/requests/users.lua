-- plugins/requests/users.lua — which Overseerr user a MediaNest user is, so
-- a request is made in Overseerr as them (X-API-User) and Overseerr's own
-- permissions, quotas and auto-approval apply to the right person.
--
-- Matched by Plex account id (Overseerr imports its users from Plex, so
-- plexId is the reliable key), then by e-mail (case-insensitive). The map
-- is cached for an hour per MediaNest user (a miss for 5 minutes, so a user
-- an admin has just imported in Overseerr is found soon).
--
--   overseerr_id(user) -> id | false (no such Overseerr user) | nil, err
local cache = require "nest.cache"
local db = require "nest.db"
local overseerr = require "plugins.requests.overseerr"

local M = {}

local PAGE = 100
local MAX_PAGES = 50          -- 5,000 Overseerr users: more than any shared server has

local function plex_id_of(user_id)
  local rows, err = db.query({ "SELECT plex_id, email FROM users WHERE id = $1", prepare = "requests_user_plex" },
                             user_id)
  if not rows then return nil, err end
  return rows[1]
end

-- Walk Overseerr's user list until one matches.
local function find(me)
  local plex_id = me.plex_id ~= db.null and me.plex_id or nil
  local email = me.email ~= db.null and me.email and me.email:lower() or nil
  local by_email
  for page = 0, MAX_PAGES - 1 do
    local body, err = overseerr.call("GET", "/user", { query = { take = PAGE, skip = page * PAGE } })
    if not body then return nil, err end
    for _, u in ipairs(body.results or {}) do
      if plex_id and math.tointeger(u.plexId) == plex_id then return math.tointeger(u.id) end
      if email and not by_email and type(u.email) == "string" and u.email:lower() == email then
        by_email = math.tointeger(u.id)
      end
    end
    local info = body.pageInfo or {}
    if page + 1 >= (tonumber(info.pages) or 1) then break end
  end
  return by_email or false
end

function M.overseerr_id(user)
  local key = "requests:ouser:" .. user.id
  local v, err = cache.fetch(key, { ttl = 3600, neg_ttl = 300 }, function()
    local me, e = plex_id_of(user.id)
    if not me then return nil, e end
    local id, e2 = find(me)
    if id == nil then return nil, e2 end
    return id or nil                       -- false: "no such user", cached for neg_ttl
  end)
  if v == nil and err then return nil, err end
  return v or false
end

return M
