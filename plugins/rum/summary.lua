-- plugins/rum/summary.lua — the body of GET /admin/rum from the stored
-- histogram rows: per page and metric the sample count, p75 and the shares
-- of good / needs improvement / poor; and p75 per hour (24 h) or day
-- (7 days) of every page together, for the trend lines.
local json = require "nest.json"
local store = require "plugins.rum.store"

local M = {}

M.METRICS = { "LCP", "INP", "CLS", "FCP", "TTFB" }
M.RANGES = { ["24h"] = { hours = 24, unit = "hour" }, ["7d"] = { hours = 24 * 7, unit = "day" } }

-- p75 of a histogram {le -> count}: the value below which 75 % of the
-- samples fall, interpolated linearly inside its bucket; in the last
-- (unbounded) bucket, its lower bound.
function M.quantile(metric, counts, total, q)
  if total == 0 then return nil end
  local want, seen, lower = q * total, 0, 0
  for _, le in ipairs(store.buckets(metric)) do
    local n = counts[le] or 0
    if n > 0 and seen + n >= want then
      if le == math.huge then return lower end
      return lower + (le - lower) * (want - seen) / n
    end
    seen, lower = seen + n, le
  end
  return lower
end

local function shares(metric, counts, total)
  local t = store.THRESHOLDS[metric]
  local good, poor = 0, 0
  for le, n in pairs(counts) do
    if le <= t[1] then good = good + n elseif le > t[2] then poor = poor + n end
  end
  if total == 0 then return 0, 0, 0 end
  return good / total, (total - good - poor) / total, poor / total
end

local function figures(metric, h)
  local good, ni, poor = shares(metric, h.counts, h.n)
  local p75 = M.quantile(metric, h.counts, h.n, 0.75)
  return { count = h.n, p75 = p75 and (metric == "CLS" and math.floor(p75 * 1000 + 0.5) / 1000
                                         or math.floor(p75 + 0.5)) or json.null,
           mean = h.n > 0 and h.sum / h.n or json.null,
           good = good, needsImprovement = ni, poor = poor }
end

-- Fold rows {metric, <key column>, bucket_le, n, total} into key -> metric -> hist.
local function fold(rows, key, into, also)
  for _, r in ipairs(rows) do
    for _, k in ipairs({ r[key], also }) do
      if k then
        local by = into[k] or {}; into[k] = by
        local hist = by[r.metric] or { counts = {}, n = 0, sum = 0 }; by[r.metric] = hist
        hist.counts[r.bucket_le] = (hist.counts[r.bucket_le] or 0) + r.n
        hist.n, hist.sum = hist.n + r.n, hist.sum + r.total
      end
    end
  end
  return into
end

-- build(range) -> body | nil, err
function M.build(range)
  local rg = M.RANGES[range]
  local rows, err = store.by_page(rg.hours)
  if not rows then return nil, err end
  local series_rows
  series_rows, err = store.by_period(rg.hours, rg.unit)
  if not series_rows then return nil, err end
  local by_page = fold(rows, "page", {}, "*")
  local pages = json.array()
  for page, by in pairs(by_page) do
    local m = {}
    for _, metric in ipairs(M.METRICS) do
      m[metric] = figures(metric, by[metric] or { counts = {}, n = 0, sum = 0 })
    end
    pages[#pages + 1] = { page = page, metrics = m }
  end
  table.sort(pages, function(a, b) return a.page < b.page end)   -- "*" (every page) first
  local by_at = fold(series_rows, "at", {})
  local series = json.array()
  for at, by in pairs(by_at) do
    local point = { at = at }
    for _, metric in ipairs(M.METRICS) do
      local hist = by[metric]
      point[metric] = hist and figures(metric, hist).p75 or json.null
    end
    series[#series + 1] = point
  end
  table.sort(series, function(a, b) return a.at < b.at end)
  return { range = range, unit = rg.unit, thresholds = store.THRESHOLDS, pages = pages, series = series }
end

return M
