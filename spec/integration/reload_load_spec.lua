-- spec/integration/reload_load_spec.lua — reload under load (issue 5's
-- acceptance): keep-alive clients hammer a route for 20 s while 100 reloads
-- happen, half of them changing the route's answer. Zero failed or reset
-- requests; every answer is a version that was live; afterwards only the
-- last version is served. The figures are printed for bench/results.
local h = require "spec.helpers"
local rs = require "spec.fixtures.plugins.reload_ver.support"
local timer = require "nest.timer"
local napp = require "nest.core.app"

local DURATION = tonumber(os.getenv("MN_RELOAD_LOAD_SECONDS") or "") or 20
local RELOADS = 100
local CLIENTS = 8

describe("reload under load", function()
  it("drops nothing across 100 reloads in " .. DURATION .. " s", function()
    local env = rs.start({ version = "v0" })
    local ok, err = pcall(function()
      local written = { v0 = true }
      local stop = false
      local stats = { ok = 0, failed = 0, bad = 0, errors = {} }
      local per_sec = {}
      local t0 = napp.hrtime()
      local running = 0
      for i = 1, CLIENTS do
        running = running + 1
        timer.at(0, function()
          local c = env.app:client()
          while not stop do
            local res, rerr = c:get("/ver")
            if not res or res.status ~= 200 then
              stats.failed = stats.failed + 1
              if #stats.errors < 5 then stats.errors[#stats.errors + 1] = tostring(rerr or res.status) end
            elseif not written[res.json.v] then
              stats.bad = stats.bad + 1
            else
              stats.ok = stats.ok + 1
              local s = math.floor(napp.hrtime() - t0)
              per_sec[s] = (per_sec[s] or 0) + 1
            end
          end
          running = running - 1
        end)
      end
      -- 100 reloads spread over the duration; odd ones change the answer
      local times, last = {}, "v0"
      local interval = DURATION / (RELOADS + 1)
      local reloads_at = {}
      for k = 1, RELOADS do
        timer.sleep(interval)
        if k % 2 == 1 then
          last = "v" .. k
          written[last] = true      -- before the file changes: a valid answer from now on
          env:write(last)
        end
        local r = env.app.handle:reload({ force = k % 2 == 0 })
        assert(r.ok and not r.noop, "reload " .. k .. ": " .. tostring(r.message))
        times[#times + 1] = r.seconds
        reloads_at[math.floor(napp.hrtime() - t0)] = true
      end
      timer.sleep(math.max(0, DURATION - (napp.hrtime() - t0)))
      stop = true
      h.wait_until(function() return running == 0 end, 10)
      -- afterwards only the new version answers, on every keep-alive client
      for _ = 1, 20 do
        local res = assert(env.app:get("/ver"))
        assert.equal(last, res.json.v)
      end
      table.sort(times)
      local function pct(p) return times[math.max(1, math.ceil(#times * p))] * 1000 end
      local secs, sum, lo = 0, 0, math.huge
      for s = 1, math.floor(DURATION) - 2 do
        if per_sec[s] then secs = secs + 1 sum = sum + per_sec[s] lo = math.min(lo, per_sec[s]) end
      end
      print(("\nreload under load: %d requests ok, %d failed, %d unexpected answers; "
        .. "%d reloads, build p50 %.1f ms p99 %.1f ms; throughput mean %.0f req/s, worst second %.0f req/s")
        :format(stats.ok, stats.failed, stats.bad, #times, pct(0.5), pct(0.99), sum / math.max(secs, 1), lo))
      assert.equal(0, stats.failed, table.concat(stats.errors, "; "))
      assert.equal(0, stats.bad)
      assert.is_true(stats.ok > 1000)
      -- every old generation drained and closed
      h.wait_until(function() return #env.app.handle:runtime().generations == 1 end, 10, 0.05)
    end)
    env:stop()
    assert(ok, err)
  end)
end)
