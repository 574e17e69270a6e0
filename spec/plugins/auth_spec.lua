-- spec/plugins/auth_spec.lua — the Plex sign-in over real HTTP against the
-- demo upstreams: PIN -> approve -> poll -> session cookie -> /auth/session,
-- the access check, PIN expiry and binding, the poll rate, sessions, CSRF,
-- API tokens, disabled users and what the database holds.
-- (The setup link on an empty database: auth_setup_spec.lua; the shell
-- commands: auth_cli_spec.lua.)
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local db = require "nest.db"
local proc = require "nest.proc"
local timer = require "nest.timer"

local PIN = "/api/v1/auth/plex/pin"

local function set_cookie_lines(res, name)
  local out = {}
  for _, kv in ipairs(res.raw_headers) do
    if kv[1]:lower() == "set-cookie" and kv[2]:sub(1, #name + 1) == name .. "=" then out[#out + 1] = kv[2] end
  end
  return out
end

local function upstream_calls(up)
  return up:get("/demo/plextv/_control").json.requests
end

describe("auth plugin", function()
  local up, app

  setup(function()
    up = h.start({ plugins = { "health", "demo-upstreams" } })
    app = h.start({ plugins = { "health", "auth", "ratelimit" }, config = ha.config(up) })
  end)

  teardown(function()
    if app then app:stop() end
    if up then up:stop() end
  end)

  it("signs the owner in: PIN, approve, poll, session cookie, /auth/session", function()
    local c = app:client()
    local r = ha.start_pin(c, {})
    if r.status == 403 then                        -- an empty database: go through a setup link
      r = ha.start_pin(c, { setupToken = ha.setup_token() })
    end
    assert.equal(201, r.status)
    assert.is_number(r.json.id)
    assert.equal(25, #r.json.code)
    assert.truthy(r.json.authUrl:find(up:url("/demo/plextv/auth") .. "#?clientID=", 1, true))
    assert.truthy(r.json.authUrl:find("code=" .. r.json.code, 1, true))
    assert.truthy(r.json.expiresIn > 0)
    local nonce = set_cookie_lines(r, "mn_pin")[1]
    assert.truthy(nonce and nonce:find("HttpOnly", 1, true))

    local w = c:get(PIN .. "/" .. ha.id(r.json.id))
    assert.equal(200, w.status)
    assert.equal("waiting", w.json.status)
    assert.equal(401, c:get("/api/v1/auth/session").status)

    ha.approve(up, r.json.code, "owner")
    local done = ha.poll(c, r.json.id)
    assert.equal(200, done.status)
    assert.equal("approved", done.json.status)
    assert.equal("owner", done.json.user.username)
    assert.equal("owner@demo.medianest.invalid", done.json.user.email)
    assert.is_string(done.json.csrfToken)
    local sc = set_cookie_lines(done, "mn_session")[1]
    assert.truthy(sc, "a session cookie is set")
    assert.truthy(sc:find("HttpOnly", 1, true))
    assert.truthy(sc:find("SameSite=Lax", 1, true))
    assert.truthy(sc:find("Path=/;", 1, true) or sc:match("Path=/$"))
    assert.falsy(sc:find("Secure", 1, true))                       -- plain http, no public_url
    assert.equal(43, #c.cookies.mn_session)

    local s = c:get("/api/v1/auth/session")
    assert.equal(200, s.status)
    assert.equal("owner", s.json.user.username)
    assert.equal(done.json.user.id, s.json.user.id)
    assert.equal(done.json.csrfToken, s.json.csrfToken)
    assert.equal(false, app:get("/api/v1/setup").json.setupRequired)
  end)

  it("refuses a Plex user without access to the server: 403 NO_SERVER_ACCESS, no session", function()
    local owner = ha.sign_in(app, up, "owner")      -- makes sure setup is done
    assert.truthy(owner.user)
    local c = app:client()
    local r = ha.start_pin(c)
    assert.equal(201, r.status)
    ha.approve(up, r.json.code, "stranger")
    local done = ha.poll(c, r.json.id)
    assert.equal(403, done.status)
    assert.equal("NO_SERVER_ACCESS", done.json.error.code)
    assert.truthy(done.json.error.message:find("access", 1, true))
    assert.same({}, set_cookie_lines(done, "mn_session"))
    assert.is_nil(c.cookies.mn_session)
    assert.equal(401, c:get("/api/v1/auth/session").status)
    -- and it stays refused
    assert.equal(403, c:get(PIN .. "/" .. ha.id(r.json.id)).status)
    local rows = db.query("SELECT count(*)::int AS n FROM users WHERE username = 'stranger'")
    assert.equal(0, rows[1].n)
  end)

  it("a friend the server is shared with signs in as a user", function()
    ha.sign_in(app, up, "owner")
    local c = ha.sign_in(app, up, "friend")
    assert.equal("friend", c.user.username)
    assert.equal("user", c.user.role)
  end)

  it("answers 404 for an unknown PIN and 'expired' for an expired one", function()
    ha.sign_in(app, up, "owner")
    local c = app:client()
    assert.equal(404, c:get(PIN .. "/999999999").status)
    assert.equal(404, c:get(PIN .. "/abc").status)
    local r = ha.start_pin(c)
    assert.equal(201, r.status)
    assert.equal(200, up:post("/demo/plextv/_control", { expire_pins = true }).status)
    local done = ha.poll(c, r.json.id)
    assert.equal(200, done.status)
    assert.equal("expired", done.json.status)
    assert.equal("expired", c:get(PIN .. "/" .. ha.id(r.json.id)).json.status)
  end)

  it("binds a PIN to the browser that asked for it", function()
    ha.sign_in(app, up, "owner")
    local mine, other = app:client(), app:client()
    local r = ha.start_pin(mine)
    assert.equal(201, r.status)
    ha.approve(up, r.json.code, "owner")
    -- another browser knowing the id (with or without a forged nonce) learns nothing
    assert.equal(404, other:get(PIN .. "/" .. ha.id(r.json.id)).status)
    other.cookies.mn_pin = "forged-nonce-forged-nonce-forged-nonce-xx"
    assert.equal(404, other:get(PIN .. "/" .. ha.id(r.json.id)).status)
    assert.is_nil(other.cookies.mn_session)
    local done = ha.poll(mine, r.json.id)
    assert.equal("approved", done.json.status)
    assert.truthy(mine.cookies.mn_session)
  end)

  it("polls plex.tv at most once a second per PIN, however fast the browser polls", function()
    ha.sign_in(app, up, "owner")
    local c = app:client()
    local r = ha.start_pin(c)
    assert.equal(201, r.status)
    local before = upstream_calls(up)
    local t0 = require("nest.core.app").hrtime()
    local answers, pending = 0, 0
    -- four concurrent "tabs" of the same browser, polling flat out for 1.5 s
    for _ = 1, 4 do
      pending = pending + 1
      local tab = app:client()
      tab.cookies.mn_pin = c.cookies.mn_pin
      timer.at(0, function()
        while require("nest.core.app").hrtime() - t0 < 1.5 do
          local w = tab:get(PIN .. "/" .. ha.id(r.json.id))
          assert(w.status == 200 and w.json.status == "waiting", w.body)
          answers = answers + 1
        end
        pending = pending - 1
      end)
    end
    h.wait_until(function() return pending == 0 end, 10)
    local calls = upstream_calls(up) - before
    assert.truthy(answers >= 20, "the browser polled " .. answers .. " times")
    assert.truthy(calls >= 1 and calls <= 3, "plex.tv was polled " .. calls .. " times in 1.5 s")
  end)

  it("issues one session when several tabs of the browser poll the approved PIN at once", function()
    ha.sign_in(app, up, "owner")
    local c = app:client()
    local r = ha.start_pin(c)
    assert.equal(201, r.status)
    ha.approve(up, r.json.code, "friend")
    local answers, pending = {}, 0
    for i = 1, 4 do
      pending = pending + 1
      local tab = app:client()
      tab.cookies.mn_pin = c.cookies.mn_pin
      timer.at(0, function()
        answers[i] = tab:get(PIN .. "/" .. ha.id(r.json.id))
        pending = pending - 1
      end)
    end
    h.wait_until(function() return pending == 0 end, 10)
    local cookies, csrf = 0, {}
    for _, a in ipairs(answers) do
      assert.equal(200, a.status)
      if a.json.status == "approved" then csrf[a.json.csrfToken] = true end
      cookies = cookies + #set_cookie_lines(a, "mn_session")
    end
    assert.equal(1, cookies)
    local n = 0
    for _ in pairs(csrf) do n = n + 1 end
    assert.equal(1, n)                                  -- one session, the same to every tab
    local rows = db.query("SELECT count(*)::int AS n FROM plex_pins WHERE id = $1 AND session_id IS NOT NULL",
      math.tointeger(r.json.id))
    assert.equal(1, rows[1].n)
  end)

  it("answers 502 PLEX_UNREACHABLE while plex.tv fails, still polling it at most once a second", function()
    ha.sign_in(app, up, "owner")
    local c = app:client()
    local r = ha.start_pin(c)
    assert.equal(201, r.status)
    assert.equal(200, up:post("/demo/plextv/_control", { failure_rate = 1, failure_status = 503 }).status)
    local ok, err = pcall(function()
      local before = upstream_calls(up)
      local t0 = require("nest.core.app").hrtime()
      local n = 0
      while require("nest.core.app").hrtime() - t0 < 1.2 do
        local w = c:get(PIN .. "/" .. ha.id(r.json.id))
        assert.equal(502, w.status)
        assert.equal("PLEX_UNREACHABLE", w.json.error.code)
        n = n + 1
      end
      local calls = upstream_calls(up) - before
      assert.truthy(n >= 10 and calls >= 1 and calls <= 3, n .. " polls, " .. calls .. " upstream calls")
    end)
    up:post("/demo/plextv/_control", { reset = true })
    assert(ok, err)
    -- plex.tv is back: the sign-in goes through
    ha.approve(up, r.json.code, "owner")
    local done = h.wait_until(function()      -- the memoised failure lasts up to a second
      local w = c:get(PIN .. "/" .. ha.id(r.json.id))
      return w.status == 200 and w.json.status == "approved" and w
    end, 5, 0.05, "the sign-in after plex.tv recovered")
    assert.truthy(done.json.csrfToken)
  end)

  it("rotates the session at sign-in and revokes it at logout", function()
    local c = ha.sign_in(app, up, "owner")
    local first = c.cookies.mn_session
    -- signing in again from the same browser: a new session, the old one ends
    local r = ha.start_pin(c)
    assert.equal(201, r.status)
    ha.approve(up, r.json.code, "owner")
    local done = ha.poll(c, r.json.id)
    assert.equal("approved", done.json.status)
    local second = c.cookies.mn_session
    assert.are_not.equal(first, second)
    local old = app:client()
    old.cookies.mn_session = first
    assert.equal(401, old:get("/api/v1/auth/session").status)
    c.headers["X-CSRF-Token"] = done.json.csrfToken
    assert.equal(200, c:get("/api/v1/auth/session").status)

    local out = c:post("/api/v1/auth/logout", {})
    assert.equal(204, out.status)
    local cleared = set_cookie_lines(out, "mn_session")[1]
    assert.truthy(cleared and cleared:find("Max-Age=0", 1, true))
    local replay = app:client()
    replay.cookies.mn_session = second
    assert.equal(401, replay:get("/api/v1/auth/session").status)
  end)

  it("refuses cookie-authenticated unsafe requests without the CSRF header", function()
    local c = ha.sign_in(app, up, "friend")
    local csrf = c.headers["X-CSRF-Token"]
    c.headers["X-CSRF-Token"] = nil
    local r = c:post("/api/v1/auth/tokens", { name = "no csrf" })
    assert.equal(403, r.status)
    assert.equal("CSRF_FAILED", r.json.error.code)
    r = c:post("/api/v1/auth/tokens", { name = "wrong csrf" }, { headers = { ["X-CSRF-Token"] = "x" .. csrf } })
    assert.equal(403, r.status)
    r = c:post("/api/v1/auth/tokens", { name = "with csrf" }, { headers = { ["X-CSRF-Token"] = csrf } })
    assert.equal(201, r.status)
    assert.equal("with csrf", r.json.name)
    -- safe methods need none
    assert.equal(200, c:get("/api/v1/auth/tokens").status)
  end)

  it("personal API tokens authenticate Bearer requests, without CSRF, until revoked", function()
    local c = ha.sign_in(app, up, "friend")
    local tok, id = ha.api_token(app, c, "backup script")
    assert.equal(43, #tok)
    local b = ha.bearer(app, tok)
    local s = b:get("/api/v1/auth/session")
    assert.equal(200, s.status)
    assert.equal("friend", s.json.user.username)
    -- unsafe method, Bearer, no CSRF header: allowed
    local t2 = b:post("/api/v1/auth/tokens", { name = "made by bearer" })
    assert.equal(201, t2.status)
    -- listed (without the secret)
    local list = c:get("/api/v1/auth/tokens").json.tokens
    local seen = false
    for _, t in ipairs(list) do
      if t.id == id then seen = true assert.equal("backup script", t.name) assert.is_nil(t.token) end
    end
    assert.truthy(seen)
    -- another user cannot see or revoke it
    local owner = ha.sign_in(app, up, "owner")
    assert.equal(404, owner:delete("/api/v1/auth/tokens/" .. ha.id(id)).status)
    assert.equal(200, b:get("/api/v1/auth/session").status)
    -- revoked: refused at once
    assert.equal(204, c:delete("/api/v1/auth/tokens/" .. ha.id(id)).status)
    assert.equal(401, b:get("/api/v1/auth/session").status)
    assert.equal(401, b:get("/api/v1/auth/tokens").status)
    assert.equal(404, c:delete("/api/v1/auth/tokens/" .. ha.id(id)).status)
    -- a bad token is anonymous, not an error on public routes
    assert.equal(200, ha.bearer(app, "nonsense"):get("/health").status)
  end)

  it("guards routes: anonymous requests to user routes get 401", function()
    local r = app:client():get("/api/v1/auth/tokens")
    assert.equal(401, r.status)
    assert.equal("UNAUTHENTICATED", r.json.error.code)
  end)

  it("a disabled user's next request is 401", function()
    local c = ha.sign_in(app, up, "friend")
    local tok = ha.api_token(app, c, "before disable")
    assert.equal(200, c:get("/api/v1/auth/session").status)
    local p = assert(proc.spawn({ h.bin(), "user", "disable", "friend" },
      { env = { DATABASE_URL = os.getenv("DATABASE_URL"), REDIS_URL = os.getenv("REDIS_URL"),
                MEDIANEST_ROOT = h.root, PATH = os.getenv("PATH") } }))
    for _ in p:lines() do end
    local code = p:wait()
    local ok, err = pcall(function()
      assert.equal(0, code, p:stderr())
      -- within a second: the shell tells the server's auth cache through Redis
      h.wait_until(function() return c:get("/api/v1/auth/session").status == 401 end, 1, 0.02, "the session ended")
      assert.equal(401, ha.bearer(app, tok):get("/api/v1/auth/session").status)
      -- and signing in again is refused
      local c2 = app:client()
      local r = ha.start_pin(c2)
      ha.approve(up, r.json.code, "friend")
      local done = ha.poll(c2, r.json.id)
      assert.equal(403, done.status)
      assert.equal("USER_DISABLED", done.json.error.code)
    end)
    ha.enable("friend")                                   -- shared database: put it back
    assert(ok, err)
  end)

  it("keeps no plaintext token in the database", function()
    local c = ha.sign_in(app, up, "friend")
    local tok = ha.api_token(app, c, "at rest")
    local u = db.query("SELECT plex_token_enc, server_token_enc FROM users WHERE username = 'friend'")[1]
    assert.is_string(u.server_token_enc)
    assert.is_string(u.plex_token_enc)
    assert.falsy(u.server_token_enc:find("demo-server-token-friend", 1, true))
    assert.falsy(u.plex_token_enc:find("demo-token-friend", 1, true))
    assert.truthy(#u.server_token_enc >= #"demo-server-token-friend" + 28)   -- nonce + tag
    local raw_cookie = c.cookies.mn_session
    local rows = db.query("SELECT token_hash, encode(token_hash, 'escape') AS t, csrf_token FROM session_tokens "
      .. "WHERE token_hash IN (sha256(convert_to($1, 'UTF8')), sha256(convert_to($2, 'UTF8')))", raw_cookie, tok)
    assert.equal(2, #rows)                                 -- found by their SHA-256 only
    for _, r in ipairs(rows) do
      assert.equal(32, #r.token_hash)
      assert.falsy(r.t:find(raw_cookie, 1, true))
      assert.falsy(r.t:find(tok, 1, true))
    end
    local any = db.query("SELECT count(*)::int AS n FROM session_tokens WHERE encode(token_hash, 'escape') "
      .. "LIKE '%' || $1 || '%' OR csrf_token = $1 OR name = $1", raw_cookie)
    assert.equal(0, any[1].n)
  end)

  it("slides a session's expiry, at most once an hour", function()
    local c = ha.sign_in(app, up, "owner")
    local where = " WHERE token_hash = sha256(convert_to($1, 'UTF8'))"
    assert(db.query("UPDATE session_tokens SET last_used_at = now() - interval '2 hours', "
      .. "expires_at = now() + interval '1 day'" .. where, c.cookies.mn_session))
    local r = c:get("/api/v1/auth/session")
    assert.equal(200, r.status)
    assert.equal(1, #set_cookie_lines(r, "mn_session"))      -- the cookie slides too
    local row = db.query("SELECT expires_at > now() + interval '29 days' AS slid FROM session_tokens" .. where, c.cookies.mn_session)[1]
    assert.is_true(row.slid)
    r = c:get("/api/v1/auth/session")
    assert.equal(0, #set_cookie_lines(r, "mn_session"))      -- refreshed already this hour
  end)
end)

describe("auth plugin rate limit", function()
  it("applies the auth limit to PIN creation", function()
    local up = h.start({ plugins = { "health", "demo-upstreams" } })
    local cfg = ha.config(up)
    -- `api` also counts anonymous calls by IP, and other specs' calls from
    -- 127.0.0.1 within the minute share its counter: keep it out of the way
    cfg.rate_limits = { auth = { limit = 2, window = 60, by = "ip" }, api = { limit = 100000, window = 60 } }
    local app = h.start({ plugins = { "health", "auth", "ratelimit" }, config = cfg })
    local ok, err = pcall(function()
      local statuses = {}
      for i = 1, 4 do statuses[i] = app:client():post("/api/v1/auth/plex/pin", {}) end
      local last = statuses[4]
      assert.equal(429, last.status)
      assert.truthy(tonumber(last.headers["retry-after"]) >= 1)
      assert.equal("2", last.headers["x-ratelimit-limit"])
    end)
    app:stop()
    up:stop()
    assert(ok, err)
  end)
end)

describe("auth plugin cookies and return paths", function()
  it("marks cookies Secure when auth.secure_cookie is set and keeps returnTo same-origin", function()
    local up = h.start({ plugins = { "health", "demo-upstreams" } })
    local app = h.start({ plugins = { "health", "auth" },
                          config = ha.config(up, { auth = { secure_cookie = true } }) })
    local ok, err = pcall(function()
      ha.sign_in(app, up, "owner")               -- setup done, whatever the database held
      for _, case in ipairs({ { "/library?tab=movies", "/library?tab=movies" }, { "//evil.example/x", nil },
                              { "https://evil.example/", nil }, { "/\\evil.example", nil } }) do
        local c = app:client()
        local r = ha.start_pin(c, { returnTo = case[1] })
        assert.equal(201, r.status)
        assert.truthy(set_cookie_lines(r, "mn_pin")[1]:find("; Secure", 1, true))
        ha.approve(up, r.json.code, "friend")
        local done = ha.poll(c, r.json.id)
        assert.equal("approved", done.json.status)
        assert.truthy(set_cookie_lines(done, "mn_session")[1]:find("; Secure", 1, true))
        if case[2] then assert.equal(case[2], done.json.returnTo)
        else assert.is_not_string(done.json.returnTo, case[1]) end   -- JSON null
      end
    end)
    app:stop()
    up:stop()
    assert(ok, err)
  end)
end)

describe("auth plugin and the WebSocket", function()
  it("opens /ws for a session cookie or a Bearer token, refuses it anonymously", function()
    local hw = require "spec.helpers_ws"
    local up = h.start({ plugins = { "health", "demo-upstreams" } })
    local app = h.start({ plugins = { "health", "auth", "ws" }, config = ha.config(up) })
    local ok, err = pcall(function()
      local c = ha.sign_in(app, up, "friend")
      local origin = app:url(""):gsub("/$", "")
      local ws, res = hw.connect(app, "/ws", { headers = { Cookie = "mn_session=" .. c.cookies.mn_session,
                                                           Origin = origin } })
      assert.truthy(ws, res and res.body)
      ws:close()
      local tok = ha.api_token(app, c, "ws")
      ws, res = hw.connect(app, "/ws", { headers = { Authorization = "Bearer " .. tok } })
      assert.truthy(ws, res and res.body)
      ws:close()
      ws, res = hw.connect(app, "/ws", {})
      assert.is_nil(ws)
      assert.equal(401, res.status)
    end)
    app:stop()
    up:stop()
    assert(ok, err)
  end)
end)

describe("auth plugin route options", function()
  it("enforces CSRF unless a route opts out, and auth = admin for admins only", function()
    local up = h.start({ plugins = { "health", "demo-upstreams" } })
    local cfg = ha.config(up)
    cfg.plugins = { paths = { h.root .. "/spec/fixtures/plugins" } }
    local app = h.start({ plugins = { "health", "auth", "authprobe" }, config = cfg })
    local ok, err = pcall(function()
      local c = ha.sign_in(app, up, "friend")
      assert.equal(200, c:post("/api/v1/probe/needs-csrf", {}).status)
      c.headers["X-CSRF-Token"] = nil
      assert.equal(403, c:post("/api/v1/probe/needs-csrf", {}).status)
      local r = c:post("/api/v1/probe/no-csrf", {})
      assert.equal(200, r.status)
      assert.equal("friend", r.json.user)
      assert.equal(403, c:get("/api/v1/probe/admin").status)
      ha.set_role("owner", "admin")
      local o = ha.sign_in(app, up, "owner")
      assert.equal(200, o:get("/api/v1/probe/admin").status)
    end)
    app:stop()
    up:stop()
    assert(ok, err)
  end)
end)
