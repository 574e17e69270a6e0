-- nest/authcache.lua — resolved sessions and API tokens kept in process for
-- a few seconds, so a signed-in request costs no database round trip
-- (issue 16), and their revocation on every instance.
--
--   authcache.get(key)                 -> info | nil   (key: the token, one key space per kind)
--   authcache.epoch()                  -> n: read before a lookup, hand to put
--   authcache.put(key, info, epoch)    -> keeps info unless a revocation came in
--                                         since epoch (the lookup may predate it)
--   authcache.revoke_user(user_id)     -> drops the user's entries here, tells
--   authcache.revoke_session(id)          every other instance (Redis pub/sub)
--   authcache.start() / stop()         -> listen for other instances' revocations
--                                         (once per generation; idempotent)
--   authcache.configure{seconds, max}  -> lifetime (0 turns the cache off) and bound
--
-- Bounds: an entry lives `seconds` (auth.cache_seconds, at most 5): that is
-- how late a revocation may take effect when Redis is absent or a message is
-- lost. With Redis, revocations reach every instance through CHANNEL within
-- a round trip. At most `max` entries (10 000): when full, expired entries go,
-- then everything (an unknown token is never cached, so a client spraying
-- tokens cannot fill it).
--
-- The entries are plain Lua tables of this generation's state, not the C L1:
-- the hot path then reads a table instead of decoding a string. A reload
-- starts with an empty cache, which only costs one query per client.
local redis = require "nest.redis"
local napp = require "nest.core.app"
local log = require "nest.log"

local now = napp.now
local tostring, tonumber, pairs = tostring, tonumber, pairs

local authcache = { CHANNEL = "medianest:auth:revoke", MAX_SECONDS = 5 }

local seconds, max_entries = 5, 10000
local entries, count = {}, 0          -- key -> {info, until, user, session}
local revocations = 0                 -- bumped by every revocation seen here
local subscription

function authcache.configure(opts)
  local s = tonumber(opts and opts.seconds)
  if s then seconds = math.max(0, math.min(s, authcache.MAX_SECONDS)) end
  local m = math.tointeger(opts and opts.max)
  if m and m > 0 then max_entries = m end
end

function authcache.get(key)
  local e = entries[key]
  if not e then return nil end
  if e.until_ <= now() then entries[key], count = nil, count - 1; return nil end
  return e.info
end

function authcache.epoch() return revocations end

local function make_room()
  local t = now()
  for k, e in pairs(entries) do
    if e.until_ <= t then entries[k], count = nil, count - 1 end
  end
  if count >= max_entries then entries, count = {}, 0 end
end

function authcache.put(key, info, epoch)
  if seconds <= 0 or epoch ~= revocations then return end
  if not entries[key] then
    if count >= max_entries then make_room() end
    count = count + 1
  end
  entries[key] = { info = info, until_ = now() + seconds, user = info.id, session = info.session_id }
end

-- Drop every entry whose `field` equals id; -> how many went.
local function drop(field, id)
  revocations = revocations + 1
  local n = 0
  for k, e in pairs(entries) do
    if e[field] == id then entries[k], count, n = nil, count - 1, n + 1 end
  end
  return n
end

local function apply(msg)
  local what, id = msg:match("^([us]):(%d+)$")
  id = math.tointeger(tonumber(id))
  if not id then return end
  drop(what == "u" and "user" or "session", id)
end

local function announce(msg)
  if not redis.configured() then return end
  local _, err = redis.call("PUBLISH", authcache.CHANNEL, msg)
  if err then log.warn("auth revocation not published: it takes effect elsewhere within the cache's lifetime",
    { error = tostring(err), seconds = seconds }) end
end

function authcache.revoke_user(user_id)
  local msg = "u:" .. tostring(math.tointeger(user_id))
  apply(msg)
  announce(msg)
end

function authcache.revoke_session(session_id)
  local msg = "s:" .. tostring(math.tointeger(session_id))
  apply(msg)
  announce(msg)
end

-- -> true | nil, err ("not configured" without Redis: the lifetime bounds it)
function authcache.start()
  if subscription then return true end
  local s, err = redis.subscribe(authcache.CHANNEL, function(_, msg) apply(msg) end)
  if not s then return nil, err end
  subscription = s
  return true
end

function authcache.stop()
  if subscription then subscription.unsubscribe(); subscription = nil end
  entries, count = {}, 0
end

return authcache
