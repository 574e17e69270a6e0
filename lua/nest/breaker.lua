-- nest/breaker.lua — circuit breakers around upstream calls, and retries
-- with jittered exponential backoff for idempotent ones.
--
--   local breaker = require "nest.breaker"
--   local plex = breaker.new("plex", {
--     fallback = function(...) return stale_value_marked_degraded end,
--   })
--   local v, err = plex:call(fetch_sessions, arg1, arg2)
--
-- Defaults are the seed's opossum settings:
--   timeout = 3        a call that takes longer counts as a failure (its
--                      result is still returned: Lua cannot abandon a running
--                      call, so give the protected function its own deadline,
--                      e.g. nest.fetch's timeout, no longer than this)
--   threshold = 0.5    open when failures / calls >= threshold ...
--   window = 10        ... over a rolling window of `window` seconds
--   buckets = 10       ... kept as `buckets` buckets ...
--   volume = 5         ... once at least `volume` calls are in the window
--   reset_timeout = 30 open -> half-open after this many seconds; then ONE
--                      trial call goes through (the others get the fallback):
--                      success closes the circuit, failure re-opens it
--   fallback = fn(...) called with the call's arguments when the circuit
--                      rejects the call; without it a rejected call returns
--                      nil, {code = "CIRCUIT_OPEN", service = name}
--   clock = fn() -> seconds (monotonic); specs inject one instead of sleeping
--
-- A failure is a call that raised (the error is re-raised after counting),
-- returned nil, err (the usual expected-failure convention), or overran the
-- timeout. A failing call's own result is returned as is: the fallback is for
-- rejected calls only, so the caller still sees the real error.
--
-- State lives in the app's L1 cache (nest.core.cache, keys "breaker:<name>:*")
-- rather than in this module, so it survives a hot reload of the Lua
-- generation; it is per instance (not shared through Redis). Changes are
-- logged and exported as the gauge circuit_breaker_state{service}
-- (0 closed, 1 open, 2 half-open) when nest.metrics is available.
local cache = require "nest.core.cache"
local napp = require "nest.core.app"
local log = require "nest.log"

local M = {}

local STATE_VALUE = { closed = 0, open = 1, half_open = 2 }

local gauge
do
  local ok, metrics = pcall(require, "nest.metrics")
  if ok and type(metrics) == "table" and metrics.gauge then
    local gok, g = pcall(metrics.gauge, "circuit_breaker_state",
      "Circuit breaker state per upstream service: 0 closed, 1 open, 2 half-open.", { "service" })
    if gok then gauge = g end
  end
end

local Breaker = {}
Breaker.__index = Breaker

local DEFAULTS = { timeout = 3, threshold = 0.5, window = 10, buckets = 10, volume = 5,
                   reset_timeout = 30 }

function M.new(name, opts)
  assert(type(name) == "string" and name ~= "", "breaker.new: name must be a non-empty string")
  opts = opts or {}
  local b = setmetatable({ name = name, prefix = "breaker:" .. name .. ":" }, Breaker)
  for k, v in pairs(DEFAULTS) do b[k] = opts[k] or v end
  assert(b.buckets >= 1 and b.window > 0, "breaker.new: window and buckets must be positive")
  b.bucket_len = b.window / b.buckets
  b.fallback = opts.fallback
  b.clock = opts.clock or napp.hrtime
  -- bucket counters expire on their own (real time) well after they leave the window
  b.bucket_ttl = math.max(b.window * 2, 1)
  if gauge then gauge:set(STATE_VALUE[b:state()], name) end
  return b
end

function Breaker:key(k) return self.prefix .. k end

function Breaker:state()
  return cache.get(self:key("state")) or "closed"
end

local function set_state(self, state, fields)
  local old = self:state()
  if old == state then return end
  cache.set(self:key("state"), state)
  if state == "open" then cache.set(self:key("opened_at"), self.clock()) end
  if state == "closed" then cache.incr(self:key("epoch"), 1, 0) end   -- forget the window
  if gauge then gauge:set(STATE_VALUE[state], self.name) end
  fields = fields or {}
  fields.service, fields.from, fields.to = self.name, old, state
  local level = state == "open" and "warn" or "info"
  log[level]("circuit breaker " .. state:gsub("_", "-"), fields)
end

-- Counts of the rolling window: calls, failures.
function Breaker:stats()
  local epoch = cache.get(self:key("epoch")) or 0
  local cur = math.floor(self.clock() / self.bucket_len)
  local calls, failures = 0, 0
  for i = cur - self.buckets + 1, cur do
    calls = calls + (cache.get(self:key(("c:%d:%d"):format(epoch, i))) or 0)
    failures = failures + (cache.get(self:key(("f:%d:%d"):format(epoch, i))) or 0)
  end
  return { calls = calls, failures = failures, state = self:state() }
end

local function record(self, failed)
  local epoch = cache.get(self:key("epoch")) or 0
  local i = math.floor(self.clock() / self.bucket_len)
  cache.incr(self:key(("c:%d:%d"):format(epoch, i)), 1, 0, self.bucket_ttl)
  if failed then
    cache.incr(self:key(("f:%d:%d"):format(epoch, i)), 1, 0, self.bucket_ttl)
    local s = self:stats()
    if s.calls >= self.volume and s.failures / s.calls >= self.threshold then
      set_state(self, "open", { calls = s.calls, failures = s.failures })
    end
  end
end

local function reject(self, ...)
  if self.fallback then return self.fallback(...) end
  return nil, { code = "CIRCUIT_OPEN", service = self.name,
                message = "circuit open for " .. self.name }
end

-- Run fn(...), timing it; returns failed, ok, packed results.
local function run(self, fn, ...)
  local t0 = self.clock()
  local res = table.pack(pcall(fn, ...))
  local took = self.clock() - t0
  local ok = res[1]
  local failed = not ok or res[2] == nil or took > self.timeout
  return failed, ok, res, took
end

local function finish(ok, res)
  if not ok then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- call(fn, ...) -> fn's results, or the fallback's when the circuit rejects.
function Breaker:call(fn, ...)
  local state = self:state()
  if state == "open" then
    local opened = cache.get(self:key("opened_at")) or 0
    if self.clock() - opened < self.reset_timeout then return reject(self, ...) end
    set_state(self, "half_open")
    state = "half_open"
  end
  if state == "half_open" then
    -- one trial at a time; the key expires should the trial never come back
    if cache.add(self:key("trial"), 1, self.timeout * 2) ~= true then return reject(self, ...) end
    local failed, ok, res, took = run(self, fn, ...)
    cache.delete(self:key("trial"))
    if failed then
      set_state(self, "open", { trial = "failed", took = took })
    else
      set_state(self, "closed", { trial = "succeeded" })
    end
    return finish(ok, res)
  end
  local failed, ok, res = run(self, fn, ...)
  record(self, failed)
  return finish(ok, res)
end

---------------------------------------------------------------------------
-- Retries
---------------------------------------------------------------------------

-- retry(fn, opts) -> fn's results. Calls fn() again while it returns nil, err
-- (and opts.retryable(err) says yes), up to `attempts` calls in all, sleeping a
-- random time in [0, min(max, base * 2^(n-1))] between them ("full jitter").
-- Only idempotent calls are retried: opts.idempotent must be true, else fn is
-- called once. A raised error is not retried (it is a bug, not a blip).
-- opts: attempts = 3, base = 0.1, max = 2, idempotent, retryable(err),
--       sleep(seconds) (default nest.timer.sleep), random() in [0, 1).
function M.retry(fn, opts)
  opts = opts or {}
  local attempts = opts.idempotent and (opts.attempts or 3) or 1
  local base, max = opts.base or 0.1, opts.max or 2
  local sleep = opts.sleep or require("nest.timer").sleep
  local random = opts.random or math.random
  local res
  for n = 1, attempts do
    res = table.pack(fn())
    if res[1] ~= nil then return table.unpack(res, 1, res.n) end
    if n == attempts or (opts.retryable and not opts.retryable(res[2])) then break end
    sleep(random() * math.min(max, base * 2 ^ (n - 1)))
  end
  return table.unpack(res, 1, res.n)
end

M.Breaker = Breaker
return M
