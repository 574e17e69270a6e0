-- spec/integration/ws_cluster_spec.lua — ws.broadcast across instances:
-- two apps in this process sharing one Redis, real WebSocket clients on
-- both; one broadcast reaches every member on both exactly once. Without
-- Redis (or with it unreachable) broadcasts are delivered locally.
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"
local napp = require "nest.core.app"

local REDIS_URL = os.getenv("REDIS_URL")
local TOKEN = "cluster-token"
local run = ("%x%04x"):format(math.floor(napp.now() * 1000), math.random(0, 0xffff))
local CHANNEL = "medianest:ws:spec:" .. run     -- other runs sharing this Redis stay out

local function start(extra)
  local cfg = {
    websocket = { test_token = TOKEN, channel = CHANNEL },
    plugins = { paths = { h.root .. "/spec/fixtures/plugins" } },
  }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return h.start({ plugins = { "health", "ws", "wsecho" }, config = cfg })
end

local function open(app, user)
  local c, res = hw.connect(app, "/ws?token=" .. TOKEN .. "&user=" .. user)
  assert(c, "upgrade failed: " .. tostring(res and res.status))
  return c
end

local function subscribe(c, topic)
  c:send("subscribe", { topic = topic })
  local m = assert(c:recv_event())
  assert.equal("subscribed", m.event)
end

-- c asks its instance to broadcast; -> how many local members it reached
local function shout(c, room, event, data)
  c:send("shout", { room = room, event = event, data = data })
  local m = assert(c:recv_event())
  assert.equal("shouted", m.event)
  return m.data.reached[1]
end

describe("websocket broadcast across instances", function()
  local a, b
  local clients = {}

  local function new_client(app, user)
    local c = open(app, user)
    clients[#clients + 1] = c
    return c
  end

  -- wait until `from`'s broadcasts reach `to` (its relay is subscribed)
  local function await_relay(from, to)
    local room = "probe-" .. run .. "-" .. from.port
    local sender, probe = new_client(from, "ps"), new_client(to, "pr")
    subscribe(probe, room)
    h.wait_until(function()
      shout(sender, room, "probe")
      local m = probe:recv_event(0.2)
      return m and m.event == "probe"
    end, 10, 0, "the relay from :" .. from.port .. " to :" .. to.port)
  end

  setup(function()
    assert(REDIS_URL and REDIS_URL ~= "", "REDIS_URL must be set (scripts/lib/services.sh)")
    a, b = start(), start()
    await_relay(a, b)
    await_relay(b, a)
  end)

  teardown(function()
    for _, c in ipairs(clients) do c:close() end
    if a then a:stop() end
    if b then b:stop() end
  end)

  it("delivers one broadcast to the members on both instances, exactly once each", function()
    local room = "room-" .. run
    local members = {
      new_client(a, "a1"), new_client(a, "a2"), new_client(b, "b1"), new_client(b, "b2"),
    }
    for _, c in ipairs(members) do subscribe(c, room) end
    local sa, sb = new_client(a, "sa"), new_client(b, "sb")   -- not members
    -- hello from A, then markers alternating between the instances, each
    -- sent once every member has the one before (a member on A gets A's own
    -- messages at once and B's through Redis: sent back to back, they could
    -- cross). A copy an instance delivered a second time (its own message
    -- coming back through its subscription) would be read in place of the
    -- next marker, or be left over at the end.
    local got = {}
    for i = 1, #members do got[i] = {} end
    local function everyone_gets()
      for i, c in ipairs(members) do
        local m = assert(c:recv_event(5), "member " .. i .. ": a message is missing")
        got[i][#got[i] + 1] = m.event .. ":" .. (m.event == "hello" and tostring(m.data.n) or m.data)
      end
    end
    assert.equal(2, shout(sa, room, "hello", { n = 1 })); everyone_gets()
    assert.equal(2, shout(sb, room, "mark", "B1")); everyone_gets()
    assert.equal(2, shout(sa, room, "mark", "A1")); everyone_gets()
    assert.equal(2, shout(sb, room, "mark", "B2")); everyone_gets()
    for i = 1, #members do
      assert.same({ "hello:1", "mark:B1", "mark:A1", "mark:B2" }, got[i])
    end
    -- and nothing after the last marker: the next message each member gets
    -- is the answer to its own request
    for _, c in ipairs(members) do
      c:send("echo", "last")
      local m = assert(c:recv_event())
      assert.equal("echo", m.event)
      assert.equal("last", m.data)
    end
    -- the senders, not members, got nothing but their own answers
    for _, c in ipairs({ sa, sb }) do
      c:send("echo", "quiet")
      assert.equal("quiet", assert(c:recv_event()).data)
    end
  end)

  it("delivers a relayed message once even when it arrives twice (overlapping subscriptions)", function()
    local redis = require "nest.redis"
    local json = require "nest.json"
    redis.configure({ url = REDIS_URL })
    local room = "dup-" .. run
    local c = new_client(b, "d1")
    subscribe(c, room)
    local function pub(seq, text)
      local msg = json.encode({ event = "relayed", data = text })
      local n = assert(redis.call("PUBLISH", CHANNEL, json.encode({
        origin = "spec-" .. run, seq = seq, room = room, msg = msg })))
      assert.is_true(n >= 2)   -- both instances' relays
    end
    pub(1, "one")
    pub(1, "one")     -- the same message again: dropped
    pub(2, "two")
    pub(2, "two")
    assert.is_true(redis.call("PUBLISH", CHANNEL, "not json") >= 2)   -- ignored
    pub(3, "three")
    for _, want in ipairs({ "one", "two", "three" }) do
      local m = assert(c:recv_event())
      assert.equal("relayed", m.event)
      assert.equal(want, m.data)
    end
    c:send("echo", "end")
    assert.equal("end", assert(c:recv_event()).data)
  end)

  it("delivers a user's room on every instance the user is connected to", function()
    local user = "u" .. run
    local on_a, on_b = new_client(a, user), new_client(b, user)
    local other = new_client(b, user .. "x")
    local s = new_client(a, "sender")
    assert.equal(1, shout(s, "user:" .. user, "notification", { id = 9 }))
    for _, c in ipairs({ on_a, on_b }) do
      local m = assert(c:recv_event())
      assert.equal("notification", m.event)
      assert.same({ id = 9 }, m.data)
    end
    other:send("echo", "none for me")
    assert.equal("none for me", assert(other:recv_event()).data)
  end)
end)

describe("websocket broadcast without Redis", function()
  local app

  after_each(function() if app then app:stop() app = nil end end)

  local function local_only(redis_url)
    app = start({ redis = { url = redis_url, connect_timeout = 0.2, reconnect_max = 0.2 } })
    local m1, m2, s = open(app, "m1"), open(app, "m2"), open(app, "s")
    subscribe(m1, "solo")
    subscribe(m2, "solo")
    for i = 1, 3 do
      assert.equal(2, shout(s, "solo", "tick", i))
      for _, c in ipairs({ m1, m2 }) do
        local m = assert(c:recv_event())
        assert.equal("tick", m.event)
        assert.equal(i, m.data)
      end
    end
    for _, c in ipairs({ m1, m2, s }) do c:close() end
  end

  it("delivers locally when Redis is not configured", function()
    local_only("")
  end)

  it("delivers locally, without waiting, while Redis is unreachable", function()
    -- a loopback port nobody listens on: an app's, once it stopped
    local gone = h.start({ plugins = { "health" } })
    local port = gone.port
    gone:stop()
    local t0 = napp.hrtime()
    local_only(("redis://127.0.0.1:%d/0"):format(port))
    assert.is_true(napp.hrtime() - t0 < 1.5, "no waiting on the dead Redis")
  end)
end)
