-- spec/plugins/account_spec.lua — a user's own sessions and notification
-- preferences (plugins/account): list with the current one marked, end one
-- (another user's → 404, the current → 409), end all others at once (their
-- next request is anonymous), mute a kind (nest.notify then stores and
-- pushes nothing of it). Anonymous → 401 everywhere.
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local db = require "nest.db"
local notify = require "nest.notify"

describe("plugins/account", function()
  local up, app

  setup(function()
    up = h.start({ plugins = { "health", "demo-upstreams" } })
    app = h.start({ plugins = { "health", "auth", "account" }, config = ha.config(up) })
    -- on a fresh database the first to sign in becomes admin: that must be
    -- the owner, as the other specs sharing the database expect
    ha.sign_in(app, up, "owner")
  end)
  teardown(function()
    db.query([[DELETE FROM notification_preferences WHERE user_id IN
               (SELECT id FROM users WHERE username IN ('owner', 'friend'))]])
    app:stop(); up:stop()
  end)

  it("needs a signed-in user", function()
    local anon = app:client()
    for _, rt in ipairs({ { "GET", "/api/v1/account/sessions" }, { "DELETE", "/api/v1/account/sessions/1" },
                          { "POST", "/api/v1/account/sessions/revoke-others", {} },
                          { "GET", "/api/v1/account/notifications" }, { "PUT", "/api/v1/account/notifications", { muted = {} } } }) do
      local r = assert(anon:request(rt[1], rt[2], { json = rt[3] }))
      assert.equal(401, r.status, rt[1] .. " " .. rt[2])
    end
  end)

  it("lists the user's sessions, ends one, refuses others' and the current, ends all the others", function()
    local a, b, c = ha.sign_in(app, up, "friend"), ha.sign_in(app, up, "friend"), ha.sign_in(app, up, "friend")
    local owner = ha.sign_in(app, up, "owner")
    local r = a:get("/api/v1/account/sessions")
    assert.equal(200, r.status, r.body)
    local mine, current = {}, nil
    for _, s in ipairs(r.json.sessions) do mine[#mine + 1] = s.id; if s.current then current = s end end
    assert.is_true(#mine >= 3)
    assert.truthy(current, "the session in use is marked current")
    assert.matches("^%d%d%d%d%-", current.expiresAt)
    -- the owner's sessions are not listed, and not the friend's to end
    local own = owner:get("/api/v1/account/sessions").json.sessions
    for _, s in ipairs(own) do
      for _, id in ipairs(mine) do assert.not_equal(id, s.id) end
    end
    assert.equal(404, a:delete(("/api/v1/account/sessions/%d"):format(own[1].id)).status)
    assert.equal(200, owner:get("/api/v1/auth/session").status)
    assert.equal(409, a:delete(("/api/v1/account/sessions/%d"):format(current.id)).status)
    -- b's session ended by a
    local b_id = b:get("/api/v1/account/sessions").json.sessions
    for _, s in ipairs(b_id) do if s.current then b_id = s.id break end end
    assert.equal(204, a:delete(("/api/v1/account/sessions/%d"):format(b_id)).status)
    assert.equal(401, b:get("/api/v1/auth/session").status)
    assert.equal(404, a:delete(("/api/v1/account/sessions/%d"):format(b_id)).status)
    -- all the others: c is signed out, a stays
    local o = a:post("/api/v1/account/sessions/revoke-others", {})
    assert.equal(200, o.status, o.body)
    assert.is_true(o.json.revoked >= 1)
    assert.equal(401, c:get("/api/v1/auth/session").status)
    assert.equal(200, a:get("/api/v1/auth/session").status)
    assert.equal(1, #a:get("/api/v1/account/sessions").json.sessions)
  end)

  it("mutes a kind of notification: nest.notify stores nothing of it, other kinds still arrive", function()
    local f = ha.sign_in(app, up, "friend")
    local r = f:get("/api/v1/account/notifications")
    assert.equal(200, r.status)
    for _, k in ipairs(r.json.kinds) do assert.is_true(k.enabled) end
    local bad = f:put("/api/v1/account/notifications", { muted = { "everything" } })
    assert.equal(400, bad.status)
    assert.equal("muted", bad.json.error.details.field)
    assert.equal(400, f:put("/api/v1/account/notifications", { muted = "requests" }).status)
    r = f:put("/api/v1/account/notifications", { muted = { "requests", "requests" } })
    assert.equal(200, r.status, r.body)
    local by = {}
    for _, k in ipairs(r.json.kinds) do by[k.kind] = k.enabled end
    assert.same({ downloads = true, requests = false, services = true }, by)

    local uid = math.tointeger(f.user.id)
    assert.is_false(notify.user(uid, { type = "request_available", title = "spec muted" }))
    local n = assert(notify.user(uid, { type = "download_completed", title = "spec not muted" }))
    assert.equal("spec not muted", n.title)
    assert.truthy(notify.user(uid, { type = "misc", title = "spec kindless" }))
    assert.equal("downloads", notify.kind("youtube_failed"))
    assert.equal("services", notify.kind("service_down"))
    assert.is_nil(notify.kind("announcement"))
    local rows = assert(db.query("SELECT title FROM notifications WHERE user_id = $1 AND title LIKE 'spec %'", uid))
    local titles = {}
    for _, x in ipairs(rows) do titles[x.title] = true end
    assert.is_nil(titles["spec muted"])
    assert.truthy(titles["spec not muted"])
    -- the owner muted nothing: the same notification reaches them
    local owner = ha.sign_in(app, up, "owner")
    assert.truthy(notify.user(math.tointeger(owner.user.id), { type = "request_available", title = "spec owner" }))
    db.query("DELETE FROM notifications WHERE title LIKE 'spec %'")
    assert.equal(200, f:put("/api/v1/account/notifications", { muted = {} }).status)
    assert.truthy(notify.user(uid, { type = "request_available", title = "spec unmuted" }))
    db.query("DELETE FROM notifications WHERE title LIKE 'spec %'")
  end)
end)
