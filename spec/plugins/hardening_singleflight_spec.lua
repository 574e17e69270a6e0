-- spec/plugins/hardening_singleflight_spec.lua — single-flight when the
-- caller that started the load goes away (issue 17): its client
-- disconnects, its task is cancelled, and the callers waiting on the same
-- key still get the value as soon as the loader is done (nest.cache runs
-- the loader detached), instead of waiting out opts.wait for a 500.
-- plugins/auth/pins.lua's memoised plex.tv polls go through the same
-- cache.fetch.
local h = require "spec.helpers"
local tcp = require "nest.core.tcp"
local napp = require "nest.core.app"
local timer = require "nest.timer"
local crypto = require "nest.crypto"

describe("single-flight", function()
  local app
  setup(function() app = h.start_fixtures({ "slowcache" }) end)
  teardown(function() app:stop() end)

  local function raw_get(path)
    local c = assert(tcp.connect(app.host, app.port, 2))
    assert(c:write(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n"):format(path)))
    return c
  end

  it("serves the waiters when the first caller disconnects mid-load", function()
    local key = crypto.hex(crypto.random(6))
    local path = "/api/v1/slowcache/load?delay=0.5&key=" .. key
    local first = raw_get(path)                       -- starts the load
    timer.sleep(0.05)
    local results, t0 = {}, napp.hrtime()
    for i = 1, 5 do
      timer.at(0, function()
        local r = app:client():get(path, { timeout = 15 })
        results[i] = { status = r.status, value = r.json and r.json.value, secs = napp.hrtime() - t0 }
      end)
    end
    timer.sleep(0.05)
    first:close()                                     -- its task is cancelled now
    h.wait_until(function() return #results == 5 end, 15, 0.01, "the waiters' answers")
    for i = 1, 5 do
      assert.equal(200, results[i].status)
      assert.equal("loaded-1", results[i].value)
      assert.is_true(results[i].secs < 2, ("waiter %d answered after %.1f s"):format(i, results[i].secs))
    end
    assert.equal(1, app:get("/api/v1/slowcache/calls?key=" .. key).json.calls)
    -- and the value was cached: the next caller does not load again
    local r = app:get(path)
    assert.equal("l1", r.json.level)
    assert.equal(1, app:get("/api/v1/slowcache/calls?key=" .. key).json.calls)
  end)

  it("finishes and caches the load even when every caller went away", function()
    local key = crypto.hex(crypto.random(6))
    local path = "/api/v1/slowcache/load?delay=0.2&key=" .. key
    local c = raw_get(path)
    timer.sleep(0.05)
    c:close()
    h.wait_until(function()
      return app:get(path).json.level == "l1"
    end, 3, 0.05, "the detached load to be cached")
    assert.equal(1, app:get("/api/v1/slowcache/calls?key=" .. key).json.calls)
  end)
end)
