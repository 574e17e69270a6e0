-- nest/cache.lua — the two-level cache and cache-aside (docs/architecture.md#cache).
--
-- L1 is nest.core.cache (core/cache.c): per app, in process, shared by every
-- generation. L2 is Redis (nest.redis) when configured and reachable; keys
-- live there under cache.PREFIX, values serialized so a string stays a
-- string and a number a number. While Redis is down or not configured
-- everything works on L1 alone.
--
--   cache.get(key)                      -> value | nil         (L1, then L2 -> L1)
--   cache.set(key, value, ttl[, tags])  -> true | nil, err     (L1 + L2)
--   cache.add(key, value, ttl[, tags])  -> true | false, "exists" | nil, err
--   cache.incr(key, delta[, init[, ttl]]) -> n | nil, err      (L1 only)
--   cache.delete(key)                   -> true if it was in L1 (L1 + L2)
--   cache.delete_pattern(glob)          -> n removed from L1 (L1 + L2 by SCAN)
--   cache.delete_tag(tag)               -> n (L1 only: tags are not kept in L2)
--   cache.ttl(key)                      -> seconds | -1 | nil  (L1)
--   cache.fetch(key, opts, loader)      -> value, err, level
--
-- fetch is cache-aside: opts = {ttl = 60, neg_ttl = 0, stale_ttl = 0,
-- tags, wait = 10}. level is "l1", "l2", "loader" or "stale".
--   * single-flight: concurrent misses of one key in this generation run
--     the loader once, in a task of its own; every caller (the first too)
--     waits for it (nest.core.event) and gets its result. The load belongs
--     to no request: a caller whose client went away (its task cancelled)
--     does not take the load down with it, and the others still get it.
--   * loader() returns value (string, number or table — tables are stored as
--     JSON), or nil (not found: cached for neg_ttl seconds when neg_ttl > 0),
--     or nil, err (failure: nothing cached). A raised error counts as a
--     failure too.
--   * serve-stale: an entry is kept ttl + stale_ttl seconds; past ttl it is
--     reloaded, and when the loader fails the stale value is returned with
--     level "stale" and the loader's err.
-- Entries written by fetch carry an envelope (fresh-until, stale-until,
-- type): read them through fetch, not get.
-- Metrics (when nest.metrics is there): cache_hits_total{cache_type} and
-- cache_misses_total{cache_type}, cache_type "l1" or "l2".
local l1 = require "nest.core.cache"
local redis = require "nest.redis"
local json = require "nest.json"
local event = require "nest.core.event"
local napp = require "nest.core.app"
local timer = require "nest.timer"

local type, tostring, tonumber, pcall, mathtype = type, tostring, tonumber, pcall, math.type
local format, sub, byte = string.format, string.sub, string.byte
local now = napp.now

local cache = { PREFIX = "mn:c:" }

-- metrics ------------------------------------------------------------------

local hits, misses
do
  local ok, metrics = pcall(require, "nest.metrics")
  if ok and type(metrics) == "table" then
    local okh, h = pcall(metrics.counter, "cache_hits_total", "Cache hits by level.", { "cache_type" })
    local okm, m = pcall(metrics.counter, "cache_misses_total", "Cache misses by level.", { "cache_type" })
    if okh and okm then hits, misses = h, m end
  end
end
local function hit(level) if hits then hits:inc(1, level) end end
local function miss(level) if misses then misses:inc(1, level) end end

-- L2 encoding: one type byte, then the payload --------------------------------

local function encode(v)
  local t = type(v)
  if t == "string" then return "s" .. v end
  if t == "number" then
    if mathtype(v) == "integer" then return "i" .. v end
    return "n" .. format("%.17g", v)
  end
  if t == "table" then return "j" .. json.encode(v) end
  if v == nil then return "-" end
  error("nest.cache: cannot store a " .. t, 3)
end

-- decode(s[, at]): the encoded value starting at index at (default 1), so
-- a caller holding an envelope need not copy the payload out first.
local function decode(s, at)
  at = at or 1
  local t, p = byte(s, at), sub(s, at + 1)
  if t == 115 then return p end                    -- s
  if t == 105 then return math.tointeger(tonumber(p)) end  -- i
  if t == 110 then return tonumber(p) end          -- n
  if t == 106 then return json.decode(p) end       -- j
  return nil                                       -- "-": a cached nil
end
cache._encode, cache._decode = encode, decode

local function l2_on()
  return redis.configured() and redis.available()
end

local function ms(ttl) return ttl and ttl > 0 and math.ceil(ttl * 1000) or nil end

local function l2_set(key, value, ttl, nx)
  local cmd = { "SET", cache.PREFIX .. key, encode(value) }
  local px = ms(ttl)
  if px then cmd[#cmd + 1] = "PX"; cmd[#cmd + 1] = px end
  if nx then cmd[#cmd + 1] = "NX" end
  return redis.call(table.unpack(cmd))
end

-- GET + PTTL -> raw string, remaining seconds (nil = none) | nil
local function l2_get(key)
  local res = redis.pipeline(function(p)
    p:call("GET", cache.PREFIX .. key)
    p:call("PTTL", cache.PREFIX .. key)
  end)
  if not res or type(res[1]) ~= "string" then return nil end
  local pttl = res[2]
  return res[1], (mathtype(pttl) == "integer" and pttl > 0) and pttl / 1000 or nil
end

-- passthroughs -------------------------------------------------------------

function cache.get(key)
  local v = l1.get(key)
  if v ~= nil then hit("l1"); return v end
  miss("l1")
  if not l2_on() then return nil end
  local raw, ttl = l2_get(key)
  if raw == nil then miss("l2"); return nil end
  hit("l2")
  v = decode(raw)
  if v ~= nil and type(v) ~= "table" then l1.set(key, v, ttl) end
  return v
end

function cache.set(key, value, ttl, tags)
  local ok, err = l1.set(key, value, ttl, tags)
  if not ok then return nil, err end
  if l2_on() then l2_set(key, value, ttl) end
  return true
end

-- With L2 up, Redis decides (SET NX: shared by every instance); else L1.
function cache.add(key, value, ttl, tags)
  if l2_on() then
    local r, err = l2_set(key, value, ttl, true)
    if r == "OK" then
      local ok, lerr = l1.set(key, value, ttl, tags)
      if not ok then return nil, lerr end
      return true
    end
    if r == nil and err == nil then return false, "exists" end
  end
  return l1.add(key, value, ttl, tags)
end

function cache.incr(key, delta, init, ttl) return l1.incr(key, delta, init, ttl) end
function cache.ttl(key) return l1.ttl(key) end
function cache.delete_tag(tag) return l1.delete_tag(tag) end
function cache.stats() return l1.stats() end
function cache.configure(opts) return l1.configure(opts) end

function cache.delete(key)
  local existed = l1.delete(key)
  if l2_on() then redis.call("DEL", cache.PREFIX .. key) end
  return existed
end

-- Delete every L2 key matching glob with SCAN (never KEYS); -> count | nil, err
function cache.l2_delete_pattern(glob)
  if not l2_on() then return 0 end
  local cursor, n = "0", 0
  repeat
    local res, err = redis.call("SCAN", cursor, "MATCH", cache.PREFIX .. glob, "COUNT", 500)
    if not res then return nil, err end
    cursor = res[1]
    local keys = res[2]
    if #keys > 0 then
      local d = redis.call("DEL", table.unpack(keys))
      n = n + (tonumber(d) or 0)
    end
  until cursor == "0"
  return n
end

function cache.delete_pattern(glob)
  local n = l1.delete_pattern(glob)
  cache.l2_delete_pattern(glob)
  return n
end

-- fetch --------------------------------------------------------------------

-- Envelope: "<fresh_until>:<stale_until>:" .. encode(value); times are epoch
-- seconds so they mean the same on every instance sharing the L2.
local function wrap(value, fresh_until, stale_until)
  return format("%.3f:%.3f:", fresh_until, stale_until) .. encode(value)
end

-- -> is_envelope, value, fresh_until, stale_until
local function unwrap(raw)
  if type(raw) ~= "string" then return false, raw end
  -- the payload's position, not a capture of it: matching "(.*)" ran
  -- Lua's matcher over every byte of a cached body on every hit
  local fu, su, at = raw:match("^(%d+%.%d+):(%d+%.%d+):()")
  if not fu then return false, raw end
  return true, decode(raw, at), tonumber(fu), tonumber(su)
end

local inflight = {}   -- key -> {ev = event, since = seconds}

local function store(key, value, ttl, keep, tags)
  local t = now()
  local raw = wrap(value, t + ttl, t + keep)
  l1.set(key, raw, keep, tags)
  if l2_on() then
    local cmd = { "SET", cache.PREFIX .. key, raw, "PX", ms(keep) }
    redis.call(table.unpack(cmd))
  end
end

local function run_loader(key, opts, loader, stale, have_stale)
  local ok, v, err = pcall(loader)
  if not ok then err, v = tostring(v), nil end
  if v ~= nil then
    local ttl = opts.ttl or 60
    store(key, v, ttl, ttl + (opts.stale_ttl or 0), opts.tags)
    return v, nil, "loader"
  end
  if err == nil then                       -- not found
    local neg = opts.neg_ttl or 0
    if neg > 0 then store(key, nil, neg, neg, opts.tags) end
    return nil, nil, "loader"
  end
  if have_stale then return stale, err, "stale" end
  return nil, err, "loader"
end

-- Run the loader detached (a task of its own, not the caller's): it ends
-- and signals whatever happens to the task that asked for it. -> flight
local function start_load(key, opts, loader, stale, have_stale)
  local f = { ev = event.new(), since = now() }
  inflight[key] = f
  timer.at(0, function(premature)
    local rv, rerr, level
    if premature then rv, rerr, level = stale, "cancelled", have_stale and "stale" or "loader"
    else rv, rerr, level = run_loader(key, opts, loader, stale, have_stale) end
    if inflight[key] == f then inflight[key] = nil end
    f.ev:signal(rv, rerr, level)
  end)
  return f
end

function cache.fetch(key, opts, loader)
  if type(opts) == "function" then opts, loader = nil, opts end
  opts = opts or {}
  assert(type(key) == "string", "nest.cache.fetch: key must be a string")
  assert(type(loader) == "function", "nest.cache.fetch: loader must be a function")
  local t = now()
  local stale, have_stale

  local env, v, fu, su = unwrap(l1.get(key))
  if v ~= nil or env then
    if not env or fu > t then hit("l1"); return v, nil, "l1" end
    if su > t and v ~= nil then stale, have_stale = v, true end
  else
    miss("l1")
    if l2_on() then
      local raw = l2_get(key)
      if raw then
        env, v, fu, su = unwrap(raw)
        if env and fu > t then
          hit("l2")
          l1.set(key, raw, su - t, opts.tags)
          return v, nil, "l2"
        end
        if env and su > t and v ~= nil then stale, have_stale = v, true end
      end
      miss("l2")
    end
  end

  local wait = opts.wait or 10
  local f = inflight[key]
  if f and t - f.since < wait then
    local rv, rerr, level = f.ev:wait(wait)
    if rv == nil and rerr == "timeout" and level == nil then
      if have_stale then return stale, "timeout", "stale" end
      return nil, "timeout", "loader"
    end
    return rv, rerr, level
  end
  f = start_load(key, opts, loader, stale, have_stale)
  -- the one who started it waits as long as the loader takes, as if it ran it
  return f.ev:wait()
end

return cache
