-- plugins/auth/guard.lua — bounds the database lookups that credentials we
-- do not know can cause. Every request carrying a session cookie or a
-- Bearer token costs one indexed query (sessions.resolve); a client
-- guessing tokens, or one stuck on a revoked cookie, would make one per
-- request on any route, public ones included, before any rate limit ran.
-- Failed lookups count per client IP against rate_limits.auth_lookup;
-- over it, that IP's credentials are not looked up until the window lets
-- it (its requests answer 429 RATE_LIMITED). A client whose credentials
-- are good never counts.
--
--   guard.blocked(req, res) -> true when 429 was written (look nothing up)
--   guard.failed(req)       -> count a lookup that found nothing
--   guard.test_token(raw)   -> true for websocket.test_token (never counted)
local rl = require "nest.ratelimit"
local l1 = require "nest.core.cache"

local M = { LIMIT = "auth_lookup" }

local function block_key(req) return "auth:lookup_blocked:" .. tostring(req.ip) end

function M.blocked(req, res)
  local until_ = l1.get(block_key(req))
  if not until_ then return false end
  local retry = math.max(1, math.ceil(until_ - require("nest.core.app").now()))
  res:header("retry-after", tostring(retry))
  res:error(429, "RATE_LIMITED", "Too many unknown credentials from this address; retry in "
    .. retry .. " s", { limit = M.LIMIT }, retry)
  return true
end

function M.failed(req)
  local l = rl.limit(M.LIMIT)
  if not l then return end                -- limit not configured: nothing to bound with
  local d = rl.check(M.LIMIT, "ip:" .. tostring(req.ip), l)
  -- this was the last one the window allows: look nothing more up
  if not d.allowed or d.remaining == 0 then
    local wait = d.retry_after or d.reset
    l1.set(block_key(req), require("nest.core.app").now() + wait, wait)
  end
end

-- The spec-only WebSocket test token (websocket.test_token, nil in
-- production) is another hook's credential, not a failed guess.
function M.test_token(raw)
  local cfg = require("nest.config").get() or {}
  local t = cfg.websocket and cfg.websocket.test_token
  return type(t) == "string" and t ~= "" and raw == t
end

return M
