-- plugins/status/store.lua — the status plugin's SQL: check results
-- (service_status, 0004 + 0009), the monitor catalogue and its visibility
-- (monitor_visibility), uptime from history, the sparkline history, pruning.
--
--   store.record(results, default_visible)   one cycle: rows + catalogue
--   store.current(stale_s) -> rows           newest row of every monitor seen
--                                            within stale_s, with visible
--   store.uptime(ids, days) -> { [id] = percent }   over the last `days`
--   store.history(id, points) -> rows        last 24 h, bucketed, oldest first
--   store.monitors(stale_s) / store.set_visible(id, visible, by)
--   store.kuma_known(stale_s) -> { {id, name} }   Kuma monitors seen lately
--   store.prune(days, batch) -> rows deleted
-- Every function returns nil, err on a database error.
local db = require "nest.db"
local json = require "nest.json"

local M = {}

local RECORD = [[
  WITH r AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
      id text, name text, source text, status text, ms integer, u24 numeric, u30 numeric,
      message text, integration text, at timestamptz, ord integer)
  ), cat AS (
    INSERT INTO monitor_visibility AS v (monitor_id, display_name, source, visible, sort_order, last_seen_at)
    SELECT id, name, source, $2, ord, now() FROM r
    ON CONFLICT (monitor_id) DO UPDATE
      SET display_name = EXCLUDED.display_name, source = EXCLUDED.source, last_seen_at = now()
  )
  INSERT INTO service_status (service_name, source, status, response_time_ms, uptime_24h, uptime_30d,
                              message, integration, last_check_at)
  SELECT id, source, status, ms, u24, u30, message, integration, coalesce(at, now()) FROM r]]

-- results: { {id, name, source, status, responseTimeMs, uptime24h, uptime30d,
-- message, integration, checkedAt, order}, ... }
function M.record(results, default_visible)
  local rows = json.array()
  for i, r in ipairs(results) do
    rows[i] = { id = r.id, name = r.name, source = r.source, status = r.status,
                ms = r.responseTimeMs, u24 = r.uptime24h, u30 = r.uptime30d, message = r.message,
                integration = r.integration, at = r.checkedAt, ord = r.order or 0 }
  end
  if #rows == 0 then return true end
  local ok, err = db.query({ RECORD, prepare = "status_record" }, json.encode(rows), default_visible ~= false)
  if not ok then return nil, err end
  return true
end

local CURRENT = [[
  SELECT v.monitor_id AS id, coalesce(v.display_name, v.monitor_id) AS name, v.source, v.visible,
         s.status, s.response_time_ms, s.uptime_24h, s.uptime_30d, s.message, s.integration,
         s.last_check_at
  FROM monitor_visibility v
  LEFT JOIN LATERAL (
    SELECT status, response_time_ms, uptime_24h, uptime_30d, message, integration, last_check_at
    FROM service_status WHERE service_name = v.monitor_id
    ORDER BY id DESC LIMIT 1) s ON true   -- newest recorded (Kuma's rows carry Kuma's time)
  WHERE v.last_seen_at > now() - make_interval(secs => $1)
  ORDER BY v.sort_order, v.monitor_id]]

function M.current(stale_s)
  return db.query({ CURRENT, prepare = "status_current" }, stale_s + 0.0)
end

-- Share of checks that found the service working (up or degraded) among
-- those that found it up, degraded or down (maintenance and unknown are not
-- counted either way), in percent; nil without such checks.
local UPTIME = [[
  SELECT service_name AS id,
         round(100.0 * count(*) FILTER (WHERE status IN ('up', 'degraded'))
               / nullif(count(*) FILTER (WHERE status IN ('up', 'degraded', 'down')), 0), 3) AS pct
  FROM service_status
  WHERE service_name IN (SELECT jsonb_array_elements_text($1::jsonb))
    AND last_check_at > now() - make_interval(days => $2)
  GROUP BY service_name]]

function M.uptime(ids, days)
  if #ids == 0 then return {} end
  local rows, err = db.query({ UPTIME, prepare = "status_uptime" }, json.encode(json.array(ids)), days)
  if not rows then return nil, err end
  local out = {}
  for _, r in ipairs(rows) do
    if r.pct ~= db.null then out[r.id] = tonumber(r.pct) end
  end
  return out
end

-- The last 24 h in `points` equal time buckets (empty ones left out): the
-- worst status of each bucket, its mean response time and its last check.
local HISTORY = [[
  SELECT max(last_check_at) AS at,
         (array['up', 'unknown', 'maintenance', 'degraded', 'down'])[max(
            CASE status WHEN 'up' THEN 1 WHEN 'unknown' THEN 2 WHEN 'maintenance' THEN 3
                        WHEN 'degraded' THEN 4 ELSE 5 END)] AS status,
         round(avg(response_time_ms))::integer AS ms
  FROM service_status
  WHERE service_name = $1 AND last_check_at > now() - interval '24 hours'
  GROUP BY floor(extract(epoch FROM (now() - last_check_at)) / (86400.0 / $2))
  ORDER BY at]]

function M.history(id, points)
  return db.query({ HISTORY, prepare = "status_history" }, id, points)
end

local MONITORS = [[
  SELECT v.monitor_id AS id, coalesce(v.display_name, v.monitor_id) AS name, v.source, v.visible,
         coalesce((SELECT status FROM service_status WHERE service_name = v.monitor_id
                   ORDER BY id DESC LIMIT 1), 'unknown') AS status
  FROM monitor_visibility v
  WHERE v.last_seen_at > now() - make_interval(secs => $1)
  ORDER BY v.sort_order, v.monitor_id]]

function M.monitors(stale_s)
  return db.query({ MONITORS, prepare = "status_monitors" }, stale_s + 0.0)
end

local SET_VISIBLE = [[
  UPDATE monitor_visibility SET visible = $2, updated_by = $3
  WHERE monitor_id = $1 AND last_seen_at > now() - make_interval(secs => $4)
  RETURNING monitor_id]]

-- -> true | false (no such monitor) | nil, err
function M.set_visible(id, visible, by, stale_s)
  local rows, err = db.query({ SET_VISIBLE, prepare = "status_set_visible" }, id, visible, by, stale_s + 0.0)
  if not rows then return nil, err end
  return rows[1] ~= nil
end

function M.kuma_known(stale_s)
  return db.query({ [[SELECT monitor_id AS id, coalesce(display_name, monitor_id) AS name, sort_order
                      FROM monitor_visibility
                      WHERE source = 'uptime_kuma' AND last_seen_at > now() - make_interval(secs => $1)
                      ORDER BY sort_order, monitor_id]], prepare = "status_kuma_known" }, stale_s + 0.0)
end

-- History older than `days`, at most `batch` rows a call (the poller calls
-- it every cycle, so a big backlog drains without one long statement).
function M.prune(days, batch)
  local r, err = db.query({ [[DELETE FROM service_status WHERE id IN (
                                SELECT id FROM service_status
                                WHERE last_check_at < now() - make_interval(days => $1) LIMIT $2)]],
                            prepare = "status_prune" }, days, batch)
  if not r then return nil, err end
  return r.affected
end

return M
