-- plugins/demo-upstreams/kuma.lua — a stand-in Uptime Kuma (1.23 shapes)
-- for `serve --demo` and the specs, mounted at /demo/kuma by the plugin's
-- init.lua (docs/demo-upstreams.md, ../shared/reference/external-apis.md):
--   GET /demo/kuma/api/status-page/{slug}            config, incident, publicGroupList, maintenanceList
--   GET /demo/kuma/api/status-page/heartbeat/{slug}  heartbeatList (oldest -> newest), uptimeList "<id>_24"
--   GET /demo/kuma/metrics                           Prometheus text; HTTP Basic, password = API key
-- Unknown slug: 404 {"status":"fail","msg":"Status Page Not Found"}; /metrics
-- without the key: 401 with `WWW-Authenticate: Basic`. Monitor status: 0 DOWN,
-- 1 UP, 2 PENDING, 3 MAINTENANCE. Times are UTC "YYYY-MM-DD HH:MM:SS.mmm".
--
-- Monitors: 1 Plex, 2 Overseerr, 3 MediaNest (http, pointing at the demo
-- services), 4 NAS (ping), 5 plex.tv (https, with certificate metrics).
-- Settings (plugins.settings["demo-upstreams"].kuma): slug ("demo"),
-- api_key ("demo-kuma-key"), beats (50 per monitor, as 1.23; 2.x sends 100).
--
-- Spec controls (public): POST /demo/kuma/_control/monitors/{id}
-- {status, msg?, ping?} appends a heartbeat (the monitor's state flips),
-- POST /demo/kuma/_control/incident {title, content, style} (or {} to
-- clear), POST /demo/kuma/_control/reset, and GET/POST /demo/kuma/_control
-- (latency_ms, failure_rate, ... as every fake of the plugin, and garbage:
-- true to answer an HTML login page instead, as a proxy in front would).
--
-- State lives in this module: per generation, like the other fakes.
local json = require "nest.json"
local util = require "plugins.demo-upstreams.plexutil"

local M = {}

local PREFIX = "/demo/kuma"
local DEMO_KEY, DEMO_SLUG = "demo-kuma-key", "demo"
local VERSION = "1.23.16"
local STATUS_MSG = { [0] = "connect ECONNREFUSED", [1] = "200 - OK", [2] = "timeout of 48000ms exceeded",
                     [3] = "Monitor under maintenance" }
M.DEMO_KEY, M.DEMO_SLUG = DEMO_KEY, DEMO_SLUG

local settings_ref = {}
local control
-- When set (POST /demo/kuma/_control {"garbage": true}), every Kuma route
-- answers 200 with an HTML sign-in page, as a reverse proxy with its own
-- login in front of Kuma does: clients must not take it for Kuma's JSON.
local garbage = false
local GARBAGE = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
  .. "<body><form method=\"post\" action=\"/login\"><input name=\"user\"></form></body></html>\n"
local state            -- { monitors = {[id] = m}, order = {ids}, incident = nil|table }

local function now()
  local ok, app = pcall(require, "nest.core.app")
  return ok and app.now() or os.time()
end

-- "2025-01-01 12:00:00.123" (UTC, no Z), as Kuma writes heartbeat times
local function kuma_time(t)
  local s = math.floor(t)
  return os.date("!%Y-%m-%d %H:%M:%S", s) .. (".%03d"):format(math.floor((t - s) * 1000))
end

local function service_url(name, path, fallback)
  local ok, cfg = pcall(function() return require("nest.config").get() end)
  local s = ok and cfg and cfg.services and cfg.services[name]
  if s and type(s.url) == "string" and s.url ~= "" then return s.url .. path end
  return fallback
end

local function self_url(path)
  local ok, cfg = pcall(function() return require("nest.config").get() end)
  if ok and cfg and cfg.listen_host then
    local host = cfg.listen_host
    if host == "" or host == "0.0.0.0" or host == "::" then host = "127.0.0.1" end
    return ("http://%s:%s%s"):format(host, tostring(cfg.listen_port), path)
  end
  return "http://127.0.0.1:8080" .. path
end

local function beats_kept()
  local n = math.tointeger(settings_ref.beats)
  return (n and n > 0 and n <= 1000) and n or 50
end

local function reset_state()
  local monitors = {
    { id = 1, name = "Plex", type = "http", url = service_url("plex", "/identity", "http://plex.local:32400/identity"),
      group = 1, ping = 38 },
    { id = 2, name = "Overseerr", type = "http",
      url = service_url("overseerr", "/api/v1/status", "http://overseerr.local:5055/api/v1/status"), group = 1, ping = 55 },
    { id = 3, name = "MediaNest", type = "http", url = self_url("/health"), group = 2, ping = 12 },
    { id = 4, name = "NAS", type = "ping", hostname = "nas.local", group = 2, ping = 3 },
    { id = 5, name = "plex.tv", type = "http", url = "https://plex.tv/api/v2/ping", group = 3, ping = 120,
      cert_days = 61 },
  }
  state = { monitors = {}, order = {}, incident = nil }
  local t0 = now()
  local n = beats_kept()
  for _, m in ipairs(monitors) do
    m.beats = {}
    for i = 1, n do
      -- a deterministic history: the NAS dropped once, plex.tv was slow once
      local st = (m.id == 4 and i == n - 20) and 0 or 1
      local ping = st == 1 and (m.ping + (i * 7 + m.id * 3) % 11) or json.null
      m.beats[i] = { status = st, time = kuma_time(t0 - (n - i) * 60), msg = st == 1 and "" or STATUS_MSG[0],
                     ping = ping }
    end
    state.monitors[m.id] = m
    state.order[#state.order + 1] = m.id
  end
end

local function current(m) return m.beats[#m.beats] end

local function add_beat(m, status, msg, ping)
  local b = { status = status, time = kuma_time(now()), msg = msg or (status == 1 and "" or STATUS_MSG[status]),
              ping = (status == 1 or status == 3) and (ping or m.ping) or json.null }
  if status == 3 then b.ping = json.null end
  m.beats[#m.beats + 1] = b
  while #m.beats > beats_kept() do table.remove(m.beats, 1) end
  return b
end

---------------------------------------------------------------------------
-- Answers
---------------------------------------------------------------------------

local GROUPS = { { id = 1, name = "Media", weight = 1 }, { id = 2, name = "Infrastructure", weight = 2 },
                 { id = 3, name = "External", weight = 3 } }

local function status_page()
  local groups = json.array()
  for _, g in ipairs(GROUPS) do
    local list = json.array()
    for _, id in ipairs(state.order) do
      local m = state.monitors[id]
      if m.group == g.id then
        local e = { id = m.id, name = m.name, sendUrl = m.url and 1 or 0, type = m.type }
        if m.url then e.url = m.url end
        list[#list + 1] = e
      end
    end
    groups[#groups + 1] = { id = g.id, name = g.name, weight = g.weight, monitorList = list }
  end
  return {
    config = { slug = settings_ref.slug or DEMO_SLUG, title = "MediaNest demo", description = json.null,
               icon = "/icon.svg", theme = "auto", published = true, showTags = false,
               domainNameList = json.array(), customCSS = "body {\n  \n}\n", footerText = json.null,
               showPoweredBy = true, googleAnalyticsId = json.null, showCertificateExpiry = false,
               autoRefreshInterval = 300 },
    incident = state.incident or json.null,
    publicGroupList = groups,
    maintenanceList = json.array(),
  }
end

local function heartbeats()
  local list, uptime = {}, {}
  for _, id in ipairs(state.order) do
    local m = state.monitors[id]
    local out, up = json.array(), 0
    for i, b in ipairs(m.beats) do
      out[i] = { status = b.status, time = b.time, msg = b.msg, ping = b.ping }
      if b.status == 1 then up = up + 1 end
    end
    list[tostring(id)] = out
    uptime[id .. "_24"] = #m.beats > 0 and up / #m.beats or 0
  end
  return { heartbeatList = list, uptimeList = uptime }
end

local function label(v)
  return (tostring(v):gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub('"', '\\"'))
end

local function labels(m)
  return ('{monitor_name="%s",monitor_type="%s",monitor_url="%s",monitor_hostname="%s",monitor_port="%s"}'):format(
    label(m.name), label(m.type), label(m.url or "https://"), label(m.hostname or "null"), label(m.port or "null"))
end

local function metrics_text()
  local out = {}
  local function add(s) out[#out + 1] = s end
  add("# HELP monitor_cert_days_remaining The number of days remaining until the certificate expires")
  add("# TYPE monitor_cert_days_remaining gauge")
  for _, id in ipairs(state.order) do
    local m = state.monitors[id]
    if m.cert_days then add("monitor_cert_days_remaining" .. labels(m) .. " " .. m.cert_days) end
  end
  add("# HELP monitor_cert_is_valid Is the certificate still valid? (1 = Yes, 0= No)")
  add("# TYPE monitor_cert_is_valid gauge")
  for _, id in ipairs(state.order) do
    local m = state.monitors[id]
    if m.cert_days then add("monitor_cert_is_valid" .. labels(m) .. " 1") end
  end
  add("# HELP monitor_response_time Monitor Response Time (ms)")
  add("# TYPE monitor_response_time gauge")
  for _, id in ipairs(state.order) do
    local m = state.monitors[id]
    local p = current(m).ping
    add("monitor_response_time" .. labels(m) .. " " .. (type(p) == "number" and tostring(p) or "-1"))
  end
  add("# HELP monitor_status Monitor Status (1 = UP, 0= DOWN, 2= PENDING, 3= MAINTENANCE)")
  add("# TYPE monitor_status gauge")
  for _, id in ipairs(state.order) do
    local m = state.monitors[id]
    add("monitor_status" .. labels(m) .. " " .. current(m).status)
  end
  add("# HELP app_version The service version")
  add("# TYPE app_version gauge")
  local maj, min, pat = VERSION:match("^(%d+)%.(%d+)%.(%d+)$")
  add(('app_version{version="%s",major="%s",minor="%s",patch="%s"} 1'):format(VERSION, maj, min, pat))
  return table.concat(out, "\n") .. "\n"
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64IDX = {}
for i = 1, #B64 do B64IDX[B64:byte(i)] = i - 1 end

local function b64decode(s)
  s = s:gsub("%s", ""):gsub("=+$", "")
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    local v = B64IDX[s:byte(i)]
    if not v then return nil end
    bits = (bits << 6) | v
    n = n + 6
    if n >= 8 then
      n = n - 8
      out[#out + 1] = string.char((bits >> n) & 0xff)
    end
  end
  return table.concat(out)
end

-- Basic auth: any user name, the password must be the API key.
local function authorized(req)
  local h = req.headers.authorization
  local enc = h and h:match("^[Bb]asic%s+(%S+)")
  local dec = enc and b64decode(enc)
  local pass = dec and dec:match("^[^:]*:(.*)$")
  return pass ~= nil and pass == (settings_ref.api_key or DEMO_KEY)
end

---------------------------------------------------------------------------
-- Routes
---------------------------------------------------------------------------

local function wrap(fn)
  return function(req, res)
    if not state then reset_state() end
    if control and control:before() then
      return res:json({ ok = false, msg = "Internal Server Error" }, control.failure_status)
    end
    if garbage then return res:send(GARBAGE, 200, "text/html; charset=utf-8") end
    return fn(req, res)
  end
end

local function not_found(res)
  return res:json({ status = "fail", msg = "Status Page Not Found" }, 404)
end

local function routes(r)
  local pub = { auth = "public", at_root = true }
  local takes_body = { auth = "public", at_root = true, body_limit = 16 * 1024 }

  r:get(PREFIX .. "/api/status-page/heartbeat/{slug}", pub, wrap(function(req, res)
    if req.params.slug ~= (settings_ref.slug or DEMO_SLUG) then return not_found(res) end
    return res:json(heartbeats())
  end))

  r:get(PREFIX .. "/api/status-page/{slug}", pub, wrap(function(req, res)
    if req.params.slug ~= (settings_ref.slug or DEMO_SLUG) then return not_found(res) end
    return res:json(status_page())
  end))

  r:get(PREFIX .. "/metrics", pub, wrap(function(req, res)
    if not authorized(req) then
      res:header("WWW-Authenticate", "Basic")
      return res:send("", 401, "text/plain; charset=utf-8")
    end
    return res:send(metrics_text(), 200, "text/plain; version=0.0.4; charset=utf-8")
  end))

  local C = PREFIX .. "/_control"
  r:post(C .. "/monitors/{id}", takes_body, function(req, res)
    if not state then reset_state() end
    local m = state.monitors[math.tointeger(tonumber(req.params.id)) or -1]
    if not m then return res:error(404, "NOT_FOUND", "no monitor " .. tostring(req.params.id)) end
    local body = req:json()
    local st = math.tointeger(body.status)
    if not st or st < 0 or st > 3 then
      return res:error(400, "VALIDATION_ERROR", "status must be 0 (DOWN), 1 (UP), 2 (PENDING) or 3 (MAINTENANCE)")
    end
    local msg = type(body.msg) == "string" and body.msg or nil
    local ping = type(body.ping) == "number" and body.ping or nil
    local b = add_beat(m, st, msg, ping)
    return res:json({ id = m.id, name = m.name, heartbeat = b })
  end)

  r:post(C .. "/incident", takes_body, function(req, res)
    if not state then reset_state() end
    local body = req:json()
    if type(body.title) == "string" and body.title ~= "" then
      local t = kuma_time(now())
      state.incident = { id = 1, style = type(body.style) == "string" and body.style or "warning",
                         title = body.title, content = type(body.content) == "string" and body.content or "",
                         pin = true, createdDate = t, lastUpdatedDate = json.null }
    else
      state.incident = nil
    end
    return res:json({ incident = state.incident or json.null })
  end)

  r:post(C .. "/reset", takes_body, function(_, res)
    reset_state()
    control:reset()
    garbage = false
    return res:json({ reset = true })
  end)

  util.control_routes(r, PREFIX, control, {
    state = function(st) st.garbage = garbage end,
    apply = function(body)
      if body.garbage ~= nil and type(body.garbage) ~= "boolean" then return nil, "garbage must be true or false" end
      if body.reset then garbage = false end
      if body.garbage ~= nil then garbage = body.garbage end
      return true
    end,
  })
end

-- routes(r, settings): settings.kuma (or settings itself) may hold slug,
-- api_key and beats.
function M.routes(r, settings)
  settings = type(settings) == "table" and settings or {}
  settings_ref = type(settings.kuma) == "table" and settings.kuma or settings
  control = util.control(settings)
  state = nil
  garbage = false
  routes(r)
end

function M.init(_, settings)
  if type(settings) == "table" then
    settings_ref = type(settings.kuma) == "table" and settings.kuma or settings
  end
  if not state then reset_state() end
end

return M
