-- plugins/status/alerts.lua — admins are told when a service goes down and
-- when it comes back, and when a Plex token or Overseerr API key is refused:
-- once per transition (nest.notify.admins with an event key naming the
-- transition), never for a flap shorter than CONFIRM cycles.
--
--   alerts.observe(results) -> true | nil, err    called once per poller cycle
--
-- Per alert ("plex", "kuma:3" for up/down; "plex:integration" for the
-- credential) service_alerts (0009) holds the confirmed state and the
-- candidate being confirmed with its count. A service's state is "down"
-- (status down) or "up" (up or degraded); maintenance and unknown confirm
-- nothing. A candidate seen CONFIRM cycles in a row becomes the state: going
-- down notifies (also the first state ever seen, so a server started while
-- Plex is down tells its admins); coming back notifies only after a down
-- that was notified. A refused credential notifies on the first cycle (a
-- 401 is no flap); its recovery is silent. The event key carries the
-- transition's time, so two instances (or a retried cycle) notify once.
local db = require "nest.db"
local notify = require "nest.notify"
local log = require "nest.log"

local M = {}

M.CONFIRM = 2

local function category(r)
  if r.status == "down" then return "down" end
  if r.status == "up" or r.status == "degraded" then return "up" end
  return nil
end

local function load()
  local rows, err = db.query({ "SELECT alert_id, state, candidate, candidate_n FROM service_alerts",
                               prepare = "status_alerts_load" })
  if not rows then return nil, err end
  local out = {}
  for _, r in ipairs(rows) do
    out[r.alert_id] = { state = r.state ~= db.null and r.state or nil,
                        candidate = r.candidate ~= db.null and r.candidate or nil, n = r.candidate_n }
  end
  return out
end

local SAVE = [[
  INSERT INTO service_alerts AS a (alert_id, state, since, candidate, candidate_n, updated_at)
  VALUES ($1, $2, CASE WHEN $5 THEN now() END, $3, $4, now())
  ON CONFLICT (alert_id) DO UPDATE
    SET state = EXCLUDED.state, candidate = EXCLUDED.candidate, candidate_n = EXCLUDED.candidate_n,
        since = CASE WHEN $5 THEN now() ELSE a.since END, updated_at = now()
  RETURNING floor(extract(epoch FROM since) * 1000)::bigint AS since_ms]]

local function save(id, a, transition)
  local rows, err = db.query({ SAVE, prepare = "status_alerts_save" }, id, a.state or db.null,
                             a.candidate or db.null, a.n, transition)
  if not rows then return nil, err end
  return rows[1].since_ms
end

-- Advance one alert with this cycle's category c; -> transitioned (bool), changed (bool)
local function step(a, c, confirm)
  if c == nil then return false, false end
  if c == a.state then
    local changed = a.candidate ~= nil
    a.candidate, a.n = nil, 0
    return false, changed
  end
  if c == a.candidate then a.n = a.n + 1 else a.candidate, a.n = c, 1 end
  if a.n >= confirm then
    a.previous, a.state, a.candidate, a.n = a.state, c, nil, 0
    return true, true
  end
  return false, true
end

local function send(n)
  local ok, err = notify.admins(n)
  if ok == nil then log.warn("status: admin notification failed", { key = n.key, error = tostring(err) }) end
end

local function service_event(r, a, since_ms)
  if a.state == "down" then
    send({ type = "service_down", title = r.name .. " is down", body = r.message, link = "/",
           data = { serviceId = r.id, status = r.status }, key = ("status:%s:down:%d"):format(r.id, since_ms) })
  elseif a.state == "up" and a.previous == "down" then
    send({ type = "service_up", title = r.name .. " is back up", body = r.message, link = "/",
           data = { serviceId = r.id, status = r.status }, key = ("status:%s:up:%d"):format(r.id, since_ms) })
  end
end

local function integration_event(r, a, since_ms)
  if a.state ~= "rejected" then return end
  local what = r.integration == "token_rejected" and "token" or "API key"
  send({ type = "integration_rejected", title = ("%s refused MediaNest's %s"):format(r.name, what),
         body = r.message, link = "/admin", data = { serviceId = r.id, integration = r.integration },
         key = ("status:%s:%s:%d"):format(r.id, r.integration, since_ms) })
end

local function advance(all, id, c, confirm, r, on_transition)
  local a = all[id] or { n = 0 }
  local transitioned, changed = step(a, c, confirm)
  if not changed then return true end
  local since_ms, err = save(id, a, transitioned)
  if not since_ms then return nil, err end
  if transitioned then on_transition(r, a, since_ms) end
  return true
end

function M.observe(results)
  local all, err = load()
  if not all then return nil, err end
  for _, r in ipairs(results) do
    local ok, e = advance(all, r.id, category(r), M.CONFIRM, r, service_event)
    if not ok then return nil, e end
    if r.source == "self" and (r.id == "plex" or r.id == "overseerr") and r.status ~= "down" then
      ok, e = advance(all, r.id .. ":integration", r.integration and "rejected" or "ok", 1, r, integration_event)
      if not ok then return nil, e end
    end
  end
  return true
end

return M
