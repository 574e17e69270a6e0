-- spec/integration/ws_auth_spec.lua — GET /ws authenticated by the real
-- auth plugin (plugins/auth): a session cookie or a Bearer API token opens
-- the connection for that user; nothing else does (no test hook here).
-- Signs in through the demo plex.tv (spec/helpers_auth.lua); needs
-- DATABASE_URL (migrated).
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"
local ha = require "spec.helpers_auth"

assert(os.getenv("DATABASE_URL"), "DATABASE_URL is not set (scripts/lib/services.sh)")

describe("websocket with the auth plugin", function()
  local up, app, owner

  setup(function()
    up = h.start({ plugins = { "demo-upstreams" } })
    app = h.start({
      plugins = { "health", "auth", "ws", "wsecho" },
      config = ha.config(up, {
        redis = { url = "" },
        plugins = { paths = { h.root .. "/spec/fixtures/plugins" } },
      }),
    })
    owner = ha.sign_in(app, up, "owner")
  end)

  teardown(function()
    if app then app:stop() end
    if up then up:stop() end
  end)

  local function whoami(c)
    c:send("whoami")
    local m = assert(c:recv_event())
    assert.equal("me", m.event)
    return m.data.user
  end

  it("opens the connection for the session cookie's user", function()
    local c, res = hw.connect(app, "/ws", { headers = { Cookie = owner:cookie_header() } })
    assert(c, "upgrade refused: " .. tostring(res and res.status))
    assert.equal(ha.id(owner.user.id), whoami(c))
    -- joined its user room and its role's room
    c:send("shout", { room = "user:" .. ha.id(owner.user.id), event = "mine" })
    local got = {}
    for _ = 1, 2 do got[#got + 1] = assert(c:recv_event()).event end
    table.sort(got)
    assert.same({ "mine", "shouted" }, got)
    c:send("shout", { room = "role:" .. owner.user.role, event = "role" })
    got = {}
    for _ = 1, 2 do got[#got + 1] = assert(c:recv_event()).event end
    table.sort(got)
    assert.same({ "role", "shouted" }, got)
    c:close()
  end)

  it("opens the connection for a Bearer API token's user", function()
    local token = ha.api_token(app, owner, "ws spec")
    local c = assert(hw.connect(app, "/ws", { headers = { Authorization = "Bearer " .. token } }))
    assert.equal(ha.id(owner.user.id), whoami(c))
    c:close()
  end)

  it("opens the connection for an API token in ?token= (non-browser clients)", function()
    local token = ha.api_token(app, owner, "ws query spec")
    local c = assert(hw.connect(app, "/ws?token=" .. token))
    assert.equal(ha.id(owner.user.id), whoami(c))
    c:close()
    local _, res = hw.connect(app, "/ws?token=not-a-token")
    assert.equal(401, res.status)
  end)

  it("refuses without credentials, with a bad cookie or token (401)", function()
    local _, res = hw.connect(app, "/ws")
    assert.equal(401, res.status)
    _, res = hw.connect(app, "/ws", { headers = { Cookie = "mn_session=not-a-session" } })
    assert.equal(401, res.status)
    _, res = hw.connect(app, "/ws", { headers = { Authorization = "Bearer not-a-token" } })
    assert.equal(401, res.status)
    -- the config test hook is off: its query parameters mean nothing
    _, res = hw.connect(app, "/ws?token=&user=owner")
    assert.equal(401, res.status)
  end)

  it("refuses a session that was logged out", function()
    local c = ha.sign_in(app, up, "friend")
    local cookie = c:cookie_header()
    local ok = assert(hw.connect(app, "/ws", { headers = { Cookie = cookie } }))
    assert.equal(ha.id(c.user.id), whoami(ok))
    ok:close()
    assert.equal(204, c:post("/api/v1/auth/logout", {}).status)
    local _, res = hw.connect(app, "/ws", { headers = { Cookie = cookie } })
    assert.equal(401, res.status)
  end)
end)
