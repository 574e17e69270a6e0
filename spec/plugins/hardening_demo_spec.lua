-- spec/plugins/hardening_demo_spec.lua — the demo is for one machine (issue
-- 17): `serve --demo` refuses a listen address beyond loopback unless the
-- operator adds --demo-public (and is warned that anyone reaching the port
-- can sign in as the owner); the demo's control and PIN-approval endpoints
-- and /bench/* exist in demo mode only, never in the default configuration,
-- and the test-only plugins are refused on a public listen without --demo.
local h = require "spec.helpers"
local napp = require "nest.core.app"
local proc = require "nest.proc"
local timer = require "nest.timer"
local config = require "nest.config"
local cjson = require "cjson.safe"

-- Routes that sign people in or steer the fakes: never outside demo mode.
local TEST_ONLY = {
  { "GET", "/bench/status" },
  { "GET", "/bench/users/1" },
  { "GET", "/demo/plextv/_control" },
  { "POST", "/demo/plextv/_control", { latency_ms = 0 } },
  { "POST", "/demo/plextv/api/v2/pins/1/approve", { user = "owner" } },
  { "POST", "/demo/plextv/auth/approve", { user = "owner" } },
  { "GET", "/demo/plex/_control" },
}

local function start_raw(opts)
  local cfg = { listen = opts.listen, log = { file = h.tmpname(".log") },
                static = { dir = h.root .. "/spec/fixtures/no-static" },
                plugins = { enabled = opts.plugins or { "health" } } }
  local handle, err = napp.start({ overrides_json = cjson.encode(cfg), demo = opts.demo,
                                   demo_public = opts.demo_public })
  return handle, err, cfg.log.file
end

describe("demo mode", function()
  it("has none of the test-only routes in the default configuration", function()
    local saved = config.get()
    local app = h.start({ plugins = config.defaults().plugins.enabled })
    config.use(saved)
    -- stopped even when an assertion fails: its YouTube workers would take
    -- other specs' queued downloads from the shared database
    finally(function() app:stop() end)
    for _, rt in ipairs(TEST_ONLY) do
      -- without a body: a body no route takes is refused (413) before routing
      local r = assert(app:request(rt[1], rt[2]))
      assert.equal(404, r.status, rt[1] .. " " .. rt[2])
    end
  end)

  it("has them with --demo on loopback", function()
    local app = h.start({ plugins = { "health" }, demo = true })
    assert.equal(200, app:get("/bench/status").status)
    assert.equal(200, app:get("/demo/plextv/_control").status)
    assert.equal(200, app:get("/demo/plex/_control").status)
    app:stop()
  end)

  it("refuses --demo on a listen address beyond loopback", function()
    for _, listen in ipairs({ "0.0.0.0:0", "[::]:0", "192.0.2.1:0" }) do
      local handle, err = start_raw({ listen = listen, demo = true })
      if handle then handle:stop() end
      assert.is_nil(handle, listen)
      assert.truthy(tostring(err):find("--demo-public", 1, true), err)
      assert.truthy(tostring(err):find("sign in as the owner", 1, true), err)
    end
  end)

  it("serves a public demo with --demo-public", function()
    local handle, err = start_raw({ listen = "0.0.0.0:0", demo = true, demo_public = true })
    assert(handle, err)
    local c = h.client("127.0.0.1", handle:port())
    assert.equal(200, c:get("/demo/plextv/_control").status)
    handle:stop()
  end)

  it("refuses the test-only plugins on a public listen without --demo", function()
    for _, plugins in ipairs({ { "health", "bench" }, { "health", "demo-upstreams" } }) do
      local handle, err = start_raw({ listen = "0.0.0.0:0", plugins = plugins })
      if handle then handle:stop() end
      assert.is_nil(handle, plugins[2])
      assert.truthy(tostring(err):find(plugins[2] .. " serves test-only routes", 1, true), err)
    end
    -- on loopback they stay available to specs and benchmarks
    local handle = assert(start_raw({ listen = "127.0.0.1:0", plugins = { "health", "bench" } }))
    handle:stop()
  end)

  describe("the command line", function()
    local function serve(args, env)
      local e = { PATH = os.getenv("PATH"), MEDIANEST_ROOT = h.root, DATABASE_URL = os.getenv("DATABASE_URL") }
      for k, v in pairs(env or {}) do e[k] = v end
      local argv = { h.bin(), "serve" }
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      local p = assert(proc.spawn(argv, { env = e }))
      local watchdog = timer.at(10, function() p:kill() end)
      local code = p:wait()
      watchdog:cancel()
      return code, p:stderr()
    end

    it("refuses --demo-public without --demo", function()
      local code, err = serve({ "--demo-public" })
      assert.equal(2, code)
      assert.truthy(err:find("--demo-public goes with --demo", 1, true), err)
    end)

    it("warns on the log that a --demo-public demo signs anyone in as the owner", function()
      local e = { PATH = os.getenv("PATH"), MEDIANEST_ROOT = h.root, DATABASE_URL = os.getenv("DATABASE_URL"),
                  MEDIANEST_LISTEN = "0.0.0.0:0", MEDIANEST_DATA_DIR = h.tmpname("-data") }
      local p = assert(proc.spawn({ h.bin(), "serve", "--demo", "--demo-public" }, { env = e }))
      local ok, werr = pcall(h.wait_until, function()
        return p:stderr():find("can sign in as the owner", 1, true)
      end, 20, 0.05, "the --demo-public warning")
      p:kill()
      p:wait()
      assert(ok, werr)
      local line = p:stderr():match('[^\n]*%-%-demo%-public:[^\n]*')
      assert.truthy(line:find('"level":"warn"', 1, true), line)
    end)

    it("refuses serve --demo on 0.0.0.0 and says how to mean it", function()
      local code, err = serve({ "--demo" }, { MEDIANEST_LISTEN = "0.0.0.0:0" })
      assert.is_true(code ~= 0)
      assert.truthy(err:find("--demo-public", 1, true), err)
    end)
  end)
end)
