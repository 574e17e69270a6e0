-- spec/integration/hardening_ws_cap_spec.lua — WebSocket connections count
-- against the per-address cap and max_connections until they close (issue
-- 17): after the 101 the socket leaves the HTTP server, but its place in the
-- counts stays with it, or one address could hold any number of them.
-- Over real sockets, dual-stack: 127.0.0.1 is the greedy address, ::1 another.
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"

local TOKEN = "spec-token"

local function start(http)
  return h.start({
    plugins = { "health", "wsauth", "ws", "wsecho" },
    config = { listen = "[::]:0", http = http, websocket = { test_token = TOKEN },
               plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } },
  })
end

local function ws(app, host, user)
  return hw.connect({ host = host or app.host, port = app.port },
                    "/ws?token=" .. TOKEN .. "&user=" .. (user or "u1"))
end

-- A plain GET /health from host -> status (nil when nothing came back).
local function health(app, host)
  local c = h.client(host, app.port)
  local r = c:get("/health", { timeout = 2 })
  c:close()
  return r and r.status
end

local function close_all(list) for _, c in ipairs(list) do c:close() end end

describe("WebSocket connections and the per-address cap", function()
  local app
  setup(function() app = start({ max_connections_per_ip = 5 }) end)
  teardown(function() app:stop() end)

  it("keeps counting an upgraded connection until it closes; others are served", function()
    local open = {}
    for i = 1, 5 do open[i] = assert(ws(app, "127.0.0.1", "u" .. i)) end
    -- the address is full: another WebSocket and plain HTTP are refused
    local c, res = ws(app, "127.0.0.1", "u6")
    assert.is_nil(c)
    assert.equal(429, res.status)
    assert.equal("TOO_MANY_CONNECTIONS", res.json.error.code)
    assert.equal(429, health(app, "127.0.0.1"))
    -- the held sockets are still WebSockets that work
    open[1]:send("echo", { n = 1 })
    local ev = assert(open[1]:recv_event(5))
    assert.equal("echo", ev.event)
    -- another address is served, over HTTP and WebSocket
    assert.equal(200, health(app, "::1"))
    local other = assert(ws(app, "::1", "v1"))
    other:close()
    -- a closed WebSocket gives its slot back
    open[5]:close()
    table.remove(open, 5)
    h.wait_until(function() return health(app, "127.0.0.1") == 200 end, 5, 0.05,
                 "the address to get a slot back")
    close_all(open)
    h.wait_until(function()
      local more = {}
      for i = 1, 5 do
        local m = ws(app, "127.0.0.1", "w" .. i)
        if not m then close_all(more) return false end
        more[i] = m
      end
      close_all(more)
      return true
    end, 5, 0.05, "every slot to come back")
  end)
end)

describe("WebSocket connections and max_connections", function()
  local app
  setup(function() app = start({ max_connections = 4, max_connections_per_ip = 0 }) end)
  teardown(function() app:stop() end)

  it("counts upgraded connections against the server's total", function()
    local open = {}
    for i = 1, 4 do open[i] = assert(ws(app, "127.0.0.1", "u" .. i)) end
    local c, res = ws(app, "::1", "u5")
    assert.is_nil(c)
    assert.equal(503, res.status)
    open[1]:close()
    table.remove(open, 1)
    h.wait_until(function() return health(app, "::1") == 200 end, 5, 0.05,
                 "a slot to come back")
    close_all(open)
  end)
end)
