-- plugins/auth/pins.lua — the Plex PIN sign-in (docs/auth.md#the-flow, external-apis.md).
--
--   POST /auth/plex/pin {setupToken?, returnTo?} -> 201 {id, code, authUrl, expiresIn}
--        + an HttpOnly nonce cookie that binds the PIN to this browser.
--   GET  /auth/plex/pin/{id} -> {"status":"waiting"|"expired"} |
--        {"status":"approved", user, csrfToken, returnTo} + the session cookie |
--        403 NO_SERVER_ACCESS / SETUP_REQUIRED / USER_DISABLED | 404 | 502 PLEX_UNREACHABLE
--
-- PINs live in plex_pins (any instance may answer a poll). The id we hand
-- out is our row id; a poll whose nonce cookie does not match answers 404,
-- as an unknown id does. plex.tv is asked at most once per
-- auth.pin_poll_interval per PIN whatever the browsers do: the answer is
-- memoised in nest.cache under the PIN, and concurrent polls share one
-- upstream call (cache.fetch single-flight). The memo holds only a status
-- word; the outcome itself (user, refusal) is written to the PIN's row by
-- the one poll that saw plex.tv's token, and every poll reads the row.
local db = require "nest.db"
local json = require "nest.json"
local crypto = require "nest.crypto"
local cache = require "nest.cache"
local config = require "nest.config"
local log = require "nest.log"
local errors = require "nest.errors"
local plextv = require "plugins.auth.plextv"
local users = require "plugins.auth.users"
local sessions = require "plugins.auth.sessions"
local setup = require "plugins.auth.setup"
local cookies = require "plugins.auth.cookies"

local M = {}

local q = users.q
local null = json.null

M.NONCE_COOKIE = "mn_pin"

local MESSAGES = {
  NO_SERVER_ACCESS = "Your Plex account has no access to this Plex server. Ask its owner to share "
    .. "the server with you, then sign in again.",
  SETUP_REQUIRED = "MediaNest is not set up yet: open the setup link that `medianest serve` printed "
    .. "(or ask the person who installed it) and sign in from there.",
  USER_DISABLED = "This account is disabled; ask an administrator.",
  PLEX_UNAUTHORIZED = "Plex did not accept the sign-in; try again.",
}
M.MESSAGES = MESSAGES

local function auth_cfg() return (config.get() or {}).auth or {} end

-- "/path" or "/path?x" only: no scheme, no "//host", no backslash tricks.
local function safe_return_to(v)
  if type(v) ~= "string" or #v > 2000 then return nil end
  if v == "/" or v:match("^/[^/\\]") and not v:find("[%c\\]") then return v end
  return nil
end

local function unreachable(res, err)
  log.warn("plex sign-in: upstream failed", { error = tostring(err) })
  return res:error(502, "PLEX_UNREACHABLE", "Plex could not be reached; try again in a moment")
end

function M.create(req, res)
  local body = (req.body and req.body ~= "") and req:json() or {}
  if type(body) ~= "table" then errors.raise(400, "VALIDATION_ERROR", "body must be a JSON object") end
  local setup_id
  if body.setupToken ~= nil and body.setupToken ~= null then
    if type(body.setupToken) ~= "string" then
      errors.raise(400, "VALIDATION_ERROR", "setupToken must be a string", { field = "setupToken" })
    end
    setup_id = setup.find(body.setupToken)
  end
  if not setup_id and setup.required() then
    local msg = body.setupToken and ("This setup link is invalid, used or expired. Restart "
      .. "`medianest serve` to print a new one.") or MESSAGES.SETUP_REQUIRED
    return res:error(403, "SETUP_REQUIRED", msg)
  end
  local pin, err = plextv.create_pin()
  if not pin then return unreachable(res, err) end
  local nonce = crypto.token(32)
  local ttl = math.max(1, pin.expiresIn)
  local row = q("INSERT INTO plex_pins (plex_pin_id, code, nonce_hash, expires_at, return_to, setup_token_id) "
    .. "VALUES ($1, $2, decode($3, 'hex'), now() + make_interval(secs => $4), $5, $6) RETURNING id",
    pin.id, pin.code, crypto.sha256_hex(nonce), ttl, safe_return_to(body.returnTo) or null,
    setup_id or null)[1]
  cookies.set(res, M.NONCE_COOKIE, nonce, { max_age = ttl, path = "/api" })
  res:header("cache-control", "no-store")
  return res:json({ id = row.id, code = pin.code, authUrl = plextv.auth_url(pin.code),
                    expiresIn = ttl }, 201)
end

local ROW = "SELECT id, plex_pin_id, nonce_hash, status, user_id, error, expires_at > now() AS live, "
  .. "setup_token_id, session_id, session_claimed_at, return_to FROM plex_pins WHERE id = $1"

local function deny(row, code)
  q("UPDATE plex_pins SET status = 'denied', error = $2 WHERE id = $1 AND status = 'pending'", row.id, code)
end

-- plex.tv has approved: who is it, may they use this server, who are they here.
-- -> "done" (the row says what happened) | nil, err (try again next poll)
local function complete(row, token)
  local account, err = plextv.user(token)
  if not account then
    if err == "unauthorized" then deny(row, "PLEX_UNAUTHORIZED") return "done" end
    return nil, err
  end
  local mid, merr = plextv.machine_id()
  if not mid then return nil, merr end
  local list, rerr = plextv.resources(token)
  if not list then
    if rerr == "unauthorized" then deny(row, "PLEX_UNAUTHORIZED") return "done" end
    return nil, rerr
  end
  local dev = plextv.server_device(list, mid)
  if not dev then
    log.info("plex sign-in refused: no access to the server", { plexUser = account.username })
    deny(row, "NO_SERVER_ACCESS")
    return "done"
  end
  local server_token = type(dev.accessToken) == "string" and dev.accessToken or nil
  local user, code, msg = users.sign_in(account, token, server_token,
    { setup_token_id = row.setup_token_id ~= null and row.setup_token_id or nil })
  if not user then
    if MESSAGES[code] then deny(row, code) return "done" end
    return nil, msg or code
  end
  q("UPDATE plex_pins SET status = 'completed', user_id = $2, completed_at = now() "
    .. "WHERE id = $1 AND status = 'pending'", row.id, user.id)
  log.info("plex sign-in", { userId = user.id, username = user.username, role = user.role })
  return "done"
end

-- One look at plex.tv for this PIN (run at most once per interval).
local function poll_upstream(row)
  local pin, err = plextv.get_pin(row.plex_pin_id)
  if not pin then
    if err == "not_found" then
      q("UPDATE plex_pins SET status = 'expired' WHERE id = $1 AND status = 'pending'", row.id)
      return "expired"
    end
    return nil, err
  end
  if not pin.authToken then return "waiting" end
  return complete(row, pin.authToken)
end

local function approved(res, row, user_row, csrf)
  res:header("cache-control", "no-store")
  return res:json({ status = "approved", user = users.public(user_row), csrfToken = csrf,
                    returnTo = row.return_to ~= null and row.return_to or null })
end

-- The completed PIN's session: made once, by the poll that claims it.
local function issue(req, res, row)
  local claimed = q("UPDATE plex_pins SET session_claimed_at = now() WHERE id = $1 "
    .. "AND session_claimed_at IS NULL RETURNING user_id", row.id)[1]
  local user_row = users.by_id(row.user_id)
  if not user_row or user_row.disabled_at ~= null then
    return res:error(403, "USER_DISABLED", MESSAGES.USER_DISABLED)
  end
  if claimed then
    -- session ids rotate at sign-in: whatever session this browser had ends
    if req.auth and req.auth.kind == "session" then sessions.revoke(req.auth.session_id) end
    local days = auth_cfg().session_days or 30
    local raw, s = sessions.create_session(row.user_id, days)
    q("UPDATE plex_pins SET session_id = $2 WHERE id = $1", row.id, s.id)
    cookies.set_session(res, raw)
    cookies.clear(res, M.NONCE_COOKIE, "/api")
    return approved(res, row, user_row, s.csrf_token)
  end
  if row.session_id == null then return res:json({ status = "waiting" }) end  -- being issued right now
  local s = q("SELECT csrf_token FROM session_tokens WHERE id = $1 AND revoked_at IS NULL "
    .. "AND expires_at > now()", row.session_id)[1]
  if not s then return res:error(404, "NOT_FOUND", "Unknown or finished sign-in") end
  return approved(res, row, user_row, s.csrf_token)
end

function M.poll(req, res)
  local id = req:param_int("id")
  local row = q(ROW, id)[1]
  local nonce = req:cookie(M.NONCE_COOKIE)
  -- another browser, knowing only the id, learns nothing: same answer as unknown
  if not row or not nonce or not crypto.equal(crypto.sha256(nonce), row.nonce_hash) then
    return res:error(404, "NOT_FOUND", "Unknown or expired sign-in")
  end
  if row.status == "pending" then
    if not row.live then
      q("UPDATE plex_pins SET status = 'expired' WHERE id = $1 AND status = 'pending'", row.id)
      return res:json({ status = "expired" })
    end
    local interval = auth_cfg().pin_poll_interval or 1
    -- a failure is memoised too (as "error:..."), so a plex.tv or Plex server
    -- that is down is not asked more often than one that answers
    local v, err = cache.fetch(("auth:pinpoll:%d:%d"):format(row.id, row.plex_pin_id),
      { ttl = interval }, function()
        local ok, out, perr = pcall(poll_upstream, row)
        if not ok then return nil, out end                  -- our database: not memoised
        if not out then return "error:" .. tostring(perr) end
        return out
      end)
    if not v then error(err, 0) end
    if v:sub(1, 6) == "error:" then return unreachable(res, v:sub(7)) end
    row = q(ROW, id)[1]
  end
  if row.status == "pending" then return res:json({ status = "waiting" }) end
  if row.status == "expired" then return res:json({ status = "expired" }) end
  if row.status == "denied" then
    local code = row.error ~= null and row.error or "NO_SERVER_ACCESS"
    return res:error(403, code, MESSAGES[code] or "Sign-in refused")
  end
  return issue(req, res, row)
end

return M
