-- plugins/rum/store.lua — web-vitals aggregates in PostgreSQL (table
-- rum_histograms, migration 0005): one row per (hour, metric, page, bucket)
-- holding a count and a sum. Additive, so every instance adds its reports
-- with one upsert and the admin's view is the same on all of them and
-- survives restarts. Timings are stored in milliseconds, CLS unitless.
--
-- The bucket bounds include web-vitals' "good" and "poor" thresholds, so
-- the shares of good / needs improvement / poor are exact, and p75 is read
-- from the buckets by linear interpolation (within one bucket's width).
local db = require "nest.db"

local M = {}

M.MS_BUCKETS = { 50, 100, 200, 300, 500, 800, 1000, 1200, 1500, 1800, 2000, 2500, 3000, 4000,
                 5000, 8000, 12000, 20000, math.huge }
M.CLS_BUCKETS = { 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, math.huge }

-- web-vitals' thresholds: good <= [1], poor > [2]
M.THRESHOLDS = { LCP = { 2500, 4000 }, INP = { 200, 500 }, CLS = { 0.1, 0.25 },
                 FCP = { 1800, 3000 }, TTFB = { 800, 1800 } }

function M.buckets(metric) return metric == "CLS" and M.CLS_BUCKETS or M.MS_BUCKETS end

local function bucket_of(metric, v)
  for _, le in ipairs(M.buckets(metric)) do if v <= le then return le end end
  return math.huge
end

local ADD = [[
  INSERT INTO rum_histograms (period_start, metric, page, bucket_le, count, sum)
  SELECT date_trunc('hour', now()), m, p, le, c, s
  FROM unnest($1::text[], $2::text[], $3::float8[], $4::bigint[], $5::float8[]) AS t(m, p, le, c, s)
  ON CONFLICT (metric, page, period_start, bucket_le) DO UPDATE
    SET count = rum_histograms.count + EXCLUDED.count, sum = rum_histograms.sum + EXCLUDED.sum]]

local function pg_array(list, quote)
  local out = {}
  for i, v in ipairs(list) do
    if quote then out[i] = '"' .. v .. '"'
    elseif v == math.huge then out[i] = "Infinity"
    else out[i] = ("%.17g"):format(v) end
  end
  return "{" .. table.concat(out, ",") .. "}"
end

-- add(entries) -> true | nil, err. entries: {name, value (ms or CLS), page}.
-- Entries of one report falling in the same row are summed first (an upsert
-- cannot touch one row twice).
function M.add(entries)
  local rows, order = {}, {}
  for _, e in ipairs(entries) do
    local le = bucket_of(e.name, e.value)
    local k = e.name .. "\0" .. e.page .. "\0" .. le
    local r = rows[k]
    if not r then r = { m = e.name, p = e.page, le = le, c = 0, s = 0 }; rows[k] = r; order[#order + 1] = r end
    r.c, r.s = r.c + 1, r.s + e.value
  end
  local m, p, le, c, s = {}, {}, {}, {}, {}
  for i, r in ipairs(order) do m[i], p[i], le[i], c[i], s[i] = r.m, r.p, r.le, r.c, r.s end
  local ok, err = db.query({ ADD, prepare = "rum_add" }, pg_array(m, true), pg_array(p, true),
    pg_array(le), pg_array(c), pg_array(s))
  if not ok then return nil, err end
  return true
end

-- Counts over [now - hours, now), by page (and "*": every page) and by
-- period (hour or day) for every page together.
local BY_PAGE = [[
  SELECT metric, page, bucket_le, sum(count)::bigint AS n, sum(sum) AS total
  FROM rum_histograms WHERE period_start >= date_trunc('hour', now()) - make_interval(hours => $1)
  GROUP BY metric, page, bucket_le]]
local BY_PERIOD = [[
  SELECT metric, to_char(date_trunc($2, period_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at,
         bucket_le, sum(count)::bigint AS n, sum(sum) AS total
  FROM rum_histograms WHERE period_start >= date_trunc('hour', now()) - make_interval(hours => $1)
  GROUP BY metric, at, bucket_le]]

function M.by_page(hours) return db.query(BY_PAGE, hours) end
function M.by_period(hours, unit) return db.query(BY_PERIOD, hours, unit) end

-- prune(days) -> rows deleted | nil, err
function M.prune(days)
  local r, err = db.query("DELETE FROM rum_histograms WHERE period_start < now() - make_interval(days => $1)", days)
  if not r then return nil, err end
  return r.affected
end

return M
