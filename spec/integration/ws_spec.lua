-- spec/integration/ws_spec.lua — WebSocket over real sockets: handshake
-- errors, authentication through the framework (the auth plugin's before
-- hook, stood in for by spec/fixtures/plugins/wsauth, and the config test
-- hook), messages and events, RFC 6455 close codes, rooms and broadcast,
-- bounded queues for slow readers, ping timeout, the connections gauge.
-- Across instances: ws_cluster_spec.lua.
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"

local TOKEN = "spec-token"

local function start(ws_cfg)
  local wcfg = { test_token = TOKEN, ping_interval = 25, pong_timeout = 60 }
  for k, v in pairs(ws_cfg or {}) do wcfg[k] = v end
  return h.start({
    plugins = { "health", "metrics", "wsauth", "ws", "wsecho" },
    config = { websocket = wcfg, plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } },
  })
end

local function open(app, user)
  local c, res = hw.connect(app, "/ws?token=" .. TOKEN .. (user and ("&user=" .. user) or ""))
  assert(c, "upgrade failed: " .. tostring(res and res.status) .. " " .. tostring(res and res.body))
  return c
end

describe("websocket", function()
  local app
  before_each(function() app = start() end)
  after_each(function() app:stop() end)

  describe("handshake", function()
    it("answers 101 with the RFC 6455 accept value", function()
      local key = "dGhlIHNhbXBsZSBub25jZQ=="
      local c, res = hw.connect(app, "/ws?token=" .. TOKEN, { key = key })
      assert.is_truthy(c)
      assert.equal(101, res.status)
      assert.equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", res.headers["sec-websocket-accept"])
      assert.equal("websocket", res.headers["upgrade"]:lower())
      c:close()
    end)

    it("refuses a bad key with 400", function()
      local c, res = hw.connect(app, "/ws?token=" .. TOKEN, { key = "short" })
      assert.is_nil(c)
      assert.equal(400, res.status)
      assert.equal("BAD_KEY", res.json.error.code)
    end)

    it("refuses a key that is not 16 bytes with 400", function()
      local _, res = hw.connect(app, "/ws?token=" .. TOKEN, { key = hw.b64(("x"):rep(15)) .. "" })
      assert.equal(400, res.status)
    end)

    it("refuses another version with 426 naming version 13", function()
      local c, res = hw.connect(app, "/ws?token=" .. TOKEN, { headers = { ["Sec-WebSocket-Version"] = "8" } })
      assert.is_nil(c)
      assert.equal(426, res.status)
      assert.equal("13", res.headers["sec-websocket-version"])
    end)

    it("refuses a request without Upgrade with 426", function()
      local c, res = hw.connect(app, "/ws?token=" .. TOKEN, { headers = { Upgrade = false, Connection = "keep-alive" } })
      assert.is_nil(c)
      assert.equal(426, res.status)
      assert.equal("websocket", res.headers["upgrade"])
    end)

    it("refuses a foreign Origin with 403 and accepts our own", function()
      local c, res = hw.connect(app, "/ws?token=" .. TOKEN, { headers = { Origin = "http://evil.example" } })
      assert.is_nil(c)
      assert.equal(403, res.status)
      local ok = hw.connect(app, "/ws?token=" .. TOKEN,
        { headers = { Origin = ("http://%s:%d"):format(app.host, app.port) } })
      assert.is_truthy(ok)
      ok:close()
    end)

    it("refuses without the token (401), accepts a Bearer token", function()
      local c, res = hw.connect(app, "/ws")
      assert.is_nil(c)
      assert.equal(401, res.status)
      local b = hw.connect(app, "/ws", { headers = { Authorization = "Bearer " .. TOKEN } })
      assert.is_truthy(b)
      b:close()
    end)

    it("refuses with the framework's 401 before looking at the handshake", function()
      local _, res = hw.connect(app, "/ws", { headers = { ["Sec-WebSocket-Version"] = "8" } })
      assert.equal(401, res.status)
      assert.equal("UNAUTHENTICATED", res.json.error.code)
    end)

    it("keeps plain HTTP working on the same port", function()
      assert.equal(200, app:get("/health").status)
    end)
  end)

  describe("authentication", function()
    local function whoami(c)
      c:send("whoami")
      local m = assert(c:recv_event())
      assert.equal("me", m.event)
      return m.data.user
    end

    it("opens the connection for req.user set by an auth before hook", function()
      local c = assert(hw.connect(app, "/ws", { headers = { ["X-Spec-User"] = "carol" } }))
      assert.equal("carol", whoami(c))
      c:close()
    end)

    it("the test hook never overrides a signed-in user", function()
      local c = assert(hw.connect(app, "/ws?token=" .. TOKEN .. "&user=bob",
        { headers = { ["X-Spec-User"] = "carol" } }))
      assert.equal("carol", whoami(c))
      c:close()
    end)

    it("the test hook signs in as test_user by default, on /ws only", function()
      app:stop()
      app = start({ test_user = "tester" })
      local c = open(app)
      assert.equal("tester", whoami(c))
      c:close()
      -- the token means nothing to other routes
      assert.equal(401, app:get("/api/v1/wsauth/me?token=" .. TOKEN).status)
      local res = app:get("/api/v1/wsauth/me", { headers = { ["X-Spec-User"] = "dave" } })
      assert.equal(200, res.status)
      assert.equal("dave", res.json.id)
    end)

    it("is off without test_token: only a signed-in user gets in", function()
      app:stop()
      app = start({ test_token = "" })
      local _, res = hw.connect(app, "/ws?token=")
      assert.equal(401, res.status)
      _, res = hw.connect(app, "/ws", { headers = { Authorization = "Bearer " } })
      assert.equal(401, res.status)
      local c = assert(hw.connect(app, "/ws", { headers = { ["X-Spec-User"] = "erin" } }))
      assert.equal("erin", whoami(c))
      c:close()
    end)

    it("joins role:<role>, which nobody may subscribe to", function()
      local admin = assert(hw.connect(app, "/ws",
        { headers = { ["X-Spec-User"] = "root", ["X-Spec-Role"] = "admin" } }))
      local user = assert(hw.connect(app, "/ws", { headers = { ["X-Spec-User"] = "u1" } }))
      user:send("subscribe", { topic = "role:admin" })
      local m = assert(user:recv_event())
      assert.equal("FORBIDDEN", m.data.code)
      user:send("shout", { room = "role:admin", event = "service:down", data = { s = "plex" } })
      assert.same({ reached = { 1 } }, assert(user:recv_event()).data)
      m = assert(admin:recv_event())
      assert.equal("service:down", m.event)
      admin:close() user:close()
    end)
  end)

  describe("messages", function()
    it("round-trips an event through a plugin handler", function()
      local c = open(app)
      c:send("echo", { text = "héllo", n = 42 })
      local m = assert(c:recv_event())
      assert.equal("echo", m.event)
      assert.same({ text = "héllo", n = 42 }, m.data)
      c:close()
    end)

    it("joins user:<id> on connect and knows the user", function()
      local c = open(app, "alice")
      c:send("whoami")
      local m = assert(c:recv_event())
      assert.equal("alice", m.data.user)
      c:send("shout", { room = "user:alice", event = "hi" })
      local got, seen = {}, 0
      while seen < 2 do
        local e = assert(c:recv_event())
        got[e.event] = e.data
        seen = seen + 1
      end
      assert.same({ reached = { 1 } }, got.shouted)
      c:close()
    end)

    it("answers ping with pong, unknown events and bad JSON with error", function()
      local c = open(app)
      c:send("ping", { t = 1 })
      local m = assert(c:recv_event())
      assert.equal("pong", m.event)
      assert.same({ t = 1 }, m.data)
      c:send("nope")
      m = assert(c:recv_event())
      assert.equal("error", m.event)
      assert.equal("UNKNOWN_EVENT", m.data.code)
      c:send_text("{not json")
      m = assert(c:recv_event())
      assert.equal("BAD_MESSAGE", m.data.code)
      c:send("boom")
      m = assert(c:recv_event())
      assert.equal("INTERNAL", m.data.code)
      c:send("echo", 1)    -- still alive after a failing handler
      assert.equal(1, assert(c:recv_event()).data)
      c:close()
    end)

    it("reassembles a fragmented message, with a ping in between", function()
      local c = open(app)
      local text = '{"event":"echo","data":"' .. ("abc"):rep(100) .. '"}'
      c:send_frame(1, text:sub(1, 10), { fin = false })
      c:send_frame(0, text:sub(11, 200), { fin = false })
      c:send_frame(9, "mid")     -- control frames may interleave
      c:send_frame(0, text:sub(201), { fin = true })
      local f = assert(c:recv_frame())
      assert.equal(10, f.opcode)      -- the pong for "mid"
      assert.equal("mid", f.payload)
      local m = assert(c:recv_event())
      assert.equal(("abc"):rep(100), m.data)
      c:close()
    end)
  end)

  describe("close codes", function()
    it("closes an invalid UTF-8 text frame with 1007", function()
      local c = open(app)
      c:send_text("\xff\xfe{}")
      assert.equal(1007, c:expect_close())
    end)

    it("closes an over-limit message with 1009", function()
      app:stop()
      app = start({ max_message = 4096 })
      local c = open(app)
      c:send_text(("x"):rep(4097), { zero_mask = true })
      assert.equal(1009, c:expect_close())
    end)

    it("closes a fragmented over-limit message with 1009", function()
      app:stop()
      app = start({ max_message = 4096 })
      local c = open(app)
      c:send_frame(1, ("x"):rep(3000), { fin = false })
      c:send_frame(0, ("x"):rep(3000), { fin = true })
      assert.equal(1009, c:expect_close())
    end)

    it("closes an unmasked client frame with 1002", function()
      local c = open(app)
      c:send_frame(1, '{"event":"ping"}', { mask = false })
      assert.equal(1002, c:expect_close())
    end)

    it("refuses binary messages with 1003", function()
      local c = open(app)
      c:send_frame(2, "\1\2\3")
      assert.equal(1003, c:expect_close())
    end)

    it("echoes the client's close code and ends the connection", function()
      local c = open(app)
      c:send_frame(8, string.pack(">I2", 4000) .. "bye")
      assert.equal(4000, c:expect_close())
      local data, err = c.conn:read(2)
      assert.is_nil(data)
      assert.equal("closed", err)
    end)
  end)

  describe("shutdown", function()
    it("closes every connection with 1001 when the app stops", function()
      local a, b = open(app), open(app)
      a:send("echo", 1)
      assert.equal(1, assert(a:recv_event()).data)
      app:stop()
      assert.equal(1001, a:expect_close())
      assert.equal(1001, b:expect_close())
      app = start()   -- for after_each
    end)
  end)

  describe("rooms", function()
    it("broadcasts to the members of a room only", function()
      local a, b, x = open(app, "a"), open(app, "b"), open(app, "x")
      for _, c in ipairs({ a, b }) do
        c:send("subscribe", { topic = "downloads" })
        local m = assert(c:recv_event())
        assert.equal("subscribed", m.event)
      end
      x:send("shout", { room = "downloads", event = "download:progress", data = { id = 7, pct = 50 } })
      for _, c in ipairs({ a, b }) do
        local m = assert(c:recv_event())
        assert.equal("download:progress", m.event)
        assert.same({ id = 7, pct = 50 }, m.data)
      end
      local m = assert(x:recv_event())
      assert.same({ reached = { 2 } }, m.data)
      -- x got nothing else: its next message is the echo it asks for now
      x:send("echo", "after")
      m = assert(x:recv_event())
      assert.equal("echo", m.event)
      -- unsubscribe: b leaves
      b:send("unsubscribe", { topic = "downloads" })
      assert.equal("unsubscribed", assert(b:recv_event()).event)
      x:send("shout", { room = "downloads", event = "again" })
      assert.same({ reached = { 1 } }, assert(x:recv_event()).data)
      assert.equal("again", assert(a:recv_event()).event)
      b:send("echo", "b-next")
      assert.equal("b-next", assert(b:recv_event()).data)
      a:close() b:close() x:close()
    end)

    it("refuses subscribing to someone else's user room", function()
      local c = open(app, "mallory")
      c:send("subscribe", { topic = "user:alice" })
      local m = assert(c:recv_event())
      assert.equal("error", m.event)
      assert.equal("FORBIDDEN", m.data.code)
      c:close()
    end)
  end)

  describe("metrics", function()
    local function gauge()
      local res = app:get("/metrics")
      assert.equal(200, res.status)
      local v = res.body:match("\nwebsocket_active_connections (%S+)\n")
      return v and tonumber(v)
    end

    it("websocket_active_connections rises and falls with connections", function()
      assert.equal(0, gauge())
      local cs = {}
      for i = 1, 3 do
        cs[i] = open(app, "g" .. i)
        h.wait_until(function() return gauge() == i end, 5, 0.01, i .. " connections in the gauge")
      end
      cs[1]:close()
      h.wait_until(function() return gauge() == 2 end, 5, 0.01, "the gauge to fall to 2")
      cs[2].conn:close()          -- dropped without a close handshake
      h.wait_until(function() return gauge() == 1 end, 5, 0.01, "the gauge to fall to 1")
      cs[3]:close()
      h.wait_until(function() return gauge() == 0 end, 5, 0.01, "the gauge to fall to 0")
    end)
  end)

  describe("slow readers and liveness", function()
    it("disconnects a client that stops reading while broadcasting goes on", function()
      app:stop()
      app = start({ queue_max = 64, queue_bytes = 1024 * 1024 })
      local slow, fast, sender = open(app, "s"), open(app, "f"), open(app, "t")
      for _, c in ipairs({ slow, fast }) do
        c:send("subscribe", { topic = "flood" })
        assert.equal("subscribed", assert(c:recv_event()).event)
      end
      slow.conn:pause()
      local big = ("y"):rep(16 * 1024)
      local rounds, last = 0, nil
      -- keep broadcasting until the slow client was dropped; the fast one reads all
      h.wait_until(function()
        sender:send("shout", { room = "flood", event = "f", data = big, times = 20 })
        local m = assert(sender:recv_event())
        last = m.data.reached
        for _ = 1, #last do
          local e = assert(fast:recv_event())
          assert.equal("f", e.event)
        end
        rounds = rounds + 1
        return last[#last] == 1
      end, 20, 0, "the slow client to be dropped")
      assert.is_true(rounds >= 1)
      -- broadcasting goes on for the fast client
      sender:send("shout", { room = "flood", event = "f", data = "small" })
      assert.same({ reached = { 1 } }, assert(sender:recv_event()).data)
      assert.equal("small", assert(fast:recv_event()).data)
      -- the slow client's connection is gone once it reads again
      slow.conn:resume()
      local gone = h.wait_until(function()
        local f, err = slow:recv_frame(5)
        if not f then return err end
        if f.opcode == 8 then return "close" end
      end, 20)
      assert.truthy(gone)
      fast:close() sender:close()
    end)

    it("pings, and closes a client that never answers", function()
      app:stop()
      app = start({ ping_interval = 0.05, pong_timeout = 0.3 })
      local quiet = open(app)
      quiet.auto_pong = false
      local alive = open(app)
      local t0 = require("nest.core.app").hrtime()
      -- the quiet one is closed (after being pinged); the other one keeps
      -- answering pings (its client answers while it reads) and stays open
      local code
      h.wait_until(function()
        alive:send("echo", "still here")
        assert.equal("still here", assert(alive:recv_event(3)).data)
        local f, err = quiet:recv_frame(0.02)
        if f and f.opcode == 9 then quiet.pings = (quiet.pings or 0) + 1 end
        if f and f.opcode == 8 then code = string.unpack(">I2", f.payload) return true end
        if not f and err ~= "timeout" then code = err return true end
      end, 5, 0.01, "the quiet client to be closed")
      assert.is_true((quiet.pings or 0) >= 1)
      assert.equal(1001, code)
      assert.is_true(require("nest.core.app").hrtime() - t0 >= 0.25)
      alive:send("echo", "still here")
      assert.equal("still here", assert(alive:recv_event(3)).data)
      assert.is_true((alive.pings or 0) >= 1)
      alive:close()
    end)
  end)
end)
