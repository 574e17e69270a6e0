-- plugins/requests/overseerr.lua — the HTTP client for Overseerr's API v1
-- (../shared/reference/overseerr-api.yml): key, acting user, timeouts, and
-- Overseerr's answers turned into values the routes can report.
--
--   local o = require "plugins.requests.overseerr"
--   local body, err = o.call("GET", "/search", { query = {query = "a+b", page = 1} })
--   local body, err = o.call("POST", "/request", { json = {...}, as = 2 })  -- X-API-User: 2
--   err = { status = 503, code = "OVERSEERR_UNAVAILABLE", message } (down, not
--         configured, circuit open) | { status = <Overseerr's>, upstream = true,
--         message = <Overseerr's message>, body }
--
-- The API key comes from nest.services on every call (an admin's change
-- applies at once) and never leaves this file: it is not logged and errors
-- carry only Overseerr's own messages. Queries are percent-encoded with
-- fetch.encode_uri_component, which also encodes ! ' ( ) * — Overseerr
-- refuses any reserved character left raw (400 "must be url encoded").
local fetch = require "nest.fetch"
local services = require "nest.services"
local breaker = require "nest.breaker"

local M = {}

local DEFAULT_TIMEOUT = 5

local function unavailable(message)
  return nil, { status = 503, code = "OVERSEERR_UNAVAILABLE", message = message }
end

-- The service's settings, or nil + err when it cannot be used.
function M.service()
  local s = services.get("overseerr")
  if not s or not s.enabled or not s.url or s.url == "" then
    return unavailable("Overseerr is not configured; an admin sets it up in Admin › Services")
  end
  return s
end

local function url_of(s, path, query)
  local url = s.url:gsub("/+$", "") .. "/api/v1" .. path
  if query then
    local q = fetch.encode_query(query)
    if q ~= "" then url = url .. "?" .. q end
  end
  return url
end

local function message_of(res)
  local body = res:json()
  if type(body) == "table" then
    return body.message or body.error, body
  end
  return nil, nil
end

local cb = breaker.new("overseerr", { timeout = DEFAULT_TIMEOUT + 1 })

-- One call. opts: query, json, as (Overseerr user id for X-API-User), timeout.
function M.call(method, path, opts)
  opts = opts or {}
  local s, err = M.service()
  if not s then return nil, err end
  local headers = { ["X-Api-Key"] = s.api_key or "", Accept = "application/json" }
  if opts.as then headers["X-API-User"] = tostring(opts.as) end
  local timeout = tonumber(s.options and s.options.timeout) or DEFAULT_TIMEOUT
  local res, ferr = cb:call(function()
    local r, e = fetch(url_of(s, path, opts.query), { method = method, headers = headers, json = opts.json,
      timeout = { connect = math.min(2, timeout), total = timeout }, max_size = 4 * 1024 * 1024,
      service = "overseerr" })
    if r and r.status >= 500 then return nil, "status " .. r.status end
    return r, e
  end)
  if not res then
    if type(ferr) == "table" and ferr.code == "CIRCUIT_OPEN" then
      return unavailable("Overseerr is not answering; try again in a minute")
    end
    return unavailable("Overseerr is unreachable (" .. tostring(ferr) .. ")")
  end
  if res.status == 204 then return true end
  if res.status >= 200 and res.status < 300 and res.status ~= 202 then
    local body = res:json()
    if body == nil then return unavailable("Overseerr answered something that is not JSON") end
    return body
  end
  local msg, body = message_of(res)
  return nil, { status = res.status, upstream = true, message = msg or ("Overseerr answered " .. res.status),
                body = body }
end

return M
