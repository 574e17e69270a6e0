-- spec/plugins/runtime_spec.lua — plugins/runtime: GET /api/v1/admin/runtime
-- and POST /api/v1/admin/reload (admin only), and the reload metrics.
local h = require "spec.helpers"

local function start(extra)
  local enabled = { "runtime", "metrics" }
  for _, p in ipairs(extra) do enabled[#enabled + 1] = p end
  return h.start_fixtures(enabled)
end

describe("plugins/runtime", function()
  it("shows the current generation, draining ones, memory, pools and the process", function()
    local app = start({ "reload_admin" })
    local rt = app:get("/api/v1/admin/runtime")
    assert.equal(200, rt.status)
    local j = rt.json
    assert.equal(1, math.tointeger(j.generation))
    assert.equal(1, #j.generations)
    assert.equal("current", j.generations[1].state)
    assert.is_true(j.generations[1].lua_memory > 0)
    assert.equal(0, #j.draining)
    assert.is_false(j.reloading)
    assert.equal(64, #j.hash)
    assert.is_true(j.process.rss_bytes > 0)
    assert.is_table(j.pools)
    assert.is_table(j.breakers)
    assert.equal(0, math.tointeger(j.websocket.connections))
    -- after a reload: the new generation, the last result
    local r = app:post("/api/v1/admin/reload", { force = true })
    assert.equal(200, r.status)
    assert.equal(2, math.tointeger(r.json.generation))
    assert.equal("admin", r.json.trigger)
    assert.is_string(r.json.message)
    j = app:get("/api/v1/admin/runtime").json
    assert.equal(2, math.tointeger(j.generation))
    assert.is_true(j.last_reload.ok)
    app:stop()
  end)

  it("counts reloads by result and exposes runtime_generations and the duration histogram", function()
    local app = start({ "reload_admin" })
    assert.equal(200, app:post("/api/v1/admin/reload", { force = true }).status)
    assert.is_true(app:post("/api/v1/admin/reload", {}).json.noop)
    local m = app:get("/metrics").body
    assert.truthy(m:find('reloads_total{result="ok"} 1', 1, true), m)
    assert.truthy(m:find('reloads_total{result="noop"} 1', 1, true), m)
    assert.truthy(m:find("reload_duration_seconds_count 1", 1, true), m)
    assert.truthy(m:find("\nruntime_generations %d"), m)
    assert.truthy(m:find("\nlua_memory_bytes %d"), m)
    app:stop()
  end)

  it("is for administrators only", function()
    local app = start({ "reload_user" })
    assert.equal(403, app:post("/api/v1/admin/reload", {}).status)
    assert.equal(403, app:get("/api/v1/admin/runtime").status)
    app:stop()
  end)
end)
