-- spec/integration/authcache_spec.lua — signed-in requests answered from
-- the auth cache (nest.authcache), and every way of revoking access taking
-- effect: on two instances in this process sharing PostgreSQL and Redis
-- within 1 s (logout, token delete, the admin API, `medianest user ...`),
-- and without Redis within the cache's bound (5 s at most).
local h = require "spec.helpers"
local db = require "nest.db"
local crypto = require "nest.crypto"
local proc = require "nest.proc"
local napp = require "nest.core.app"

local REDIS_URL = os.getenv("REDIS_URL")
local SESSION = "/api/v1/auth/session"

local function start(extra)
  local cfg = { plugins = { enabled = { "health", "auth", "admin" } } }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return h.start({ config = cfg })
end

local function make_user(role)
  local name = "ac-" .. crypto.hex(crypto.random(5))
  return assert(db.query("INSERT INTO users (username, role) VALUES ($1, $2) RETURNING id, username",
    name, role or "user"))[1]
end

-- -> raw token, row id (kind "api" or "session"; a session gets a CSRF token)
local function make_token(user_id, kind)
  local raw = crypto.token(32)
  local row = assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, csrf_token,
      expires_at, last_used_at) VALUES ($1, decode($2, 'hex'), $3, $4, $5, now() + interval '1 day', now())
      RETURNING id, csrf_token]], user_id, crypto.sha256_hex(raw), kind,
    kind == "api" and "spec" or db.null, kind == "session" and crypto.token(16) or db.null))[1]
  return raw, row.id, row.csrf_token
end

local function bearer(app, raw)
  local c = app:client()
  c.headers.Authorization = "Bearer " .. raw
  return c
end

local function status(c) return c:get(SESSION).status end

-- wait until c's session answer satisfies pred; -> seconds it took
local function within(seconds, c, pred, what)
  local t0 = napp.now()
  h.wait_until(function() return pred(c:get(SESSION)) end, seconds, 0.02, what)
  return napp.now() - t0
end
local function refused(r) return r.status == 401 end

local function medianest(...)
  local p = assert(proc.spawn({ h.bin(), ... }, { env = {
    DATABASE_URL = os.getenv("DATABASE_URL"), REDIS_URL = REDIS_URL, MEDIANEST_ROOT = h.root,
    PATH = os.getenv("PATH") } }))
  for _ in p:lines() do end
  local code = p:wait()
  return code, p:stderr()
end

describe("auth cache across two instances sharing Redis", function()
  local a, b

  setup(function()
    assert(REDIS_URL and REDIS_URL ~= "", "REDIS_URL must be set (scripts/lib/services.sh)")
    a, b = start(), start()
  end)

  teardown(function()
    if a then a:stop() end
    if b then b:stop() end
  end)

  it("answers a signed-in request from the cache: a revocation behind its back waits for expiry", function()
    local u = make_user()
    local raw, id = make_token(u.id, "api")
    local c = bearer(a, raw)
    assert.equal(200, status(c))
    -- revoked straight in the database, telling nobody: the cache still answers
    assert(db.query("UPDATE session_tokens SET revoked_at = now() WHERE id = $1", id))
    assert.equal(200, status(c))
    local took = within(6, c, refused, "the cached token to expire")
    assert.is_true(took <= 5.2, "expired after " .. took .. " s")
  end)

  it("a deleted API token is refused on the other instance within 1 s", function()
    local u = make_user()
    local raw, id = make_token(u.id, "api")
    local on_a, on_b = bearer(a, raw), bearer(b, raw)
    assert.equal(200, status(on_a))
    assert.equal(200, status(on_b))
    assert.equal(204, on_a:delete("/api/v1/auth/tokens/" .. id).status)
    assert.equal(401, status(on_a))                      -- here: at once
    within(1, on_b, refused, "the token delete to reach the other instance")
  end)

  it("a logout ends the session on the other instance within 1 s", function()
    local u = make_user()
    local raw, _, csrf = make_token(u.id, "session")
    local on_a, on_b = a:client(), b:client()
    for _, c in ipairs({ on_a, on_b }) do c.headers.Cookie = "mn_session=" .. raw end
    assert.equal(200, status(on_a))
    assert.equal(200, status(on_b))
    on_a.headers["X-CSRF-Token"] = csrf
    assert.equal(204, on_a:post("/api/v1/auth/logout", {}).status)
    on_a.headers.Cookie = "mn_session=" .. raw           -- the browser would drop it; a thief would not
    assert.equal(401, status(on_a))
    within(1, on_b, refused, "the logout to reach the other instance")
  end)

  it("an admin's demotion and disabling through the API apply on the other instance within 1 s", function()
    local admin = make_user("admin")
    local as_admin = bearer(a, (make_token(admin.id, "api")))
    local u = make_user("admin")
    local on_b = bearer(b, (make_token(u.id, "api")))
    assert.equal("admin", on_b:get(SESSION).json.user.role)
    assert.equal(200, as_admin:patch("/api/v1/admin/users/" .. u.id, { role = "user" }).status)
    within(1, on_b, function(r) return r.status == 200 and r.json.user.role == "user" end,
      "the new role on the other instance")
    assert.equal(200, as_admin:patch("/api/v1/admin/users/" .. u.id, { disabled = true }).status)
    within(1, on_b, refused, "the disabling on the other instance")
  end)

  it("`medianest user set-role` and `disable` from the shell reach both instances within 1 s", function()
    local u = make_user()
    local raw = make_token(u.id, "api")
    local on_a, on_b = bearer(a, raw), bearer(b, raw)
    assert.equal("user", on_a:get(SESSION).json.user.role)
    assert.equal("user", on_b:get(SESSION).json.user.role)
    local code, err = medianest("user", "set-role", u.username, "admin")
    assert.equal(0, code, err)
    for _, c in ipairs({ on_a, on_b }) do
      within(1, c, function(r) return r.json.user.role == "admin" end, "the role from the shell")
    end
    code, err = medianest("user", "disable", u.username)
    assert.equal(0, code, err)
    for _, c in ipairs({ on_a, on_b }) do within(1, c, refused, "the disabling from the shell") end
  end)
end)

describe("auth cache without Redis", function()
  local app

  setup(function()
    -- asking for a minute gets the 5 s bound: nothing else would tell this instance
    app = start({ redis = { url = "" }, auth = { cache_seconds = 60 } })
  end)

  teardown(function()
    if app then app:stop() end
  end)

  it("a revocation it was not told of takes effect within 5 s", function()
    local u = make_user()
    local raw = make_token(u.id, "api")
    local c = bearer(app, raw)
    assert.equal(200, status(c))
    local code, err = medianest("user", "disable", u.username)   -- a process with no way to tell it
    assert.equal(0, code, err)
    assert.equal(200, status(c))
    local took = within(6, c, refused, "the 5 s bound")
    assert.is_true(took <= 5.2, "took " .. took .. " s")
  end)

  it("its own revocations apply at once", function()
    local u = make_user()
    local raw, id = make_token(u.id, "api")
    local c = bearer(app, raw)
    assert.equal(200, status(c))
    assert.equal(204, c:delete("/api/v1/auth/tokens/" .. id).status)
    assert.equal(401, status(c))
  end)
end)
