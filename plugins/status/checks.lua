-- plugins/status/checks.lua — MediaNest's own checks of the services it is
-- configured with (nest.services): Plex, Overseerr, plex.tv and the YouTube
-- tool. They make the dashboard complete without Uptime Kuma.
--
--   checks.plan(opts) -> { {id, fn}, ... }   one per configured service;
--                                            fn() -> result (the poller runs them concurrently)
--   checks.plex(s, opts), .overseerr, .plextv, .youtube  one check (s = nest.services.get(name))
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
local services = require "nest.services"
local config = require "nest.config"
local proc = require "nest.proc"
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

-- Every call goes through services.fetch: only to the service's own origin,
-- no redirects, and private/loopback addresses only for a service on them.
local function get(s, url, headers, o, service)
  return services.fetch(s, url, { headers = headers, max_size = MAX_SIZE, service = "status_" .. service,
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

-- The first call every service answers without credentials: the service
-- is up (or slow) when it answers like itself (looks_right(json) is true).
-- -> result, or nil + the result to return (down)
local function reach(s, id, name, url, headers, o, looks_right)
  local t0 = napp.hrtime()
  local res, err = get(s, url, headers, o, id)
  local ms = ms_since(t0)
  if not res then return nil, result(id, name, "down", nil, name .. " unreachable: " .. reason(err, o.timeout)) end
  local path = url:match("^%a+://[^/]+(.*)$") or url
  if res.status ~= 200 then return nil, result(id, name, "down", ms, ("HTTP %d from %s"):format(res.status, path)) end
  if not looks_right(body_json(res) or {}) then
    return nil, result(id, name, "down", ms, ("The %s URL answers, but not like %s"):format(name, name))
  end
  return timed(id, name, ms, o)
end

-- Then one authenticated call proves MediaNest's credential still works:
-- 401/403 is the distinct "integration" state an admin acts on (c.fix says how).
-- c = { s, secret, integration, missing, refused, what, url, headers }
local function credential(r, c, o)
  if not c.secret or c.secret == "" then
    r.status, r.integration, r.message = "degraded", c.integration, c.missing
    return r
  end
  local res, err = get(c.s, c.url, c.headers, o, r.id)
  if res and (res.status == 401 or res.status == 403) then
    r.status, r.integration, r.message = "degraded", c.integration, c.refused:format(res.status)
  elseif not res then
    r.status, r.message = "degraded", c.what .. " does not answer: " .. reason(err, o.timeout)
  elseif res.status ~= 200 then
    r.status, r.message = "degraded", ("HTTP %d from %s"):format(res.status, c.what)
  end
  return r
end

---------------------------------------------------------------------------

function M.plex(s, o)
  local headers = { Accept = "application/json", ["X-Plex-Client-Identifier"] = CLIENT_ID }
  local r, down = reach(s, "plex", "Plex", base(s.url) .. "/identity", headers, o, function(v)
    return type(v.MediaContainer) == "table" and v.MediaContainer.machineIdentifier ~= nil
  end)
  if not r then return down end
  return credential(r, {
    s = s, secret = s.token, integration = "token_rejected", what = "Plex's library",
    missing = "No Plex token is set: sign in as the owner, or set it in Admin › Services",
    refused = "The Plex token was rejected (HTTP %d): sign in again as the owner, or update it in Admin › Services",
    url = base(s.url) .. "/library/sections",
    headers = { Accept = "application/json", ["X-Plex-Client-Identifier"] = CLIENT_ID, ["X-Plex-Token"] = s.token },
  }, o)
end

function M.overseerr(s, o)
  local api = base(s.url) .. "/api/v1"
  local r, down = reach(s, "overseerr", "Overseerr", api .. "/status", { Accept = "application/json" }, o,
    function(v) return v.version ~= nil end)
  if not r then return down end
  return credential(r, {
    s = s, secret = s.api_key, integration = "key_rejected", what = "Overseerr's API",
    missing = "No Overseerr API key is set: set it in Admin › Services",
    refused = "The Overseerr API key was rejected (HTTP %d): copy it from Overseerr's Settings › General "
              .. "into Admin › Services",
    url = api .. "/auth/me", headers = { Accept = "application/json", ["X-Api-Key"] = s.api_key },
  }, o)
end

function M.plextv(s, o)
  local name = "plex.tv"
  local t0 = napp.hrtime()
  local res, err = get(s, base(s.url) .. "/api/v2/ping", { Accept = "application/json",
    ["X-Plex-Client-Identifier"] = CLIENT_ID, ["X-Plex-Product"] = s.options.product or "MediaNest" }, o, "plextv")
  local ms = ms_since(t0)
  if not res then return result("plextv", name, "down", nil, "plex.tv unreachable: " .. reason(err, o.timeout)) end
  -- without a user's token plex.tv answers 401: reachable all the same
  if res.status ~= 200 and res.status ~= 401 then
    return result("plextv", name, "down", ms, ("HTTP %d from plex.tv"):format(res.status))
  end
  return timed("plextv", name, ms, o)
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
  local code, out, errtext = proc.run({ ytdlp, "--version" }, { timeout = o.timeout, max_lines = 5 })
  local ms = ms_since(t0)
  if not code then return result("youtube", name, "down", nil, "yt-dlp does not run: " .. tostring(out)) end
  if code ~= 0 then
    return result("youtube", name, "down", ms, ("yt-dlp --version exited with %d: %s"):format(code, last_line(errtext)))
  end
  if not s.options.root or s.options.root == "" then
    return result("youtube", name, "down", ms, "No download folder is set (services.youtube.root)")
  end
  local rcode, lines, rerr = proc.run({ "sh", "-c", PROBE_ROOT, "sh", config.path(s.options.root) },
                                       { timeout = o.timeout })
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
