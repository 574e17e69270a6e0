-- plugins/auth/guard.lua — bounds the database lookups that credentials we
-- do not know can cause. Every request carrying a session cookie or a
-- Bearer token costs one indexed query (sessions.resolve); a client
-- guessing tokens would make one per request on any route, public ones
-- included, before any rate limit ran.
--   * A credential that matched nothing is remembered (by its hash, in this
--     instance's L1) for UNKNOWN_TTL: sent again — a browser holding a
--     revoked cookie and polling — it is anonymous at once, no query. A
--     token cannot become valid later (a new session gets a new one), so
--     this changes no answer.
--   * Distinct unknown credentials count per client IP (per instance)
--     against rate_limits.auth_lookup; past it, that IP's credentials not seen
--     before are not looked up until the window lets them (429
--     RATE_LIMITED). Good credentials never count, and one that was good
--     within KNOWN_TTL is still looked up (a signed-in user behind the same
--     address as a guesser keeps working; revocation still applies at once).
--
--   guard.check(req, res, raw) -> "unknown" (known bad: anonymous, no lookup)
--                               | "blocked" (429 written) | nil (look it up)
--   guard.failed(req, raw)     -> a lookup found nothing: remember, count
--   guard.found(raw)           -> a lookup found a session: remember
local rl = require "nest.ratelimit"
local l1 = require "nest.core.cache"
local crypto = require "nest.crypto"
local napp = require "nest.core.app"

local M = { LIMIT = "auth_lookup", UNKNOWN_TTL = 60, KNOWN_TTL = 600 }

local function unknown_key(raw) return "auth:unknown:" .. crypto.sha256_hex(raw) end
local function known_key(raw) return "auth:known:" .. crypto.sha256_hex(raw) end
local function block_key(req) return "auth:lookup_blocked:" .. tostring(req.ip) end

-- The spec-only WebSocket test token (websocket.test_token, nil in
-- production) is another hook's credential, not a failed guess.
local function test_token(raw)
  local cfg = require("nest.config").get() or {}
  local t = cfg.websocket and cfg.websocket.test_token
  return type(t) == "string" and t ~= "" and raw == t
end

function M.check(req, res, raw)
  if l1.get(unknown_key(raw)) then return "unknown" end
  local until_ = l1.get(block_key(req))
  if not until_ or l1.get(known_key(raw)) then return nil end
  local retry = math.max(1, math.ceil(until_ - napp.now()))
  res:header("retry-after", tostring(retry))
  res:error(429, "RATE_LIMITED", "Too many unknown credentials from this address; retry in "
    .. retry .. " s", { limit = M.LIMIT }, retry)
  return "blocked"
end

function M.failed(req, raw)
  if test_token(raw) then return end
  l1.set(unknown_key(raw), 1, M.UNKNOWN_TTL)
  local l = rl.limit(M.LIMIT)
  if not l then return end                -- limit not configured: nothing to count against
  -- counted per instance (L1), like what it protects against is judged:
  -- each instance bounds the queries it makes
  local d = rl.check_local(M.LIMIT, "ip:" .. tostring(req.ip), l)
  -- that was the last one the window allows: look no new one up
  if not d.allowed or d.remaining == 0 then
    local wait = d.retry_after or d.reset
    l1.set(block_key(req), napp.now() + wait, wait)
  end
end

function M.found(raw)
  l1.set(known_key(raw), 1, M.KNOWN_TTL)
end

return M
