-- spec/helpers_auth.lua — signing in from specs, through the real Plex PIN
-- flow against the demo upstreams (plugins/demo-upstreams).
--
--   local h = require "spec.helpers"
--   local ha = require "spec.helpers_auth"
--   local up = h.start({ plugins = { "demo-upstreams" } })             -- the fakes
--   local app = h.start({ plugins = { "health", "auth", ... }, config = ha.config(up) })
--   local c = ha.sign_in(app, up, "owner")      -- or ha.sign_in(app, "owner") when app
--                                               -- serves demo-upstreams itself
--   c:get("/api/v1/auth/session")               -- cookie sent; c.headers carries X-CSRF-Token
--   c.user, c.csrf                              -- {id, username, email, thumb, role}, the token
--   local tok = ha.api_token(app, c, "script")  -- a personal API token (Bearer)
--   ha.bearer(app, tok):get("/api/v1/...")      -- a client sending Authorization: Bearer
--   ha.set_role("owner", "admin")               -- straight in the database
--
-- Demo users: "owner" (owns the demo server), "friend" (shared), "stranger"
-- (no access: sign_in raises; use start_pin/approve/poll to see the refusal).
-- Specs share one database: the demo users are the same rows in every spec.
-- A spec that disables or demotes one must put it back (ha.enable(name),
-- ha.set_role(name, role)).
--
-- When no user exists yet (a fresh database), sign_in makes a setup token
-- in the database and signs in through it, so that user becomes admin.
local h = require "spec.helpers"
local db = require "nest.db"
local crypto = require "nest.crypto"

local ha = {}

local PIN = "/api/v1/auth/plex/pin"

-- Config overrides for an app with the auth plugin talking to the fakes of
-- `up` (an h.start app with demo-upstreams). The auth, auth_poll and api
-- rate limits are raised: specs sign in (and poll, and call the API
-- anonymously) far more often than a person does, all from 127.0.0.1.
function ha.config(up, extra)
  local cfg = {
    services = {
      plextv = { url = up:url("/demo/plextv"), app_url = up:url("/demo/plextv/auth") },
      plex = { url = up:url("/demo/plex"), token = "demo-token-owner" },
    },
    rate_limits = { auth = { limit = 100000, window = 60, by = "ip" },
                    auth_poll = { limit = 100000, window = 60, by = "ip" },
                    api = { limit = 100000, window = 60 } },
  }
  for k, v in pairs(extra or {}) do
    if k == "rate_limits" then
      for name, l in pairs(v) do cfg.rate_limits[name] = l end   -- a spec's own limits, over these
    else
      cfg[k] = v
    end
  end
  return cfg
end

-- A fresh setup token (raw), valid for ttl seconds, written to the database.
function ha.setup_token(ttl)
  local raw = crypto.token(32)
  assert(db.query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES (decode($1, 'hex'), "
    .. "now() + make_interval(secs => $2))", crypto.sha256_hex(raw), ttl or 3600))
  return raw
end

-- Step 1: POST /auth/plex/pin from client c. -> res (201: res.json = {id, code, authUrl, expiresIn})
function ha.start_pin(c, body)
  return c:post(PIN, body or {})
end

-- Step 2: the user approves on the (fake) plex.tv page, as `who`.
function ha.approve(up, code, who)
  local r = up:client():post("/demo/plextv/auth/approve", { code = code, user = who or "owner" })
  assert(r and r.status == 204, "approve on the demo plex.tv failed: " .. tostring(r and r.status)
    .. " " .. tostring(r and r.body))
end

-- Step 3: poll until the answer is no longer "waiting". -> the final res
function ha.poll(c, id, timeout)
  local final
  h.wait_until(function()
    local r = c:get(PIN .. "/" .. ha.id(id))
    if r and r.status == 200 and r.json and r.json.status == "waiting" then return false end
    final = r
    return true
  end, timeout or 10, 0.05, "the PIN to be approved")
  return final
end

-- A JSON id (the spec client's decoder gives floats) as path text.
function ha.id(v) return ("%d"):format(math.tointeger(v) or error("not an integer id: " .. tostring(v))) end

local function upstream(up, who)
  if type(up) == "string" or up == nil then return nil, up end
  return up, who
end

-- sign_in(app, [up,] who) -> client holding the session cookie, with
-- X-CSRF-Token as a default header, .user and .csrf set.
function ha.sign_in(app, up, who)
  local u, name = upstream(up, who)
  u = u or app
  name = name or "owner"
  local c = app:client()
  local r = ha.start_pin(c, {})
  if r.status == 403 and r.json and r.json.error.code == "SETUP_REQUIRED" then
    r = ha.start_pin(c, { setupToken = ha.setup_token() })
  end
  assert(r.status == 201, "POST /auth/plex/pin: " .. tostring(r.status) .. " " .. tostring(r.body))
  ha.approve(u, r.json.code, name)
  local done = ha.poll(c, r.json.id)
  assert(done.status == 200 and done.json.status == "approved",
    "sign-in of " .. name .. " failed: " .. tostring(done.status) .. " " .. tostring(done.body))
  c.user, c.csrf = done.json.user, done.json.csrfToken
  c.headers["X-CSRF-Token"] = c.csrf
  return c
end

-- A personal API token made by the signed-in client c.
function ha.api_token(app, c, name)
  local _ = app
  local r = c:post("/api/v1/auth/tokens", { name = name or "spec token" })
  assert(r.status == 201, "POST /auth/tokens: " .. tostring(r.status) .. " " .. tostring(r.body))
  return r.json.token, math.tointeger(r.json.id)
end

-- A client sending Authorization: Bearer <token> (and no cookies).
function ha.bearer(app, token)
  local c = app:client()
  c.headers.Authorization = "Bearer " .. token
  return c
end

function ha.set_role(username, role)
  assert(db.query("UPDATE users SET role = $2 WHERE lower(username) = lower($1)", username, role))
end

function ha.enable(username)
  assert(db.query("UPDATE users SET disabled_at = NULL WHERE lower(username) = lower($1)", username))
end

return ha
