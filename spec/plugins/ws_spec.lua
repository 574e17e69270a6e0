-- spec/plugins/ws_spec.lua — plugins/ws itself: its routes and hooks, the
-- event handlers it collects, and the benchmark event that exists only in
-- bench mode. (The protocol is in spec/integration/ws_spec.lua, the
-- cross-instance relay in ws_cluster_spec.lua.)
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"

local TOKEN = "plugin-spec-token"

local function start(extra)
  local cfg = { websocket = { test_token = TOKEN }, redis = { url = "" },
                plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return h.start({ plugins = { "health", "ws", "wsecho" }, config = cfg })
end

describe("plugins/ws", function()
  local app
  after_each(function() if app then app:stop() app = nil end end)

  it("declares GET /ws at the root with auth user", function()
    app = start()
    local res = app:get("/ws")
    assert.equal(401, res.status)
    assert.equal(404, app:get("/api/v1/ws").status)
  end)

  it("collects the handlers other plugins declare", function()
    app = start()
    local c = assert(hw.connect(app, "/ws?token=" .. TOKEN))
    c:send("echo", "x")
    assert.same({ event = "echo", data = "x" }, assert(c:recv_event()))
    c:close()
  end)

  it("has no bench:broadcast event outside bench mode", function()
    app = start()
    local c = assert(hw.connect(app, "/ws?token=" .. TOKEN))
    c:send("bench:broadcast", { seq = 1 })
    local m = assert(c:recv_event())
    assert.equal("error", m.event)
    assert.equal("UNKNOWN_EVENT", m.data.code)
    c:close()
  end)

  it("broadcasts bench:broadcast to room bench in bench mode", function()
    app = start({ bench = { enabled = true } })
    local member = assert(hw.connect(app, "/ws?token=" .. TOKEN .. "&user=m"))
    member:send("subscribe", { topic = "bench" })
    assert.equal("subscribed", assert(member:recv_event()).event)
    local sender = assert(hw.connect(app, "/ws?token=" .. TOKEN .. "&user=s"))
    sender:send("bench:broadcast", { seq = 7 })
    local sent = assert(sender:recv_event())
    assert.equal("bench:sent", sent.event)
    assert.equal(7, sent.data.seq)
    assert.equal(1, sent.data.reached)
    assert.is_true(sent.data.fanout_ms >= 0)
    assert.same({ event = "bench", data = { seq = 7 } }, assert(member:recv_event()))
    member:close() sender:close()
  end)
end)
