-- spec/integration/plugins_spec.lua — the plugin loader, over real apps.
local h = require "spec.helpers"

describe("the plugin loader", function()
  it("finds an operator's plugin before the shipped one", function()
    local app = h.start({ config = { plugins = { paths = { h.root .. "/spec/fixtures/plugins_operator" } } } })
    local res = assert(app:get("/health"))
    app:stop()
    assert.same({ status = "operator" }, res.json)
  end)

  it("validates plugin settings against the schema and fills defaults", function()
    local app = h.start({ plugins = { "health", "bench" },
                          config = { plugins = { settings = { bench = { services = 3 } } } } })
    local res = assert(app:get("/bench/status"))
    app:stop()
    assert.equal(3, #res.json.services)
  end)

  it("refuses to start with invalid plugin settings, naming the setting", function()
    local ok, err = pcall(h.start, { plugins = { "health", "bench" },
                                     config = { plugins = { settings = { bench = { services = "x" } } } } })
    assert.is_false(ok)
    assert.matches("plugins.settings.bench.services: expected integer", err)
  end)

  it("refuses to start when an enabled plugin does not exist", function()
    local ok, err = pcall(h.start, { plugins = { "health", "no_such_plugin" } })
    assert.is_false(ok)
    assert.matches("plugin no_such_plugin not found", err)
  end)
end)
