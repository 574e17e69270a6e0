-- nest/ratelimit.lua — named rate limits (docs/architecture.md#rate-limits), shared by every
-- instance through Redis when it is configured, in process otherwise.
--
--   local rl = require "nest.ratelimit"
--   local d = rl.check("search", rl.key(req, "search"))
--   -- d = {allowed, limit, remaining, reset, retry_after, backend}
--   if not rl.apply(req, res, "search") then return end   -- 429 written
--
-- Limits come from config `rate_limits`: name = {limit = n, window = seconds,
-- by = "ip"|nil}. The key is the user's id when req.user is set, else the
-- client IP; by = "ip" always uses the IP (sign-in attempts).
--
-- Algorithm: the sliding-window counter. Time is cut into fixed windows of
-- `window` seconds; a request at `e` seconds into the current window sees
--     estimate = previous_count * (window - e) / window + current_count
-- and is allowed (and counted) when estimate < limit. Rejected requests are
-- not counted. Two counters per key, O(1), and no boundary burst: a fixed
-- window would let 2 x limit through around a window edge; this caps it at
-- about limit (the estimate assumes the previous window's requests were
-- spread evenly). Retry-After is the time until the estimate falls below the
-- limit; X-RateLimit-Reset the seconds until the current window ends (or
-- Retry-After when rejected); both whole seconds, at least 1.
--
-- Backends: with nest.redis configured, one EVALSHA of an atomic script
-- (Redis' own clock, so instances agree); when Redis is not configured or the
-- call fails (down, timeout) the in-process counters of nest.core.cache take
-- over for that request — the limit still holds, per instance.
local cache = require "nest.core.cache"
local napp = require "nest.core.app"

local M = {}

-- Injectable for specs: seconds since the epoch, with a fraction.
M.clock = napp.now

local have_redis, redis = pcall(require, "nest.redis")
if not have_redis or type(redis) ~= "table" then redis = nil end

-- KEYS[1] = key prefix; ARGV = limit, window. Returns {allowed, cur, prev, e}.
M.SCRIPT = [[
local limit, w = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local idx = math.floor(now / w)
local e = now - idx * w
local ck = KEYS[1] .. ':' .. idx
local cur = tonumber(redis.call('GET', ck) or '0')
local prev = tonumber(redis.call('GET', KEYS[1] .. ':' .. (idx - 1)) or '0')
local allowed = 0
if prev * (w - e) / w + cur < limit then
  cur = redis.call('INCR', ck)
  if cur == 1 then redis.call('PEXPIRE', ck, math.ceil(w * 2000)) end
  allowed = 1
end
return {allowed, cur, prev, tostring(e)}
]]

local function limits()
  local cfg = require("nest.config").get()
  return cfg and cfg.rate_limits or {}
end

function M.limit(name)
  local l = limits()[name]
  if type(l) ~= "table" or type(l.limit) ~= "number" or type(l.window) ~= "number" then
    return nil, "no rate limit named '" .. tostring(name) .. "' in config rate_limits"
  end
  return l
end

-- key(req, name_or_limit) -> "u:<id>" | "ip:<address>"
function M.key(req, l)
  if type(l) == "string" then l = M.limit(l) end
  if req.user and req.user.id ~= nil and not (l and l.by == "ip") then
    return "u:" .. tostring(req.user.id)
  end
  return "ip:" .. tostring(req.ip or "unknown")
end

-- The decision from the counters: pure, so every backend shares it.
function M.decide(limit, w, allowed, cur, prev, e)
  local d = { allowed = allowed, limit = limit }
  local est = prev * (w - e) / w + cur
  d.remaining = math.max(0, math.floor(limit - est))
  if allowed then
    d.reset = math.max(1, math.ceil(w - e))
    return d
  end
  local wait
  if cur >= limit or prev <= 0 then
    wait = w - e                                     -- the next window
  else
    wait = (w - e) - w * (limit - cur) / prev        -- the weight decays enough
  end
  d.retry_after = math.max(1, math.ceil(wait))
  d.reset = d.retry_after
  d.remaining = 0
  return d
end

-- The in-process backend alone (specs drive it with an injected M.clock).
function M.check_local(name, key, l)
  local now = M.clock()
  local w = l.window
  local idx = math.floor(now / w)
  local e = now - idx * w
  local base = "rl:" .. name .. ":" .. key .. ":"
  local cur = cache.get(base .. idx) or 0
  local prev = cache.get(base .. (idx - 1)) or 0
  local allowed = prev * (w - e) / w + cur < l.limit
  if allowed then cur = cache.incr(base .. idx, 1, 0, w * 2) or cur + 1 end
  local d = M.decide(l.limit, w, allowed, cur, prev, e)
  d.backend = "local"
  return d
end

local function check_redis(name, key, l)
  local r, err = redis.eval(M.SCRIPT, { "rl:" .. name .. ":" .. key }, { l.limit, l.window })
  if type(r) ~= "table" then return nil, err end
  local d = M.decide(l.limit, l.window, r[1] == 1, tonumber(r[2]), tonumber(r[3]), tonumber(r[4]))
  d.backend = "redis"
  return d
end

-- check(name, key[, limit]) -> decision. Counts the request when allowed.
function M.check(name, key, l)
  if not l then l = assert(M.limit(name)) end
  if redis and redis.configured() then
    local d = check_redis(name, key, l)
    if d then return d end
  end
  return M.check_local(name, key, l)
end

local function set_headers(res, d)
  res:header("x-ratelimit-limit", tostring(d.limit))
  res:header("x-ratelimit-remaining", tostring(d.remaining))
  res:header("x-ratelimit-reset", tostring(d.reset))
end

-- apply(req, res, names) -> true (headers set) | false (429 written).
-- names: one name or a list; the headers report the tightest limit.
function M.apply(req, res, names)
  if type(names) == "string" then names = { names } end
  local tightest
  for _, name in ipairs(names) do
    local l = assert(M.limit(name))
    local d = M.check(name, M.key(req, l), l)
    if not d.allowed then
      set_headers(res, d)
      res:header("retry-after", tostring(d.retry_after))
      res:error(429, "RATE_LIMITED", "Too many requests; retry in " .. d.retry_after .. " s",
        { limit = name }, d.retry_after)
      return false
    end
    if not tightest or d.remaining < tightest.remaining then tightest = d end
  end
  if tightest then set_headers(res, tightest) end
  return true
end

-- The limits a route gets: `api` for every /api route, public ones too
-- (anonymous callers are counted by IP: each of their calls may cost a
-- database lookup), plus opts.rate (a name or a list). opts.api_rate =
-- false takes a route out of `api` when it names its own limit instead
-- (sign-in polling: once a second for minutes); opts.rate = false opts out
-- of everything.
function M.route_limits(route)
  local opts = route.opts or {}
  if opts.rate == false then return {} end
  local out, seen = {}, {}
  local function add(name)
    if not seen[name] then seen[name] = true; out[#out + 1] = name end
  end
  local api = route.pattern == "/api" or route.pattern:sub(1, 5) == "/api/"
  if api and opts.api_rate ~= false then add("api") end
  if type(opts.rate) == "string" then add(opts.rate)
  elseif type(opts.rate) == "table" then
    for _, n in ipairs(opts.rate) do add(n) end
  end
  return out
end

return M
