-- spec/integration/reload_memory_spec.lua — no leaked generations: after
-- 1,000 reloads the process' RSS and the Lua memory are back within 10 %
-- of their level after the first 10. Prints the figures (recorded in
-- bench/results/reload-2026-11-24.md). About 10 s; MN_RELOAD_MEMORY_N
-- changes the count (e.g. 200 under ASan, where each reload is slower).
local h = require "spec.helpers"
local rs = require "spec.fixtures.plugins.reload_ver.support"

local N = tonumber(os.getenv("MN_RELOAD_MEMORY_N") or "") or 1000

-- Under AddressSanitizer freed memory sits in its quarantine (hundreds of
-- MiB), so RSS says nothing there: only the Lua memory is checked.
local function sanitized()
  local f = io.open("/proc/self/maps")
  if not f then return false end
  local s = f:read("a")
  f:close()
  return s:find("libasan", 1, true) ~= nil
end

local function rss()
  local f = assert(io.open("/proc/self/statm"))
  local _, res = f:read("n", "n")
  f:close()
  return res * 4096
end

describe("reload memory", function()
  it("returns to its level after " .. N .. " reloads (no leaked generations)", function()
    local env = rs.start({ config = { log = { level = "warn" }, reload = { drain_timeout = 5 } } })
    local ok, err = pcall(function()
      local function settle()
        h.wait_until(function() return #env.app.handle:runtime().generations == 1 end, 10, 0.01)
        collectgarbage() collectgarbage()
        local lua = env.app:get("/gc").json.lua_memory
        return rss(), lua
      end
      local function reloads(n)
        for _ = 1, n do
          local r = env.app.handle:reload({ force = true })
          assert(r.ok, r.message)
          env.app:get("/ver")    -- every generation serves at least one request
        end
      end
      reloads(10)
      local rss10, lua10 = settle()
      local t0 = require("nest.core.app").hrtime()
      reloads(N - 10)
      local secs = require("nest.core.app").hrtime() - t0
      local rssN, luaN = settle()
      print(("\nreload memory: after 10 reloads RSS %.1f MiB, Lua %.0f KiB; after %d: RSS %.1f MiB (%+.1f%%), "
        .. "Lua %.0f KiB (%+.1f%%); %.1f ms per reload"):format(rss10 / 1048576, lua10 / 1024, N,
        rssN / 1048576, (rssN / rss10 - 1) * 100, luaN / 1024, (luaN / lua10 - 1) * 100, secs * 1000 / (N - 10)))
      if not sanitized() then assert.is_true(rssN <= rss10 * 1.10, "RSS grew more than 10 %") end
      assert.is_true(luaN <= lua10 * 1.10, "Lua memory grew more than 10 %")
    end)
    env:stop()
    assert(ok, err)
  end)
end)
