-- spec/integration/reload_ws_spec.lua — what lives in C survives reloads:
-- a WebSocket client stays connected and in its rooms across 100 reloads and
-- receives a broadcast from the new code; a child process started before a
-- reload keeps streaming its lines to clients after it (the reading task
-- stays on its generation, which it holds past the drain deadline).
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"
local rs = require "spec.fixtures.plugins.reload_ver.support"

local function start()
  return rs.start({ extra_plugins = { "ws" },
                    config = { websocket = { test_token = "reload-spec" },
                               reload = { drain_timeout = 0.3 }, log = { level = "warn" } } })
end

local function subscribe(c, topic)
  c:send("subscribe", { topic = topic })
  local ev = assert(c:recv_event(5))
  assert.equal("subscribed", ev.event)
end

describe("reload and what lives in C", function()
  it("keeps a WebSocket client connected and in its rooms across 100 reloads", function()
    local env = start()
    local ok, err = pcall(function()
      local c = assert(hw.connect(env.app, "/ws?token=reload-spec&user=alice"))
      subscribe(c, "lobby")
      local _, gen0 = env:ver()
      for k = 1, 100 do
        if k % 2 == 1 then env:write("v" .. k) end
        local r = env.app.handle:reload({ force = true })
        assert(r.ok, r.message)
      end
      local v, gen = env:ver()
      assert.equal("v99", v)
      assert.equal(gen0 + 100, gen)
      -- messages run on the new generation; the room is still there
      c:send("ping", { k = 1 })
      assert.equal("pong", c:recv_event(5).event)
      local b = env.app:get("/bcast?room=lobby")
      assert.equal(1, math.tointeger(b.json.reached))
      local ev = assert(c:recv_event(5))
      assert.equal("ver", ev.event)
      assert.equal("v99", ev.data.v)
      assert.equal(gen, math.tointeger(ev.data.gen))
      c:close()
    end)
    env:stop()
    assert(ok, err)
  end)

  it("keeps streaming a child process' lines after reloads, past the drain deadline", function()
    local env = start()
    local ok, err = pcall(function()
      local c = assert(hw.connect(env.app, "/ws?token=reload-spec&user=bob"))
      subscribe(c, "proc")
      local _, gen0 = env:ver()
      local N = 30
      assert.equal(202, env.app:post("/proc/start?n=" .. N .. "&delay=0.05", {}).status)
      local first = assert(c:recv_event(5))
      assert.equal("line", first.event)
      assert.equal(1, math.tointeger(first.data.n))
      -- three reloads while the child runs (about 1.5 s, the drain deadline is 0.3 s)
      for k = 2, 4 do
        env:write("v" .. k)
        assert(env.app.handle:reload().ok)
      end
      local got, done = { [1] = true }, nil
      while not done do
        local ev = assert(c:recv_event(5))
        if ev.event == "done" then done = ev.data
        elseif ev.event == "line" then
          got[math.tointeger(ev.data.n)] = true
          assert.equal(gen0, math.tointeger(ev.data.gen))   -- streamed by the task that started it
        end
      end
      for i = 1, N do assert(got[i], "line " .. i .. " missing") end
      assert.equal(0, math.tointeger(done.code))
      -- while it streamed, the old generation was held, not cancelled; now it closes
      h.wait_until(function() return #env.app.handle:runtime().generations == 1 end, 5, 0.02)
      assert.equal("v4", (env:ver()))
      c:close()
    end)
    env:stop()
    assert(ok, err)
  end)

  it("cancels an unheld old generation's tasks at the drain deadline", function()
    local env = start()
    local ok, err = pcall(function()
      local slow = env.app:client()
      local res, rerr
      require("nest.timer").at(0, function() res, rerr = slow:get("/slow?s=30", { timeout = 2 }) end)
      h.wait_until(function() return env.app.handle:runtime().generations[1].tasks > 0 end, 5, 0.005)
      env:write("v2")
      assert(env.app.handle:reload().ok)
      -- 0.3 s deadline: the 30 s request is cancelled and the generation closed
      h.wait_until(function() return #env.app.handle:runtime().generations == 1 end, 5, 0.05)
      -- the cut-off request is answered 503, not left hanging
      h.wait_until(function() return res or rerr end, 5, 0.05)
      assert(res, rerr)
      assert.equal(503, res.status)
      assert.equal("v2", (env:ver()))
    end)
    env:stop()
    assert(ok, err)
  end)
end)
