-- plugins/admin/probes.lua — POST /admin/services/{name}/test: reach a
-- service with its resolved settings (nest.services.get) and say what works.
--
-- run(name, timeout) -> { service, enabled, ok, checks = [{ name, ok, message, ms }], info }
-- Never raises for an upstream's fault: every network call and child process
-- is bounded (timeout seconds each, connecting at most 3 s), every failure
-- becomes a check with ok = false and a message an admin can act on. Secrets are sent to the service, never put in a message.
local fetch = require "nest.fetch"
local json = require "nest.json"
local napp = require "nest.core.app"
local services = require "nest.services"
local config = require "nest.config"
local crypto = require "nest.crypto"
local log = require "nest.log"

local M = {}

M.DEFAULT_TIMEOUT = 5
local MAX_SIZE = 1024 * 1024
local CLIENT_ID = "medianest-admin-check"

local function base(url) return (url:gsub("/+$", "")) end

-- A check runner: c:run(name, fn) times fn, which returns ok, message.
local Checks = {}
Checks.__index = Checks

local function new_checks(timeout, s)
  return setmetatable({ list = json.array(), timeout = timeout, s = s }, Checks)
end

function Checks:add(name, ok, message, ms)
  self.list[#self.list + 1] = { name = name, ok = ok and true or false, message = message, ms = ms or 0 }
  return ok
end

function Checks:run(name, fn, ...)
  local t0 = napp.hrtime()
  local ok, good, message = pcall(fn, ...)
  local ms = math.floor((napp.hrtime() - t0) * 1000 + 0.5)
  if not ok then
    log.error("admin service check failed unexpectedly", { check = name, error = tostring(good) })
    return self:add(name, false, "the check itself failed (see the server log)", ms)
  end
  return self:add(name, good, message, ms)
end

-- Why a fetch failed, in words.
function Checks:reason(err)
  err = tostring(err)
  if err == "timeout" then return ("no answer within %g s"):format(self.timeout) end
  return err
end

-- Through nest.services.fetch: the service's own origin only, and its
-- loopback/private addresses only when its URL is itself on them.
function Checks:get(url, headers)
  return services.fetch(self.s, url, { headers = headers, max_size = MAX_SIZE, service = "admin_test",
                                       timeout = { connect = math.min(3, self.timeout), total = self.timeout } })
end

local function body_json(res)
  local ok, v = pcall(res.json, res)
  if ok and type(v) == "table" then return v end
  return nil
end

local function need_url(c, s)
  if s.url and s.url ~= "" then return true end
  c:add("configured", false, "No URL is set")
  return false
end

---------------------------------------------------------------------------

local probes = {}

function probes.plex(c, s, info)
  if not need_url(c, s) then return end
  local headers = { Accept = "application/json", ["X-Plex-Client-Identifier"] = CLIENT_ID,
                    ["X-Plex-Token"] = s.token }
  local reachable = c:run("identity", function()
    local res, err = c:get(base(s.url) .. "/identity", headers)
    if not res then return false, "Plex Media Server unreachable: " .. c:reason(err) end
    local mc = (body_json(res) or {}).MediaContainer
    if res.status ~= 200 or type(mc) ~= "table" or not mc.machineIdentifier then
      return false, ("HTTP %d from %s/identity: not a Plex Media Server?"):format(res.status, base(s.url))
    end
    info.machineIdentifier, info.version = mc.machineIdentifier, mc.version
    return true, ("Plex Media Server %s, machine %s"):format(tostring(mc.version), mc.machineIdentifier)
  end)
  if not reachable then return end
  if not s.token then return c:add("token", false, "No token is set: library calls will be refused") end
  c:run("token", function()
    local res, err = c:get(base(s.url) .. "/library/sections", headers)
    if not res then return false, "library call failed: " .. c:reason(err) end
    if res.status == 401 or res.status == 403 then
      return false, ("Token refused (HTTP %d)"):format(res.status)
    end
    if res.status ~= 200 then return false, ("HTTP %d from /library/sections"):format(res.status) end
    local dirs = ((body_json(res) or {}).MediaContainer or {}).Directory or {}
    return true, ("Token accepted: %d libraries"):format(#dirs)
  end)
end

function probes.plextv(c, s)
  if not need_url(c, s) then return end
  c:run("reachable", function()
    local res, err = c:get(base(s.url) .. "/api/v2/ping", {
      Accept = "application/json", ["X-Plex-Client-Identifier"] = CLIENT_ID,
      ["X-Plex-Product"] = s.options.product or "MediaNest" })
    if not res then return false, "plex.tv unreachable: " .. c:reason(err) end
    -- without a user's token plex.tv answers 401: reachable all the same
    if res.status == 200 or res.status == 401 then
      return true, ("plex.tv answers (HTTP %d)"):format(res.status)
    end
    return false, ("HTTP %d from %s/api/v2/ping: not plex.tv?"):format(res.status, base(s.url))
  end)
end

function probes.overseerr(c, s, info)
  if not need_url(c, s) then return end
  local headers = { Accept = "application/json", ["X-Api-Key"] = s.api_key }
  local api = base(s.url) .. "/api/v1"
  local reachable = c:run("status", function()
    local res, err = c:get(api .. "/status", headers)
    if not res then return false, "Overseerr unreachable: " .. c:reason(err) end
    local v = body_json(res)
    if res.status ~= 200 or not v or not v.version then
      return false, ("HTTP %d from %s/status: not Overseerr?"):format(res.status, api)
    end
    info.version = v.version
    return true, "Overseerr " .. tostring(v.version)
  end)
  if reachable then
    if not s.api_key then
      c:add("apiKey", false, "No API key is set: requests cannot be made")
    else
      c:run("apiKey", function()
        local res, err = c:get(api .. "/request/count", headers)
        if not res then return false, "authenticated call failed: " .. c:reason(err) end
        if res.status == 401 or res.status == 403 then
          return false, ("API key refused (HTTP %d)"):format(res.status)
        end
        if res.status ~= 200 then return false, ("HTTP %d from /request/count"):format(res.status) end
        return true, "API key accepted"
      end)
    end
  end
  if s.webhook_secret then
    c:add("webhookSecret", true, "Webhook secret set: use it as the Authorization header of Overseerr's webhook")
  else
    c:add("webhookSecret", false, "No webhook secret is set: Overseerr's webhooks will be refused")
  end
end

local function basic(user, password)
  local b = crypto.base64url_encode(user .. ":" .. password):gsub("-", "+"):gsub("_", "/")
  return "Basic " .. b .. ("="):rep((4 - #b % 4) % 4)
end

function probes.uptime_kuma(c, s, info)
  if not need_url(c, s) then return end
  local slug = s.options.slug
  if not slug or slug == "" then
    c:add("statusPage", false, "No status page slug is set")
  else
    c:run("statusPage", function()
      local res, err = c:get(base(s.url) .. "/api/status-page/" .. fetch.encode_uri_component(slug),
                           { Accept = "application/json" })
      if not res then return false, "Uptime Kuma unreachable: " .. c:reason(err) end
      if res.status == 404 then return false, ("Status page '%s' not found"):format(slug) end
      local v = body_json(res)
      if res.status ~= 200 or not v or type(v.config) ~= "table" then
        return false, ("HTTP %d from the status page: not Uptime Kuma?"):format(res.status)
      end
      local n = 0
      for _, g in ipairs(v.publicGroupList or {}) do n = n + #(g.monitorList or {}) end
      info.monitors = n
      return true, ("Status page '%s': %d monitors"):format(tostring(v.config.title or slug), n)
    end)
  end
  if s.api_key then
    c:run("metrics", function()
      local res, err = c:get(base(s.url) .. "/metrics", { Authorization = basic("", s.api_key) })
      if not res then return false, "metrics unreachable: " .. c:reason(err) end
      if res.status == 401 or res.status == 403 then
        return false, ("API key refused by /metrics (HTTP %d)"):format(res.status)
      end
      if res.status ~= 200 then return false, ("HTTP %d from /metrics"):format(res.status) end
      return true, "API key accepted by /metrics"
    end)
  end
end

-- Run argv with a deadline; -> exit code, first stdout line, stderr | nil, err
local function run_bounded(argv, seconds)
  local code, lines, err = require("nest.proc").run(argv, { timeout = seconds, max_lines = 1 })
  if not code then return nil, lines end
  return code, lines[1], err
end

local function last_line(s)
  s = tostring(s or ""):gsub("%s+$", "")
  return s:match("([^\n]*)$")
end

function probes.youtube(c, s)
  local o = s.options
  local ytdlp = o.ytdlp or "yt-dlp"
  c:run("ytdlp", function()
    local code, out, err = run_bounded({ ytdlp, "--version" }, c.timeout)
    if not code then return false, ("cannot run %s: %s"):format(ytdlp, tostring(out)) end
    if code ~= 0 then
      return false, ("%s --version exited with %d: %s"):format(ytdlp, code, last_line(err))
    end
    return true, "yt-dlp " .. tostring(out)
  end)
  c:run("root", function()
    if not o.root or o.root == "" then return false, "No download folder (root) is set" end
    local root = config.path(o.root)
    -- one child, the path passed as an argument, never spliced into the script
    local code, out, err = run_bounded({ "sh", "-c",
      'mkdir -p -- "$1" && t="$1/.medianest-write-test.$$" && : > "$t" && rm -f -- "$t"',
      "sh", root }, c.timeout)
    if not code then return false, "cannot check " .. root .. ": " .. tostring(out) end
    if code ~= 0 then return false, ("%s is not writable: %s"):format(root, last_line(err)) end
    return true, root .. " is writable"
  end)
end

function M.run(name, timeout)
  local s = services.get(name)
  local c = new_checks(timeout or M.DEFAULT_TIMEOUT, s)
  local info = {}
  local ok, err = pcall(probes[name], c, s, info)
  if not ok then
    log.error("admin service test failed unexpectedly", { service = name, error = tostring(err) })
    c:add("internal", false, "the test itself failed (see the server log)")
  end
  local all = #c.list > 0
  for _, ch in ipairs(c.list) do all = all and ch.ok end
  return { service = name, enabled = s.enabled, ok = all, checks = c.list,
           info = next(info) and info or json.null }
end

return M
