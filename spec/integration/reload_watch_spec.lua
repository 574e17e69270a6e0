-- spec/integration/reload_watch_spec.lua — dev.watch: a change under the
-- plugin directories (or the config file) reloads after the debounce; a
-- broken change keeps the old generation and the error shows in
-- GET /api/v1/admin/runtime's last_reload (and the log, reload.json).
local h = require "spec.helpers"
local rs = require "spec.fixtures.plugins.reload_ver.support"
local json = require "nest.json"

describe("dev.watch", function()
  local env
  before_each(function()
    env = rs.start({ config = { dev = { watch = true }, reload = { debounce = 0.05 } } })
  end)
  after_each(function() env:stop() end)

  local function last_reload()
    return env.app:get("/api/v1/admin/runtime").json.last_reload
  end

  it("reloads when a plugin file changes, debounced into one reload", function()
    assert.is_true(env.app:get("/api/v1/admin/runtime").json.watching)
    local _, gen = env:ver()
    for i = 1, 5 do env:write("w" .. i) end   -- a burst of writes
    h.wait_until(function() return env:ver() == "w5" end, 5, 0.02, "the watcher's reload")
    local lr = last_reload()
    assert.equal("watch", lr.trigger)
    assert.equal(gen + 1, math.tointeger(lr.generation))
  end)

  it("keeps the old generation on a syntax error and reports it; a fix reloads", function()
    local _, gen = env:ver()
    env:write("broken", "local = 1")
    local lr = h.wait_until(function()
      local r = last_reload()
      return r ~= json.null and r.ok == false and r
    end, 5, 0.02, "the failed reload")
    assert.equal("reload_ver", lr.plugin)
    assert.equal("watch", lr.trigger)
    assert.truthy(lr.error:find("reload_ver/init.lua", 1, true), lr.error)
    local v, g = env:ver()
    assert.equal("v1", v)
    assert.equal(gen, g)
    -- also written for `medianest reload` and operators
    local f = assert(io.open(env.dir .. "/data/reload.json"))
    local file = json.decode(f:read("a"))
    f:close()
    assert.is_false(file.ok)
    env:write("fixed")
    h.wait_until(function() return env:ver() == "fixed" end, 5, 0.02)
  end)

  it("reacts to the config file, and an init that raises keeps the old code", function()
    env:write("v-init", "function plugin.init() error('boom in init') end")
    local lr = h.wait_until(function()
      local r = last_reload()
      return r ~= json.null and r.ok == false and r
    end, 5, 0.02)
    assert.equal("reload_ver", lr.plugin)
    env:write("v1")
    h.wait_until(function() local r = last_reload() return r.ok and r end, 5, 0.02)
    env:write_config("return { bogus_setting = true }\n")
    lr = h.wait_until(function()
      local r = last_reload()
      return r.ok == false and r.error:find("bogus_setting", 1, true) and r
    end, 5, 0.02, "the invalid config's reload")
    assert.is_true(lr.plugin == nil or lr.plugin == json.null)
    assert.equal("v1", (env:ver()))
    env:write_config("return {}\n")
  end)
end)
