-- spec/integration/reload_spec.lua — docs/architecture.md#generations-and-hot-reload: a new
-- generation takes over atomically, failures keep the old one, unchanged
-- trees are no-ops, old generations drain and close.
local h = require "spec.helpers"
local rs = require "spec.fixtures.plugins.reload_ver.support"
local timer = require "nest.timer"

describe("hot reload", function()
  local env
  before_each(function() env = rs.start() end)
  after_each(function() env:stop() end)

  it("swaps to the new code and says so; an unchanged tree is a no-op", function()
    local v, gen = env:ver()
    assert.equal("v1", v)
    env:write("v2")
    local r = env.app:post("/api/v1/admin/reload", {})
    assert.equal(200, r.status, r.body)
    assert.is_true(r.json.ok)
    assert.equal(gen, r.json.previous)
    assert.is_true(r.json.generation > gen)
    local v2, gen2 = env:ver()
    assert.equal("v2", v2)
    assert.equal(r.json.generation, gen2)
    -- nothing changed: no new generation
    local again = env.app:post("/api/v1/admin/reload", {})
    assert.equal(200, again.status)
    assert.is_true(again.json.noop)
    assert.equal(gen2, again.json.generation)
    assert.equal(gen2, select(2, env:ver()))
    -- force builds one anyway
    local forced = env.app:post("/api/v1/admin/reload", { force = true })
    assert.is_true(forced.json.ok)
    assert.is_nil(forced.json.noop)
    assert.equal(gen2 + 1, forced.json.generation)
  end)

  it("retires the old generation: destroy runs, timers fire premature, it is closed", function()
    local _, gen = env:ver()
    env:write("v2")
    assert.is_true(env.app.handle:reload().ok)
    h.wait_until(function()
      local ev = env.app:get("/events").json
      return ev.destroyed:find(gen .. ",", 1, true) and ev.premature:find(gen .. ",", 1, true)
    end, 5, 0.02, "destroy and the premature timer of the old generation")
    h.wait_until(function()
      local rt = env.app.handle:runtime()
      return #rt.generations == 1
    end, 5, 0.02, "the old generation to close")
    local rt = env.app:get("/api/v1/admin/runtime")
    assert.equal(200, rt.status)
    assert.equal(gen + 1, rt.json.generation)
    assert.equal(0, #rt.json.draining)
    assert.is_true(rt.json.last_reload.ok)
    assert.is_true(rt.json.generations[1].lua_memory > 0)
  end)

  local failures = {
    { "a syntax error", function() env:write("broken", "local x = = 1") end, "reload_ver" },
    { "an init that raises", function() env:write("v-init", "function plugin.init() error('boom in init') end") end,
      "reload_ver", "boom in init" },
    { "an invalid config", function() env:write_config("return { bogus_setting = 1 }\n") end, nil, "bogus_setting" },
    { "a duplicate route", function()
        env:write("dup", "local orig = plugin.routes\nfunction plugin.routes(r) orig(r) orig(r) end")
      end, "reload_ver" },
  }
  for _, case in ipairs(failures) do
    it("keeps the old generation serving after " .. case[1], function()
      local _, gen = env:ver()
      case[2]()
      local r = env.app:post("/api/v1/admin/reload", {})
      assert.equal(422, r.status, r.body)
      assert.is_false(r.json.ok)
      assert.is_string(r.json.error)
      if case[3] then assert.equal(case[3], r.json.plugin) else assert.equal(require("nest.json").null, r.json.plugin) end
      if case[4] then assert.truthy(r.json.error:find(case[4], 1, true), r.json.error) end
      assert.equal(gen, r.json.generation)
      local v, g = env:ver()
      assert.equal("v1", v)
      assert.equal(gen, g)
      -- the runtime endpoint remembers it, and the thrown-away generation goes away
      local rt = env.app:get("/api/v1/admin/runtime").json
      assert.is_false(rt.last_reload.ok)
      h.wait_until(function() return #env.app.handle:runtime().generations == 1 end, 5, 0.02)
      -- fixing it reloads
      env:write("fixed")
      env:write_config("return {}\n")
      local ok = env.app:post("/api/v1/admin/reload", {})
      assert.equal(200, ok.status, ok.body)
      assert.equal("fixed", (env:ver()))
    end)
  end

  it("lets a long request finish on the old code while new requests get the new", function()
    local slow = env.app:client()
    local done
    timer.at(0, function()
      done = assert(slow:get("/slow?s=2"))
    end)
    h.wait_until(function() return env.app.handle:runtime().generations[1].tasks > 0 end, 5, 0.005)
    env:write("v2")
    local t0 = require("nest.core.app").hrtime()
    assert.is_true(env.app.handle:reload().ok)
    assert.equal("v2", (env:ver()))
    assert.is_nil(done)
    h.wait_until(function() return done end, 5, 0.02, "the slow request")
    assert.equal(200, done.status)
    assert.equal("v1", done.json.v)
    assert.is_true(require("nest.core.app").hrtime() - t0 < 2.5)
  end)

  it("refuses a reload while one is building (busy), without interleaving", function()
    env:write("v2")
    local results = {}
    for i = 1, 2 do
      timer.at(0, function() results[i] = env.app.handle:reload({ force = true }) end)
    end
    h.wait_until(function() return results[1] and results[2] end, 10, 0.01)
    local busy, ok = 0, 0
    for _, r in ipairs(results) do
      if r.busy then busy = busy + 1 assert.is_false(r.ok) elseif r.ok then ok = ok + 1 end
    end
    assert.equal(1, busy)
    assert.equal(1, ok)
    assert.equal("v2", (env:ver()))
  end)

  it("answers 403 to a plain user and 401 without one", function()
    local other = rs.start({})
    other:stop()
    local app = h.start_fixtures({ "runtime", "reload_user" })
    local r = app:post("/api/v1/admin/reload", {})
    assert.equal(403, r.status)
    assert.equal(403, app:get("/api/v1/admin/runtime").status)
    app:stop()
    local anon = h.start_fixtures({ "runtime" })
    assert.equal(401, anon:post("/api/v1/admin/reload", {}).status)
    assert.equal(401, anon:get("/api/v1/admin/runtime").status)
    anon:stop()
  end)
end)
