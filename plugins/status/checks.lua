-- plugins/status/checks.lua — MediaNest's own checks of the services it is
-- configured with (nest.services): Plex, Overseerr, plex.tv and the YouTube
-- tool. They make the dashboard complete without Uptime Kuma.
--
--   checks.run(opts) -> { result, ... }   one per configured service
--   opts = { timeout = s, slow_ms = n, min_free_mb = n }
--   result = { id, name, source = "self", status, responseTimeMs, message,
--              integration = nil | "token_rejected" | "key_rejected" }
--
-- A check never raises for an upstream's fault and never waits longer than
-- opts.timeout per call: a timeout, a refused connection, an error status or
-- an answer that is not what the service sends ("garbage") is a "down" with
-- a message saying which. A service slower than slow_ms is "degraded". A
-- Plex token or an Overseerr API key that the service refuses (401/403) is
-- "degraded" with integration set and a message an admin can act on; its
-- secret is sent to the service only, never put in a message.
local fetch = require "nest.fetch"
local services = require "nest.services"
local config = require "nest.config"
local proc = require "nest.proc"
local timer = require "nest.timer"
local napp = require "nest.core.app"

local M = {}

local MAX_SIZE = 256 * 1024
local CLIENT_ID = "medianest-status"

local function base(url) return (url:gsub("/+$", "")) end
local function ms_since(t0) return math.floor((napp.hrtime() - t0) * 1000 + 0.5) end

local function reason(err, timeout)
  err = tostring(err)
  if err == "timeout" then return ("no answer within %g s"):format(timeout) end
  return err
end

local function get(url, headers, o, service)
  return fetch(url, { headers = headers, max_size = MAX_SIZE, service = "status_" .. service,
                      timeout = { connect = math.min(3, o.timeout), total = o.timeout } })
end

local function body_json(res)
  local ok, v = pcall(res.json, res)
  if ok and type(v) == "table" then return v end
  return nil
end

local function result(id, name, status, ms, message, integration)
  return { id = id, name = name, source = "self", status = status, responseTimeMs = ms,
           message = message, integration = integration }
end

-- up, or degraded when slower than the threshold (the message stays the
-- same from cycle to cycle, so a slow service is one change, not one a cycle)
local function timed(id, name, ms, o)
  if ms > o.slow_ms then
    return result(id, name, "degraded", ms, ("Answers slowly (over %d ms)"):format(o.slow_ms))
  end
  return result(id, name, "up", ms, nil)
end

local function refused(status) return status == 401 or status == 403 end

---------------------------------------------------------------------------

function M.plex(s, o)
  local name = "Plex"
  local headers = { Accept = "application/json", ["X-Plex-Client-Identifier"] = CLIENT_ID }
  local t0 = napp.hrtime()
  local res, err = get(base(s.url) .. "/identity", headers, o, "plex")
  local ms = ms_since(t0)
  if not res then return result("plex", name, "down", nil, "Plex Media Server unreachable: " .. reason(err, o.timeout)) end
  if res.status ~= 200 then return result("plex", name, "down", ms, ("HTTP %d from Plex's /identity"):format(res.status)) end
  local mc = (body_json(res) or {}).MediaContainer
  if type(mc) ~= "table" or not mc.machineIdentifier then
    return result("plex", name, "down", ms, "The Plex URL answers, but not like a Plex Media Server")
  end
  local r = timed("plex", name, ms, o)
  if not s.token or s.token == "" then
    r.status, r.integration = "degraded", "token_rejected"
    r.message = "No Plex token is set: sign in as the owner, or set it in Admin › Services"
    return r
  end
  headers["X-Plex-Token"] = s.token
  local lib, lerr = get(base(s.url) .. "/library/sections", headers, o, "plex")
  if lib and refused(lib.status) then
    r.status, r.integration = "degraded", "token_rejected"
    r.message = ("The Plex token was rejected (HTTP %d): sign in again as the owner, "
                 .. "or update it in Admin › Services"):format(lib.status)
  elseif not lib then
    r.status, r.message = "degraded", "Plex's library does not answer: " .. reason(lerr, o.timeout)
  elseif lib.status ~= 200 then
    r.status, r.message = "degraded", ("HTTP %d from Plex's library"):format(lib.status)
  end
  return r
end

function M.overseerr(s, o)
  local name = "Overseerr"
  local api = base(s.url) .. "/api/v1"
  local t0 = napp.hrtime()
  local res, err = get(api .. "/status", { Accept = "application/json" }, o, "overseerr")
  local ms = ms_since(t0)
  if not res then return result("overseerr", name, "down", nil, "Overseerr unreachable: " .. reason(err, o.timeout)) end
  if res.status ~= 200 then return result("overseerr", name, "down", ms, ("HTTP %d from Overseerr's /status"):format(res.status)) end
  local v = body_json(res)
  if not v or not v.version then
    return result("overseerr", name, "down", ms, "The Overseerr URL answers, but not like Overseerr")
  end
  local r = timed("overseerr", name, ms, o)
  if not s.api_key or s.api_key == "" then
    r.status, r.integration = "degraded", "key_rejected"
    r.message = "No Overseerr API key is set: set it in Admin › Services"
    return r
  end
  local me, merr = get(api .. "/auth/me", { Accept = "application/json", ["X-Api-Key"] = s.api_key }, o, "overseerr")
  if me and refused(me.status) then
    r.status, r.integration = "degraded", "key_rejected"
    r.message = ("The Overseerr API key was rejected (HTTP %d): copy it from Overseerr's "
                 .. "Settings › General into Admin › Services"):format(me.status)
  elseif not me then
    r.status, r.message = "degraded", "Overseerr's API does not answer: " .. reason(merr, o.timeout)
  elseif me.status ~= 200 then
    r.status, r.message = "degraded", ("HTTP %d from Overseerr's API"):format(me.status)
  end
  return r
end

function M.plextv(s, o)
  local name = "plex.tv"
  local t0 = napp.hrtime()
  local res, err = get(base(s.url) .. "/api/v2/ping", { Accept = "application/json",
    ["X-Plex-Client-Identifier"] = CLIENT_ID, ["X-Plex-Product"] = s.options.product or "MediaNest" }, o, "plextv")
  local ms = ms_since(t0)
  if not res then return result("plextv", name, "down", nil, "plex.tv unreachable: " .. reason(err, o.timeout)) end
  -- without a user's token plex.tv answers 401: reachable all the same
  if res.status ~= 200 and res.status ~= 401 then
    return result("plextv", name, "down", ms, ("HTTP %d from plex.tv"):format(res.status))
  end
  return timed("plextv", name, ms, o)
end

-- argv with a deadline -> code, stdout lines | nil, why
local function run_bounded(argv, seconds)
  local p, err = proc.spawn(argv)
  if not p then return nil, tostring(err) end
  local timed_out = false
  local t = timer.at(seconds, function(premature)
    if not premature then timed_out = true p:kill("KILL") end
  end)
  local lines = {}
  for line in p:lines() do if #lines < 20 then lines[#lines + 1] = line end end
  local code = p:wait()
  t:cancel()
  if timed_out then return nil, ("still running after %g s"):format(seconds) end
  return code, lines, p:stderr()
end

local function last_line(s)
  s = tostring(s or ""):gsub("%s+$", "")
  return s:match("([^\n]*)$")
end

-- The download folder: created if missing, written to, then its free space
-- (df -P: POSIX columns, 1K blocks). One child process, the path an argument.
local PROBE_ROOT = 'mkdir -p -- "$1" && t="$1/.medianest-status.$$" && : > "$t" && rm -f -- "$t" && df -Pk -- "$1"'

function M.youtube(s, o)
  local name = "YouTube downloads"
  local ytdlp = s.options.ytdlp or "yt-dlp"
  local t0 = napp.hrtime()
  local code, out, errtext = run_bounded({ ytdlp, "--version" }, o.timeout)
  local ms = ms_since(t0)
  if not code then return result("youtube", name, "down", nil, "yt-dlp does not run: " .. tostring(out)) end
  if code ~= 0 then
    return result("youtube", name, "down", ms, ("yt-dlp --version exited with %d: %s"):format(code, last_line(errtext)))
  end
  if not s.options.root or s.options.root == "" then
    return result("youtube", name, "down", ms, "No download folder is set (services.youtube.root)")
  end
  local rcode, lines, rerr = run_bounded({ "sh", "-c", PROBE_ROOT, "sh", config.path(s.options.root) }, o.timeout)
  if not rcode then return result("youtube", name, "down", ms, "The download folder cannot be checked: " .. tostring(lines)) end
  if rcode ~= 0 then
    return result("youtube", name, "down", ms, "The download folder is not writable: " .. last_line(rerr))
  end
  local avail_kb = tonumber((lines[#lines] or ""):match("^%S+%s+%d+%s+%d+%s+(%d+)"))
  if avail_kb and avail_kb < o.min_free_mb * 1024 then
    return result("youtube", name, "degraded", ms,
      ("Low disk space: under %d MB free in the download folder"):format(o.min_free_mb))
  end
  return timed("youtube", name, ms, o)
end

-- Which services are configured, in dashboard order.
local ORDER = { "plex", "overseerr", "plextv", "youtube" }

local function configured(name)
  local s = services.get(name)
  if not s or not s.enabled then return nil end
  if name == "youtube" then return s end
  if not s.url or s.url == "" then return nil end
  return s
end

-- The checks to run this cycle: a list of { id, fn } (fn() -> result).
function M.plan(o)
  local list = {}
  for _, name in ipairs(ORDER) do
    local s = configured(name)
    if s then
      list[#list + 1] = { id = name, fn = function() return M[name](s, o) end }
    end
  end
  return list
end

return M
