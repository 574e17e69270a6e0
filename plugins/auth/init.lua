-- plugins/auth/init.lua — sign-in with Plex, sessions, API tokens, CSRF and
-- the setup link (docs/auth.md).
--
-- The before hook (priority 2000: before the rate limiter and every other
-- hook) turns a session cookie or an `Authorization: Bearer` API token into
-- req.user = {id, username, email, thumb, role} (and req.auth = {session_id,
-- kind, via}); the framework's route guard then enforces auth = "user" /
-- "admin". Cookie-authenticated unsafe methods must carry X-CSRF-Token equal
-- to the session's token; Bearer requests need not (nor routes declared with
-- opts.csrf = false, e.g. a sendBeacon endpoint that cannot set headers and
-- changes nothing of the user's). A token is looked up in PostgreSQL (one
-- indexed query) and the answer kept for auth.cache_seconds (at most 5;
-- nest.authcache): a revoked token, a disabled or demoted user or a logout
-- takes effect at once on this instance, within a second on every other one
-- (Redis pub/sub, `medianest user ...` included), and within cache_seconds
-- when Redis is absent. Lookups that find nothing are never cached; they are
-- remembered and bounded per client IP instead (plugins/auth/guard.lua,
-- rate_limits.auth_lookup).
local crypto = require "nest.crypto"
local json = require "nest.json"
local config = require "nest.config"
local errors = require "nest.errors"
local log = require "nest.log"
local authcache = require "nest.authcache"
local sessions = require "plugins.auth.sessions"
local users = require "plugins.auth.users"
local setup = require "plugins.auth.setup"
local pins = require "plugins.auth.pins"
local cookies = require "plugins.auth.cookies"
local guard = require "plugins.auth.guard"

local plugin = { name = "auth", version = "1.0.0", priority = 2000,
                 description = "Plex sign-in, sessions, API tokens, CSRF, setup link" }

local SAFE = { GET = true, HEAD = true, OPTIONS = true }

local function auth_cfg() return (config.get() or {}).auth or {} end

local function resolve(raw, kind, route)
  if route.auth == "public" then
    -- a public route (health, the demo upstreams...) still answers when the
    -- database is down: the visitor is then simply anonymous
    local ok, info = pcall(sessions.resolve, raw, kind)
    if ok then return info, true end
    return nil, false
  end
  return sessions.resolve(raw, kind), true
end

-- -> info | nil (anonymous) | false (429 written: look nothing more up)
local function lookup(req, res, raw, kind, route)
  local seen = guard.check(req, res, raw)
  if seen == "blocked" then return false end
  if seen == "unknown" then return nil end
  local info, answered = resolve(raw, kind, route)
  if info then guard.found(raw)
  elseif answered then guard.failed(req, raw) end
  return info
end

-- The credential a request carries: raw, kind, via (nil when none).
local function credential(req, route)
  local raw = req:bearer()
  -- other schemes (the /metrics token...) are left to their routes
  if raw then return raw, "api", "bearer" end
  if route.opts.query_token then
    -- a route for non-browser clients (/ws) may take an API token as ?token=
    -- (the access log never records query strings)
    raw = req:query_params().token
    if raw and raw ~= "" then return raw, "api", "query" end
  end
  raw = req:cookie(cookies.session_name())
  if raw and raw ~= "" then return raw, "session", "cookie" end
end

function plugin.before(req, res, route)
  local raw, kind, via = credential(req, route)
  if not raw then return end
  local info = lookup(req, res, raw, kind, route)
  if via == "query" and info == nil then
    -- an unknown ?token= may be another hook's (websocket.test_token): a
    -- session cookie may still sign the request in
    raw = req:cookie(cookies.session_name())
    if not raw or raw == "" then return end
    via, info = "cookie", lookup(req, res, raw, "session", route)
  elseif via == "query" and info then
    via = "bearer"
  end
  if not info then return end
  if info.stale then
    local ok, err = pcall(sessions.touch, info, auth_cfg().session_days)
    if not ok then log.warn("session refresh failed", { error = tostring(err) })
    elseif via == "cookie" then cookies.set_session(res, raw) end   -- the cookie slides too
  end
  req.user = users.public(info)
  req.auth = { session_id = info.session_id, kind = info.kind, via = via, csrf_token = info.csrf_token }
  if via == "cookie" and not SAFE[req.method] and route.opts.csrf ~= false then
    local sent = req.headers["x-csrf-token"]
    if type(sent) ~= "string" or info.csrf_token == json.null or not crypto.equal(sent, info.csrf_token) then
      return res:error(403, "CSRF_FAILED", "Missing or wrong X-CSRF-Token header")
    end
  end
end

local function session(req, res)
  if not req.user then return res:error(401, "UNAUTHENTICATED", "Sign in first") end
  res:header("cache-control", "no-store")
  local csrf = req.auth.via == "cookie" and req.auth.csrf_token or json.null
  return res:json({ user = req.user, csrfToken = csrf })
end

local function logout(req, res)
  if req.auth and req.auth.via == "cookie" then sessions.revoke(req.auth.session_id) end
  cookies.clear(res, cookies.session_name())
  return res:status(204)
end

local function token_view(r)
  return { id = r.id, name = r.name, createdAt = r.created_at,
           lastUsedAt = r.last_used_at ~= json.null and r.last_used_at or json.null }
end

local function list_tokens(req, res)
  local out = json.array()
  for _, r in ipairs(sessions.list_api(req.user.id)) do out[#out + 1] = token_view(r) end
  return res:json({ tokens = out })
end

local function create_token(req, res)
  local body = req:json()
  local name = type(body) == "table" and body.name
  if type(name) ~= "string" or name:match("^%s*$") or #name > 100 then
    errors.raise(400, "VALIDATION_ERROR", "name is required (1 to 100 characters)", { field = "name" })
  end
  local raw, row = sessions.create_api(req.user.id, name)
  res:header("cache-control", "no-store")
  return res:json({ id = row.id, name = row.name, token = raw, createdAt = row.created_at }, 201)
end

local function delete_token(req, res)
  local id = req:param_int("id")
  if not sessions.revoke_api(req.user.id, id) then return res:error(404, "NOT_FOUND", "No such token") end
  return res:status(204)
end

local function setup_status(_, res)
  res:header("cache-control", "no-store")
  return res:json({ setupRequired = setup.required() })
end

function plugin.routes(r)
  local public = { auth = "public" }
  r:post("/auth/plex/pin", { auth = "public", rate = "auth", body_limit = 4096 }, pins.create)
  -- polled once a second while the user is on plex.tv: its own limit, not api's
  r:get("/auth/plex/pin/{id}", { auth = "public", rate = "auth_poll", api_rate = false }, pins.poll)
  r:get("/auth/session", public, session)
  -- the web UI posts {} here: a small body is fine, more is not
  r:post("/auth/logout", { auth = "public", body_limit = 1024 }, logout)
  r:get("/auth/tokens", { auth = "user" }, list_tokens)
  r:post("/auth/tokens", { auth = "user", body_limit = 4096 }, create_token)
  r:delete("/auth/tokens/{id}", { auth = "user" }, delete_token)
  r:get("/setup", public, setup_status)
end

-- Hourly: forget finished PINs and long-dead sessions and setup links
-- (revoked API tokens stay, for the record of a user's tokens).
local function purge(premature)
  if premature then return end
  local ok, err = pcall(function()
    users.q("DELETE FROM plex_pins WHERE expires_at < now() - interval '1 day'")
    users.q("DELETE FROM session_tokens WHERE kind = 'session' AND (expires_at < now() - interval '7 days' "
      .. "OR revoked_at < now() - interval '7 days')")
    users.q("DELETE FROM setup_tokens WHERE used_at IS NULL AND expires_at < now() - interval '7 days'")
  end)
  if not ok then log.warn("auth purge failed", { error = tostring(err) }) end
end

function plugin.init()
  require("nest.timer").every(3600, purge)
  authcache.configure({ seconds = auth_cfg().cache_seconds })
  local ok, err = authcache.start()
  if not ok and err ~= "not configured" then
    log.warn("auth revocations from other instances arrive only by expiry", { error = tostring(err) })
  end
end

function plugin.destroy() authcache.stop() end

-- `serve`: while no user exists, print the one-time setup link.
function plugin.on_listening(app, port)
  setup.announce(app.config, port)
end

return plugin
