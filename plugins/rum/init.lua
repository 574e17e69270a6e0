-- plugins/rum/init.lua — POST /api/v1/analytics/rum: the browser's
-- web-vitals from the UI's sendBeacon (docs/architecture.md#notifications-and-analytics).
--
-- Body (at most 4 KB, Content-Type text/plain — what sendBeacon sends for a
-- string — or application/json, or none), one metric or a batch:
--   {"name": "LCP", "value": 812.5, "page": "/library"}
--   {"metrics": [{"name": "FCP", "value": 420, "page": "/"}, ...]}   (1..20)
-- name is FCP, LCP, INP, TTFB (milliseconds, 0..120000) or CLS (unitless,
-- 0..100); page is a path whose first segment names a known page (the web
-- UI's routes), anything else counts as "other" — labels stay bounded.
-- Extra fields (id, rating, navigationType) are ignored. A batch is taken
-- whole or refused whole: 400 VALIDATION_ERROR says which entry and why.
-- Answers 204.
--
-- Aggregates (nest.metrics, exposed on /metrics):
--   web_vitals_seconds{name, page}   histogram of FCP/LCP/INP/TTFB, seconds
--   web_vitals_cls{page}             histogram of CLS
--   web_vitals_rejected_total{reason} refused reports
-- and stored (plugins/rum/store.lua): hourly histograms in rum_histograms,
-- the same on every instance and across restarts, read by
--   GET /api/v1/admin/rum?range=24h|7d   (admins; plugins/rum/summary.lua)
-- Rows older than keep_days (90) are pruned hourly, once per cluster.
--
-- Public (visitors on the sign-in page report too) and rate-limited per IP:
-- the named limit `rum` of config rate_limits when it exists (applied by the
-- ratelimit plugin through opts.rate), else the same limit enforced here
-- with the defaults below. opts.csrf = false: a beacon cannot carry the
-- X-CSRF-Token header, and this route changes nothing a forged request
-- could abuse beyond what the rate limit bounds.
local json = require "nest.json"
local metrics = require "nest.metrics"
local rl = require "nest.ratelimit"
local errors = require "nest.errors"
local lease = require "nest.lease"
local log = require "nest.log"
local timer = require "nest.timer"
local store = require "plugins.rum.store"
local summary = require "plugins.rum.summary"

local plugin = { name = "rum", version = "1.1.0", priority = 0,
                 description = "Web-vitals from the browser (RUM): histograms, stored aggregates, admin view",
                 schema = { fields = {
                   keep_days = { type = "number", default = 90, min = 8, max = 3650 },
                 } } }

local MAX_BODY = 4096
local MAX_BATCH = 20
local FALLBACK_LIMIT = { limit = 60, window = 60, by = "ip" }

-- name -> {max, unit}; ms metrics are stored in seconds
local NAMES = {
  FCP = { max = 120000, ms = true }, LCP = { max = 120000, ms = true },
  INP = { max = 120000, ms = true }, TTFB = { max = 120000, ms = true },
  CLS = { max = 100 },
}

local PAGES = require("plugins.rum.pages")

local SECONDS_BUCKETS = { 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 3, 4, 5, 8, 12, 20 }
local CLS_BUCKETS = { 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2 }
local REASONS = { too_large = true, media_type = true, json = true, invalid = true, rate_limited = true }

local hist_s, hist_cls, rejected

local function ensure_metrics()
  if hist_s then return end
  hist_s = metrics.histogram("web_vitals_seconds",
    "Web vitals reported by browsers (FCP, LCP, INP, TTFB), in seconds.", { "name", "page" },
    { buckets = SECONDS_BUCKETS })
  hist_cls = metrics.histogram("web_vitals_cls",
    "Cumulative Layout Shift reported by browsers (unitless).", { "page" }, { buckets = CLS_BUCKETS })
  rejected = metrics.counter("web_vitals_rejected_total",
    "Web-vitals reports refused, by reason.", { "reason" })
end

-- "/library/123?x" -> "/library"; unknown -> "other"
local function page_label(page)
  if type(page) ~= "string" or #page > 2048 or page:sub(1, 1) ~= "/" then return "other" end
  local first = "/" .. (page:match("^/([^/?#]*)") or "")
  return PAGES[first] and first or "other"
end

local function refuse(res, status, code, reason, message, details)
  rejected:inc(1, REASONS[reason] and reason or "invalid")
  return res:error(status, code, message, details)
end

-- nil, why | entry
local function check_entry(e)
  if type(e) ~= "table" then return nil, "must be an object" end
  local spec = type(e.name) == "string" and NAMES[e.name]
  if not spec then return nil, "name must be one of FCP, LCP, CLS, INP, TTFB" end
  local v = e.value
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    return nil, "value must be a finite number"
  end
  if v < 0 or v > spec.max then
    return nil, ("value of %s must be between 0 and %s"):format(e.name, tostring(spec.max))
  end
  if e.page ~= nil and type(e.page) ~= "string" then return nil, "page must be a string" end
  return { name = e.name, value = v, page = page_label(e.page) }
end

-- list | nil, message, details
local function parse(body)
  local doc = json.decode(body)
  if type(doc) ~= "table" then return nil, "json" end
  local list = doc.metrics
  if list == nil then
    list = { doc }
  elseif type(list) ~= "table" or #list == 0 or #list > MAX_BATCH then
    return nil, "invalid", ("metrics must be a list of 1 to %d entries"):format(MAX_BATCH)
  end
  local out = {}
  for i = 1, #list do
    local e, why = check_entry(list[i])
    if not e then
      return nil, "invalid", (#list > 1 or doc.metrics) and ("metrics[%d]: %s"):format(i, why) or why, { index = i }
    end
    out[#out + 1] = e
  end
  return out
end

local function fallback_limit(req, res)
  local d = rl.check("rum", rl.key(req, FALLBACK_LIMIT), FALLBACK_LIMIT)
  res:header("x-ratelimit-limit", tostring(d.limit))
  res:header("x-ratelimit-remaining", tostring(d.remaining))
  res:header("x-ratelimit-reset", tostring(d.reset))
  if d.allowed then return true end
  res:header("retry-after", tostring(d.retry_after))
  rejected:inc(1, "rate_limited")
  res:error(429, "RATE_LIMITED", "Too many requests; retry in " .. d.retry_after .. " s",
    { limit = "rum" }, d.retry_after)
  return false
end

local function handler(own_limit)
  return function(req, res)
    ensure_metrics()
    if own_limit and not fallback_limit(req, res) then return end
    local body = req.body or ""
    if #body > MAX_BODY then
      return refuse(res, 413, "PAYLOAD_TOO_LARGE", "too_large", "A RUM report is at most 4096 bytes")
    end
    local ct = (req.headers["content-type"] or ""):lower():match("^%s*([^;%s]*)")
    if ct ~= "" and ct ~= "text/plain" and ct ~= "application/json" then
      return refuse(res, 415, "UNSUPPORTED_MEDIA_TYPE", "media_type",
        "Send the report as application/json or text/plain")
    end
    if body == "" then return refuse(res, 400, "INVALID_JSON", "json", "Expected a JSON body") end
    local list, reason, message, details = parse(body)
    if not list then
      if reason == "json" then
        return refuse(res, 400, "INVALID_JSON", "json", "The body is not a JSON object")
      end
      return refuse(res, 400, "VALIDATION_ERROR", "invalid", message, details)
    end
    local ok, err = store.add(list)
    if not ok then error(err, 0) end   -- the database is down: 503, the browser's beacon is lost
    for _, e in ipairs(list) do
      if e.name == "CLS" then hist_cls:observe(e.value, e.page)
      else hist_s:observe(e.value / 1000, e.name, e.page) end
    end
    res:status(204)
  end
end

function plugin.routes(r)
  local named = rl.limit("rum") ~= nil
  r:post("/analytics/rum", { auth = "public", csrf = false, body_limit = MAX_BODY,
                             rate = named and "rum" or false }, handler(not named))

  r:get("/admin/rum", { auth = "admin" }, function(req, res)
    local range = req:query_string("range", { max = 8 }) or "24h"
    if not summary.RANGES[range] then
      errors.raise(400, "VALIDATION_ERROR", "range must be 24h or 7d", { field = "range" })
    end
    local body, err = summary.build(range)
    if not body then error(err, 0) end
    return res:json(body)
  end)
end

local function prune(premature, keep_days)
  if premature or not lease.hold("rum-prune", 1800) then return end
  local n, err = store.prune(keep_days)
  if not n then return log.warn("rum: prune failed", { error = tostring(err) }) end
  if n > 0 then log.info("rum histograms pruned", { rows = n }) end
end

function plugin.init(_, settings)
  hist_s, hist_cls, rejected = nil, nil, nil
  ensure_metrics()
  timer.every(3600, prune, (settings or {}).keep_days or 90)
end

return plugin
