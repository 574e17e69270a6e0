-- spec/integration/routes_cli_spec.lua — `medianest routes`, run as the real
-- binary: every route with its plugin, auth, limits and a file:line that
-- really holds its handler (checked against the source and against
-- debug.getinfo of the plugin's own function).
local h = require "spec.helpers"
local proc = require "nest.proc"
local json = require "nest.json"

local function medianest(...)
  local p = assert(proc.spawn({ h.bin(), ... }, { env = {
    MEDIANEST_ROOT = h.root, PATH = os.getenv("PATH") } }))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  local code = p:wait()
  return code, table.concat(out, "\n"), p:stderr()
end

local function listing(...)
  local code, out, err = medianest("routes", "--json", ...)
  assert.equal(0, code, err)
  return assert(json.decode(out))
end

local function find(list, method, path)
  for _, r in ipairs(list.routes) do
    if r.method == method and r.path == path then return r end
  end
  error("no route " .. method .. " " .. path)
end

-- The text of line n of a file under the source root.
local function source_line(file, n)
  local text = assert(h.read_file(h.root .. "/" .. file), "cannot read " .. file)
  local i = 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if i == n then return l end
  end
  error(file .. " has no line " .. tostring(n))
end

local function write_config(text)
  local path = h.tmpname(".lua")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function names(limits)
  local out = {}
  for i, l in ipairs(limits) do out[i] = l.name end
  return out
end

describe("medianest routes", function()
  it("finds the code for /api/v1/auth/plex/pin, /metrics and /ws", function()
    local list = listing()

    local pin = find(list, "POST", "/api/v1/auth/plex/pin")
    assert.same({ "auth", "public", "/api/auth/plex/pin", 4096, true },
      { pin.plugin, pin.auth, pin.alias, pin.body_limit, pin.csrf })
    assert.same({ "api", "auth" }, names(pin.rate_limits))   -- api: public /api routes too, per IP
    assert.equal("plugins/auth/pins.lua", pin.handler.file)
    local create = require("plugins.auth.pins").create
    assert.equal(debug.getinfo(create, "S").linedefined, pin.handler.line)
    assert.truthy(source_line(pin.handler.file, pin.handler.line):find("function M.create(", 1, true))

    local metrics = find(list, "GET", "/metrics")
    assert.same({ "metrics", "public", json.null, "plugins/metrics/init.lua" },
      { metrics.plugin, metrics.auth, metrics.alias, metrics.handler.file })
    assert.truthy(source_line(metrics.handler.file, metrics.handler.line):find('r:get("/metrics"', 1, true))

    local ws = find(list, "GET", "/ws")
    assert.same({ "ws", "user", json.null, "plugins/ws/init.lua" },
      { ws.plugin, ws.auth, ws.alias, ws.handler.file })
    assert.truthy(source_line(ws.handler.file, ws.handler.line):find('r:get("/ws"', 1, true))
  end)

  it("gives every route, demo upstreams included, a file:line where a function is defined", function()
    local list = listing("--demo")
    assert.is_true(#list.routes > 50)
    local plugins = {}
    for _, r in ipairs(list.routes) do
      plugins[r.plugin] = true
      local line = source_line(r.handler.file, r.handler.line)
      assert.truthy(line:find("function", 1, true), r.method .. " " .. r.path .. ": " .. line)
    end
    assert.is_true(plugins["demo-upstreams"] and plugins.bench and plugins.auth)
  end)

  it("shows the route's own function behind a wrapper, and the wrapper as via", function()
    local me = find(listing("--demo"), "GET", "/demo/overseerr/api/v1/auth/me")
    assert.equal("plugins/demo-upstreams/overseerr.lua", me.handler.file)
    local via_file, via_line = me.handler.via:match("^(.+):(%d+)$")
    assert.equal(me.handler.file, via_file)
    assert.not_equal(me.handler.line, tonumber(via_line))
    assert.truthy(source_line(me.handler.file, me.handler.line):find('get("/auth/me"', 1, true))
    assert.truthy(source_line(via_file, tonumber(via_line)):find("return function(req, res)", 1, true))
  end)

  it("reports the limits and CSRF the server applies", function()
    local list = listing()
    local rum = find(list, "POST", "/api/v1/analytics/rum")
    assert.is_false(rum.csrf)
    assert.same({ "api", "rum" }, names(rum.rate_limits))
    local tokens = find(list, "GET", "/api/v1/auth/tokens")
    assert.same({ name = "api", limit = 100, window = 60, by = "user" }, tokens.rate_limits[1])
    assert.equal(json.null, tokens.csrf)          -- a safe method: no CSRF check
    assert.equal(json.null, tokens.body_limit)
    assert.equal(0, #find(list, "GET", "/metrics").rate_limits)
    assert.is_true(find(list, "DELETE", "/api/v1/auth/tokens/{id}").csrf)
  end)

  it("lists what the core answers without a route: static files and the SPA fallback", function()
    local list = listing()
    assert.equal(2, #list.other)
    assert.equal("core/http_static.c", list.other[1].code)
    local file, line = list.other[2].code:match("^(.+):(%d+)$")
    assert.equal("lua/nest/server.lua", file)
    assert.truthy(source_line(file, tonumber(line)):find('res:file("/index.html")', 1, true))
  end)

  it("prints a table a person can read, one route per line", function()
    local code, out = medianest("routes")
    assert.equal(0, code)
    local row = out:match("\n(POST +/api/v1/auth/plex/pin [^\n]+)")
    assert.truthy(row, out)
    local line = debug.getinfo(require("plugins.auth.pins").create, "S").linedefined
    local cells = {}
    for c in row:gmatch("%S+") do cells[#cells + 1] = c end
    assert.same({ "POST", "/api/v1/auth/plex/pin", "yes", "public", "api,auth", "4KiB", "on", "auth",
                  "plugins/auth/pins.lua:" .. line }, cells)
    assert.truthy(out:find("\nGET +/ws +%- +user "))
    assert.truthy(out:find("Not routes", 1, true))
  end)

  it("follows -c: only the enabled plugins, operator plugin directories included", function()
    local path = write_config(([[
      return { plugins = { paths = { %q }, enabled = { "health", "echo" } } }
    ]]):format(h.root .. "/spec/fixtures/plugins"))
    local list = listing("-c", path)
    os.remove(path)
    local seen = {}
    for _, r in ipairs(list.routes) do seen[r.plugin] = true end
    assert.same({ health = true, echo = true }, seen)
    local small = find(list, "POST", "/echo/small")
    assert.same({ "spec/fixtures/plugins/echo/init.lua", 16 }, { small.handler.file, small.body_limit })
    assert.truthy(source_line(small.handler.file, small.handler.line):find('"/echo/small"', 1, true))
    assert.equal(0, #small.rate_limits)       -- no ratelimit plugin, no limits
  end)

  it("agrees with a running server: each route matches at its path and alias, guarded as listed", function()
    local list = listing("--demo")
    local names = {}
    for _, p in ipairs(list.plugins) do names[#names + 1] = p.name end
    -- ~200 anonymous calls from one address: above the api limit's 100/min
    local app = h.start({ demo = true, plugins = names,
                          config = { rate_limits = { api = { limit = 100000, window = 60 } } } })
    local ok, err = pcall(function()
      local sent = {}
      local function try(r, path)
        local id = "routes-spec-" .. (#sent + 1)
        local res = assert(app:client():request(r.method, path, { headers = { ["X-Request-Id"] = id } }))
        sent[#sent + 1] = { id = id, route = r, path = path }
        if r.auth ~= "public" then
          assert.equal(401, res.status, r.method .. " " .. path .. " anonymously")
        end
      end
      for _, r in ipairs(list.routes) do
        local path = r.path:gsub("{[%w_]+%*}", "x/y"):gsub("{[%w_]+}", "1")
        try(r, path)
        if r.alias ~= json.null then try(r, (r.alias:gsub("{[%w_]+%*}", "x/y"):gsub("{[%w_]+}", "1"))) end
      end
      -- the access log names the route pattern each request matched
      local matched = {}
      h.wait_until(function()
        for _, l in ipairs(app:log_lines()) do if l.requestId then matched[l.requestId] = l.route end end
        return matched[sent[#sent].id]
      end, 5, 0.05, "the access log lines")
      for _, s in ipairs(sent) do
        assert.equal(s.route.path, matched[s.id], s.route.method .. " " .. s.path)
      end
    end)
    app:stop()
    assert(ok, err)
  end)

  it("exits 1 naming a broken config or plugin, 2 on a usage error; --help is 0", function()
    local path = write_config("return { plugins = { enabled = { 'health', 'no-such-plugin' } } }")
    local code, _, err = medianest("routes", "-c", path)
    os.remove(path)
    assert.equal(1, code)
    assert.truthy(err:find("no-such-plugin", 1, true), err)
    code, _, err = medianest("routes", "--frobnicate")
    assert.equal(2, code)
    assert.truthy(err:find("usage: medianest routes", 1, true))
    local out
    code, out = medianest("routes", "--help")
    assert.equal(0, code)
    assert.truthy(out:find("file:line", 1, true))
    code, out = medianest("--help")
    assert.equal(0, code)
    assert.truthy(out:find("\n  routes ", 1, true), out)
  end)
end)
