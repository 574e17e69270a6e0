-- plugins/library/plex.lua — calls to the Plex Media Server as one user.
--
-- Every call carries the user's own server token (the accessToken of the
-- access check at sign-in, sealed in users.server_token_enc), never the
-- owner's, so Plex's sharing rules decide what the user sees. The plaintext
-- token is memoised in this instance's L1 only (never Redis) for a minute.
--
--   token(user_id)             -> token | nil, err{code = "PLEX_REAUTH_REQUIRED"}
--   get(token, path, query)    -> res{status, json} | nil, err{code, message}
--   forget_token(user_id)      drop the memo (after Plex refused the token)
--
-- Only transport failures, 5xx and an open circuit are errors
-- (code "PLEX_UNAVAILABLE"): they go through the "plex" circuit breaker. A
-- 401 or 404 is an answer, returned as res (status set), and counts as a
-- success for the breaker: Plex is up, it said no.
local breaker = require "nest.breaker"
local services = require "nest.services"
local l1 = require "nest.core.cache"
local users = require "plugins.auth.users"
local plextv = require "plugins.auth.plextv"

local M = {}

local TOKEN_TTL = 60
local TIMEOUT = { connect = 2, total = 8 }
local RESET = 30
local MAX_BODY = 16 * 1024 * 1024

local function token_key(user_id) return "library:token:u" .. tostring(user_id) end

local function reauth()
  return nil, { code = "PLEX_REAUTH_REQUIRED",
                message = "Plex no longer accepts your sign-in: sign in again to browse the library" }
end
M.reauth = reauth

function M.token(user_id)
  local key = token_key(user_id)
  local t = l1.get(key)
  if t then return t end
  t = users.server_token(user_id)
  if not t then return reauth() end
  l1.set(key, t, TOKEN_TTL)
  return t
end

function M.forget_token(user_id) l1.delete(token_key(user_id)) end

M.NOT_CONFIGURED = "Plex is not configured"

function M.unavailable(message)
  return nil, { code = "PLEX_UNAVAILABLE", message = message or "Plex is not answering right now" }
end

-- The plugin's settings: timeout (s, a call's total), breaker_reset (s an
-- open circuit waits before one trial call).
local the_breaker
function M.configure(conf)
  TIMEOUT = { connect = math.min(2, conf.timeout), total = conf.timeout }
  RESET = conf.breaker_reset
  the_breaker = nil
end

local function plex_breaker()
  the_breaker = the_breaker or breaker.new("plex", { timeout = TIMEOUT.total, reset_timeout = RESET })
  return the_breaker
end

local function base()
  local s = services.get("plex")
  if not s or s.enabled == false or not s.url then return nil end
  return (s.url:gsub("/+$", "")), s
end
M.base = base

local function headers(token, accept)
  return {
    Accept = accept or "application/json",
    ["X-Plex-Token"] = token,
    ["X-Plex-Client-Identifier"] = plextv.client_id() or "medianest",
    ["X-Plex-Product"] = "MediaNest",
  }
end

-- One GET through the breaker. opts: {accept, max_size, timeout}.
function M.get(token, path, query, opts)
  opts = opts or {}
  local url, s = base()
  if not url then return M.unavailable(M.NOT_CONFIGURED) end
  local res, err = plex_breaker():call(function()
    -- services.fetch: the user's token goes to the configured Plex only
    local r, e = services.fetch(s, url .. path, { headers = headers(token, opts.accept), query = query,
      timeout = opts.timeout or TIMEOUT, max_size = opts.max_size or MAX_BODY, service = "plex" })
    if not r then return M.unavailable("Plex did not answer: " .. tostring(e)) end
    if r.status >= 500 then return M.unavailable(("Plex answered HTTP %d"):format(r.status)) end
    return r
  end)
  if not res then
    if type(err) == "table" and err.code == "CIRCUIT_OPEN" then
      return M.unavailable("Plex has been failing: calls are paused for a moment")
    end
    return nil, err
  end
  if res.status == 200 and not opts.accept then
    local body = res:json()
    res.body_json = type(body) == "table" and body or nil
  end
  return res
end

-- A JSON GET that must answer 200: -> MediaContainer | nil (404 or 401 for a
-- resource the user may not see) , status | nil, err
function M.container(token, path, query)
  local res, err = M.get(token, path, query)
  if not res then return nil, err end
  if res.status == 200 then
    local mc = res.body_json and res.body_json.MediaContainer
    if type(mc) ~= "table" then return M.unavailable("Plex answered something that is not a MediaContainer") end
    return mc, 200
  end
  if res.status == 401 or res.status == 403 or res.status == 404 or res.status == 400 then
    return nil, res.status
  end
  return M.unavailable(("Plex answered HTTP %d"):format(res.status))
end

return M
