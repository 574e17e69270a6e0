-- plugins/serverinfo/figures.lua — the server's own figures, read from the
-- metrics registry it already keeps (nest.metrics, the text /metrics
-- serves): requests answered and their p95 (http_request_duration_seconds,
-- kept by the C HTTP bridge), resident memory and start time (process_*).
local metrics = require "nest.metrics"
local napp = require "nest.core.app"

local M = {}

local function unescape_num(v)
  if v == "+Inf" then return math.huge end
  return tonumber(v)
end

-- parse(text) -> { buckets = {le -> cumulative count}, count, sum, rss, start }
function M.parse(text)
  local out = { buckets = {}, count = 0, sum = 0 }
  for labels, v in text:gmatch("\nhttp_request_duration_seconds_bucket{([^}]*)} (%S+)") do
    local le = unescape_num(labels:match('le="([^"]*)"'))
    if le then out.buckets[le] = (out.buckets[le] or 0) + tonumber(v) end
  end
  for v in text:gmatch("\nhttp_request_duration_seconds_count{[^}]*} (%S+)") do out.count = out.count + tonumber(v) end
  for v in text:gmatch("\nhttp_request_duration_seconds_sum{[^}]*} (%S+)") do out.sum = out.sum + tonumber(v) end
  out.rss = tonumber(text:match("\nprocess_resident_memory_bytes (%S+)") or "")
  out.start = tonumber(text:match("\nprocess_start_time_seconds (%S+)") or "")
  return out
end

-- The q-quantile of cumulative buckets, interpolated in its bucket (the
-- way Prometheus' histogram_quantile does).
function M.quantile(buckets, count, q)
  if count == 0 then return nil end
  local les = {}
  for le in pairs(buckets) do les[#les + 1] = le end
  table.sort(les)
  local want, prev_le, prev_n = q * count, 0, 0
  for _, le in ipairs(les) do
    local n = buckets[le]
    if n >= want then
      if le == math.huge then return prev_le end
      if n == prev_n then return le end
      return prev_le + (le - prev_le) * (want - prev_n) / (n - prev_n)
    end
    prev_le, prev_n = le, n
  end
  return prev_le
end

-- The last reading, so requests/s is over the time since the previous look
-- (the admin page asks every few seconds), or since the start at first.
local last

function M.read()
  local now = napp.now()
  local f = M.parse("\n" .. metrics.expose())
  local uptime = f.start and math.max(0, now - f.start) or nil
  local rate
  if last and now - last.at >= 1 then rate = (f.count - last.count) / (now - last.at)
  elseif uptime and uptime > 0 then rate = f.count / uptime end
  if not last or now - last.at >= 1 then last = { at = now, count = f.count } end
  local p95 = M.quantile(f.buckets, f.count, 0.95)
  return {
    uptimeSeconds = uptime and math.floor(uptime) or nil,
    requests = math.floor(f.count),
    requestsPerSecond = rate and math.floor(rate * 100 + 0.5) / 100 or 0,
    p95Ms = p95 and math.floor(p95 * 100000 + 0.5) / 100 or nil,
    meanMs = f.count > 0 and math.floor(f.sum / f.count * 100000 + 0.5) / 100 or nil,
    rssBytes = f.rss and math.floor(f.rss) or nil,
  }
end

return M
