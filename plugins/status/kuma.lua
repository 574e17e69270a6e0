-- plugins/status/kuma.lua — the monitors of an Uptime Kuma, read one of the
-- two supported ways (../shared/reference/external-apis.md; never Kuma's
-- internal Socket.IO channel):
--   * a status page: GET /api/status-page/{slug} (which monitors, their
--     names) + GET /api/status-page/heartbeat/{slug} (beats oldest -> newest,
--     the last one is the current state; uptimeList "<id>_24" as a ratio);
--   * or, without a slug, GET /metrics with HTTP Basic auth (any user name,
--     the API key as password): monitor_status and monitor_response_time.
--
--   kuma.configured() -> settings | nil
--   kuma.poll(s, opts) -> { result, ... } | nil, message
--   result = { id = "kuma:<monitor id>", name, source = "uptime_kuma", status,
--              responseTimeMs, message, uptime24h, checkedAt }
--
-- Kuma 1.23's /metrics has no monitor id label (2.x adds monitor_id): there
-- the id is the monitor's name, lower-cased, non-alphanumerics as "-".
-- Status 0 DOWN -> down, 1 UP -> up, 2 PENDING (retrying) -> degraded,
-- 3 MAINTENANCE -> maintenance. An unreachable Kuma, an error status or
-- an answer that is not Kuma's JSON ("garbage", e.g. a proxy's login page)
-- gives nil and a message; the poller then shows every Kuma monitor it knew
-- as "unknown" with that message.
local fetch = require "nest.fetch"
local crypto = require "nest.crypto"
local services = require "nest.services"

local M = {}

local MAX_SIZE = 2 * 1024 * 1024
local STATUS = { [0] = "down", [1] = "up", [2] = "degraded", [3] = "maintenance" }
local DEFAULT_MSG = { [0] = "Down", [2] = "Pending: Uptime Kuma is retrying", [3] = "Under maintenance" }

local function base(url) return (url:gsub("/+$", "")) end

function M.configured()
  local s = services.get("uptime_kuma")
  if not s or not s.enabled or not s.url or s.url == "" then return nil end
  local slug = s.options.slug
  if (slug == nil or slug == "") and (s.api_key == nil or s.api_key == "") then return nil end
  return s
end

local function get(s, url, headers, o)
  local res, err = services.fetch(s, url, { headers = headers, max_size = MAX_SIZE, service = "status_kuma",
                                timeout = { connect = math.min(3, o.timeout), total = o.timeout } })
  if not res then
    if err == "timeout" then return nil, ("Uptime Kuma did not answer within %g s"):format(o.timeout) end
    return nil, "Uptime Kuma unreachable: " .. tostring(err)
  end
  return res
end

local function kind(res)
  return (res.headers["content-type"] or "no content type"):match("^[^;]*")
end

local function json_of(res, what)
  if res.status == 404 and what == "status page" then
    return nil, "Uptime Kuma has no status page with this slug (HTTP 404)"
  end
  if res.status == 401 or res.status == 403 then
    return nil, ("Uptime Kuma refused the request for its %s (HTTP %d)"):format(what, res.status)
  end
  if res.status ~= 200 then return nil, ("HTTP %d from Uptime Kuma's %s"):format(res.status, what) end
  local ok, v = pcall(res.json, res)
  if not ok or type(v) ~= "table" then
    return nil, ("Uptime Kuma's %s is not JSON (HTTP 200, %s): a proxy in the way, or not Kuma?"):format(what, kind(res))
  end
  return v
end

-- "2025-01-01 12:00:00.123" (UTC, no zone) -> "2025-01-01T12:00:00.123Z"
local function iso(t)
  if type(t) ~= "string" then return nil end
  local d, hms = t:match("^(%d%d%d%d%-%d%d%-%d%d)[ T](%d%d:%d%d:%d%d[%.%d]*)")
  return d and (d .. "T" .. hms .. "Z") or nil
end

local function from_beat(id, name, beat, uptime)
  local st = type(beat) == "table" and math.tointeger(beat.status) or nil
  local r = { id = "kuma:" .. id, name = name, source = "uptime_kuma" }
  if not st or not STATUS[st] then
    r.status, r.message = "unknown", "Uptime Kuma has no heartbeat for this monitor yet"
    return r
  end
  r.status = STATUS[st]
  r.responseTimeMs = math.type(beat.ping) and beat.ping >= 0 and math.floor(beat.ping + 0.5) or nil
  if st ~= 1 then
    local msg = type(beat.msg) == "string" and beat.msg ~= "" and beat.msg or nil
    r.message = msg and (DEFAULT_MSG[st] .. ": " .. msg) or DEFAULT_MSG[st]
    if st == 2 and msg then r.message = "Pending (Uptime Kuma is retrying): " .. msg end
  end
  r.checkedAt = iso(beat.time)
  if type(uptime) == "number" and uptime >= 0 and uptime <= 1 then
    r.uptime24h = math.floor(uptime * 100000 + 0.5) / 1000
  end
  return r
end

local function poll_status_page(s, o)
  local slug = fetch.encode_uri_component(s.options.slug)
  local res, err = get(s, base(s.url) .. "/api/status-page/" .. slug, { Accept = "application/json" }, o)
  if not res then return nil, err end
  local page, perr = json_of(res, "status page")
  if not page then return nil, perr end
  if type(page.publicGroupList) ~= "table" then
    return nil, "Uptime Kuma's status page has no publicGroupList: not Kuma, or an unsupported version"
  end
  res, err = get(s, base(s.url) .. "/api/status-page/heartbeat/" .. slug, { Accept = "application/json" }, o)
  if not res then return nil, err end
  local beats, berr = json_of(res, "heartbeats")
  if not beats then return nil, berr end
  local lists = type(beats.heartbeatList) == "table" and beats.heartbeatList or {}
  local uptimes = type(beats.uptimeList) == "table" and beats.uptimeList or {}
  local out, seen = {}, {}
  for _, g in ipairs(page.publicGroupList) do
    for _, m in ipairs(type(g) == "table" and type(g.monitorList) == "table" and g.monitorList or {}) do
      local id = type(m) == "table" and math.tointeger(m.id)
      if id and not seen[id] then
        seen[id] = true
        local list = lists[tostring(id)]
        local last = type(list) == "table" and list[#list] or nil
        local name = type(m.name) == "string" and m.name:sub(1, 200) or ("Monitor " .. id)
        out[#out + 1] = from_beat(id, name, last, uptimes[id .. "_24"])
      end
    end
  end
  return out
end

-- Prometheus text: `name{k="v",...} value` -> name, labels, value
local function parse_labels(s)
  local labels, i = {}, 1
  while i <= #s do
    local k, j = s:match("^%s*,?%s*([%a_][%w_]*)=\"()", i)
    if not k then break end
    local buf = {}
    while j <= #s do
      local c = s:sub(j, j)
      if c == "\\" then
        local n = s:sub(j + 1, j + 1)
        buf[#buf + 1] = n == "n" and "\n" or n
        j = j + 2
      elseif c == '"' then
        j = j + 1
        break
      else
        buf[#buf + 1] = c
        j = j + 1
      end
    end
    labels[k] = table.concat(buf)
    i = j
  end
  return labels
end

local function basic(password)
  local b = crypto.base64url_encode(":" .. password):gsub("-", "+"):gsub("_", "/")
  return "Basic " .. b .. ("="):rep((4 - #b % 4) % 4)
end

local function metric_id(labels)
  if labels.monitor_id and labels.monitor_id:match("^%d+$") then return labels.monitor_id end
  local n = (labels.monitor_name or ""):lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  return n ~= "" and n:sub(1, 100) or nil
end

local function poll_metrics(s, o)
  local res, err = get(s, base(s.url) .. "/metrics", { Authorization = basic(s.api_key) }, o)
  if not res then return nil, err end
  if res.status == 401 or res.status == 403 then
    return nil, ("Uptime Kuma refused the API key on /metrics (HTTP %d): update it in Admin › Services"):format(res.status)
  end
  if res.status ~= 200 then return nil, ("HTTP %d from Uptime Kuma's /metrics"):format(res.status) end
  local by_id, order, found = {}, {}, false
  for line in res.body:gmatch("[^\n]+") do
    local name, labels, value = line:match("^(monitor_[%w_]+){(.*)}%s+(%S+)")
    if name == "monitor_status" or name == "monitor_response_time" then
      found = true
      local l = parse_labels(labels)
      local id = metric_id(l)
      if id then
        local m = by_id[id]
        if not m then
          m = { name = (l.monitor_name or id):sub(1, 200) }
          by_id[id] = m
          order[#order + 1] = id
        end
        if name == "monitor_status" then m.status = math.tointeger(tonumber(value))
        else m.ping = tonumber(value) end
      end
    end
  end
  if not found then
    return nil, ("Uptime Kuma's /metrics has no monitor_status (HTTP 200, %s): not Kuma?"):format(kind(res))
  end
  local out = {}
  for _, id in ipairs(order) do
    local m = by_id[id]
    local ping = m.ping and m.ping >= 0 and m.ping or nil
    out[#out + 1] = from_beat(id, m.name, m.status and { status = m.status, ping = ping } or nil)
    out[#out].checkedAt = nil
  end
  return out
end

function M.poll(s, o)
  if s.options.slug and s.options.slug ~= "" then return poll_status_page(s, o) end
  return poll_metrics(s, o)
end

return M
