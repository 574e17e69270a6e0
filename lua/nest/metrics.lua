-- nest/metrics.lua — Prometheus metrics for the framework and plugins
-- (docs/architecture.md#metrics-health-logs), over nest.core.metrics (core/lua_metrics.c).
--
-- The registry belongs to the app, not to the Lua generation: a counter keeps
-- its value across hot reloads, and registering the same name again (as a
-- reloaded plugin does) returns the same metric when its type, label names
-- and buckets match — and raises when they do not.
--
--   local metrics = require "nest.metrics"
--   local hits = metrics.counter("cache_hits_total", "Cache hits.", { "cache_type" })
--   hits:inc(1, "l1")                                  -- label values positionally
--   local dur = metrics.histogram("upstream_request_duration_seconds",
--                                 "Upstream call time.", { "service" })
--   dur:observe(0.042, "plex")
--   local inflight = metrics.gauge("jobs_running", "Jobs running.")
--   inflight:inc() ; inflight:dec() ; inflight:set(3)
--
-- Label values follow the value, one per declared label name, in order:
-- strings, or numbers (converted: 200 -> "200"). No table per observation;
-- a wrong count raises. Each metric keeps at most 1000 label combinations
-- (opts.max_series to change); later ones fold into one series whose values
-- are all "_overflow", counted by metrics_overflow_total{metric}. So never
-- use unbounded values (user ids, raw paths, query strings) as labels.
--
-- Names: metric [a-zA-Z_:][a-zA-Z0-9_:]*, label [a-zA-Z_][a-zA-Z0-9_]*
-- (not starting with "__"; a histogram cannot use "le").
local core = require "nest.core.metrics"

local metrics = {
  --- the media type of expose()'s text (Prometheus text format 0.0.4)
  CONTENT_TYPE = core.CONTENT_TYPE,
  DEFAULT_BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 },
}

-- Registration errors name the caller's line, not this file's.
local function register(f, ...)
  local ok, h = pcall(f, ...)
  if not ok then error(h, 3) end
  return h
end

local function max_series(opts)
  if opts == nil then return nil end
  assert(type(opts) == "table", "nest.metrics: opts must be a table")
  return opts.max_series
end

--- counter(name, help, [labelnames], [opts]) -> handle with :inc([n = 1], ...labels)
-- opts: { max_series = n }
function metrics.counter(name, help, labelnames, opts)
  local h = register(core.counter, name, help, labelnames, max_series(opts))
  return h  -- not a tail call: register's error level counts this frame
end

--- gauge(name, help, [labelnames], [opts]) -> handle with :set(v, ...), :inc([n], ...), :dec([n], ...)
function metrics.gauge(name, help, labelnames, opts)
  local h = register(core.gauge, name, help, labelnames, max_series(opts))
  return h  -- not a tail call: register's error level counts this frame
end

--- histogram(name, help, [labelnames], [buckets | opts], [opts]) -> handle with :observe(v, ...labels)
-- buckets: increasing upper bounds (+Inf implied), default DEFAULT_BUCKETS.
-- The 4th argument may also be opts: { buckets = {...}, max_series = n }.
function metrics.histogram(name, help, labelnames, buckets, opts)
  if type(buckets) == "table" and buckets[1] == nil and next(buckets) ~= nil then
    opts, buckets = buckets, buckets.buckets
  end
  local h = register(core.histogram, name, help, labelnames, buckets, max_series(opts))
  return h  -- not a tail call: register's error level counts this frame
end

--- expose() -> the whole registry as Prometheus text (runs the collectors
-- first, e.g. process_resident_memory_bytes). Serve it with CONTENT_TYPE.
metrics.expose = core.expose

--- time(histogram, fn, ...labels) -> fn's results; observes how long fn took
-- (wall clock, seconds), also when fn raises.
function metrics.time(histogram, fn, ...)
  local hrtime = require("nest.core.app").hrtime
  local t0 = hrtime()
  local res = table.pack(pcall(fn))
  histogram:observe(hrtime() - t0, ...)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

return metrics
