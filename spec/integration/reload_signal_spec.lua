-- spec/integration/reload_signal_spec.lua — the SIGHUP / `medianest reload`
-- trigger against the real binary in a subprocess (signals are process-wide:
-- never sent to the process running the specs). Exit codes: 0 reloaded or
-- no-op, 1 failed (old generation keeps serving), 2 no server / busy.
local h = require "spec.helpers"
local rs = require "spec.fixtures.plugins.reload_ver.support"
local proc = require "nest.proc"
local napp = require "nest.core.app"
local json = require "nest.json"

-- The server and the CLI must agree on the config's data_dir (pid file,
-- reload.json): MEDIANEST_DATA_DIR, which scripts/test exports, would win
-- over it, so both run without it (env execs: the pid stays the binary's).
local function command(...)
  return { "/usr/bin/env", "-u", "MEDIANEST_DATA_DIR", h.bin(), ... }
end

local slurp = h.read_file

-- run the CLI: exit code, stdout, stderr
local function cli(env)
  local p = assert(proc.spawn(command("reload", "-c", env.config_path, "--timeout", "30")))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  local code = p:wait()
  return code, table.concat(out, "\n"), p:stderr()
end

describe("medianest reload (SIGHUP)", function()
  local env, server, port, base_config

  local function config(extra)
    return ("return { listen = '127.0.0.1:0', data_dir = %q, plugins = { paths = { %q, %q },"
      .. " enabled = { 'health', 'runtime', 'reload_admin', 'reload_ver' } }%s }\n")
      :format(env.dir .. "/data", env.paths[1], env.paths[2], extra or "")
  end

  setup(function()
    env = rs.prepare()
    base_config = config()
    env:write_config(base_config)
    server = assert(proc.spawn(command("serve", "-c", env.config_path)))
    local line = h.wait_until(function()
      local l = server:read_line()
      return l and l:match("listening on http://[^:]+:(%d+)") or (l == nil and error("server exited: " .. server:stderr()))
    end, 15)
    port = tonumber(line)
    env.app = h.client("127.0.0.1", port)   -- env:ver() uses its :get
  end)

  teardown(function()
    if server then server:kill("TERM") server:wait() end
    env.app:close()
    env.app = nil
    env:stop()
  end)

  it("writes a pid file while serving", function()
    local pid = tonumber((slurp(env.dir .. "/data/medianest.pid") or ""):match("%d+"))
    assert.equal(server:pid(), pid)
  end)

  it("reloads on change, says no-op when nothing changed", function()
    assert.equal("v1", (env:ver()))
    local code, out = cli(env)
    assert.equal(0, code)
    assert.truthy(out:find("nothing changed", 1, true), out)
    env:write("v2")
    code, out = cli(env)
    assert.equal(0, code, out)
    assert.truthy(out:find("reloaded: generation", 1, true), out)
    assert.equal("v2", (env:ver()))
    local r = json.decode(slurp(env.dir .. "/data/reload.json"))
    assert.is_true(r.ok)
    assert.equal("signal", r.trigger)
    assert.equal(server:pid(), r.pid)
  end)

  local failures = {
    { "a syntax error", function() env:write("broken", "local = 1") end, "reload_ver" },
    { "an init that raises", function() env:write("v-init", "function plugin.init() error('boom in init') end") end,
      "reload_ver" },
    { "an invalid config", function() env:write_config(config(", bogus_setting = 1")) end, nil },
  }
  for _, case in ipairs(failures) do
    it("exits 1 with the error after " .. case[1] .. ", and the old code keeps serving", function()
      local before = env:ver()
      case[2]()
      local ok, e = pcall(function()
        local code, _, err = cli(env)
        assert.equal(1, code, err)
        assert.truthy(err:find("reload failed", 1, true), err)
        if case[3] then assert.truthy(err:find("plugin: " .. case[3], 1, true), err) end
        assert.equal(before, (env:ver()))
      end)
      env:write(before)
      env:write_config(base_config)
      assert.equal(0, (cli(env)))
      assert(ok, e)
    end)
  end

  it("exits 2 when no server runs, and the pid file is gone after exit", function()
    server:kill("TERM")
    assert.equal(0, (server:wait()))
    server = nil
    assert.is_nil(slurp(env.dir .. "/data/medianest.pid"))
    local code, _, err = cli(env)
    assert.equal(2, code)
    assert.truthy(err:find("no server is running", 1, true), err)
  end)
end)
