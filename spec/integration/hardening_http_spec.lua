-- spec/integration/hardening_http_spec.lua — one hostile client must not
-- take the server's memory or its connection slots: each attack is driven
-- over a real socket for a bounded time while the spec watches the
-- process's resident memory (the server runs in this process, see
-- spec/helpers_hardening_http.lua) and checks that another client is still
-- served promptly.
local h = require "spec.helpers"
local hh = require "spec.helpers_hardening_http"
local timer = require "nest.timer"
local napp = require "nest.core.app"

local function pipeline(path, n)
  local one = "GET " .. path .. " HTTP/1.1\r\nHost: spec\r\n\r\n"
  return one:rep(n or math.ceil(65536 / #one))
end

describe("HTTP pipelining without reading", function()
  local app
  setup(function()
    app = h.start({ config = { static = { dir = h.root .. "/spec/fixtures/static" },
                               http = { send_timeout = 3 } } })
  end)
  teardown(function() app:stop() end)

  for _, case in ipairs({ { "a Lua route", "/health" }, { "a static file", "/sw.js" } }) do
    it("holds memory and serves others while one client pipelines to " .. case[1] .. " and never reads",
      function()
        local base = hh.rss_mb()
        local a = hh.attack(app, pipeline(case[2]))
        finally(a.stop)
        local slowest = 0
        local peak = hh.watch_rss(4, function()
          slowest = math.max(slowest, hh.assert_served(app, "/health", 1))
        end)
        local sent = a.sent
        print(("\n  %s: sent %.1f MiB, RSS +%.1f MiB, other client <= %.0f ms"):format(
          case[1], sent / 2 ^ 20, peak - base, slowest * 1000))
        -- the server stops reading: the attacker's writes stall well before
        -- it got to send what four seconds at loopback speed would carry
        assert(sent < 64 * 1024 * 1024, ("the server read %.1f MiB"):format(sent / 2 ^ 20))
        hh.assert_rss_growth(base, peak, 48, case[1])
        -- a connection that stays over its marks is closed
        h.wait_until(function() return a.ended end, 5, 0.05, "the server to close the stalled connection")
        a.stop()
      end)
  end
end)

-- After an error answer the server closes: nothing more comes.
local function assert_closed(s)
  local rest, err = s:read_all(5)
  assert.equal("", rest or "")
  assert.is_nil(err)
end

describe("HTTP pipelining behind a slow request", function()
  it("reads no further than the input mark and closes a connection held over it", function()
    local app = h.start_fixtures({ "echo" }, { http = { send_timeout = 1 } })
    local base = hh.rss_mb()
    local first = true
    local a = hh.attack(app, function()
      if first then first = false return h.request_bytes("GET", "/echo/sleep?s=30&key=held") end
      return pipeline("/health")
    end)
    finally(function() a.stop() app:stop() end)   -- busted keeps one finally per test
    h.wait_until(function() return app:get("/echo/state").json.started.held end, 5, 0.01, "the slow request")
    local slowest = 0
    local peak = hh.watch_rss(1.5, function()
      slowest = math.max(slowest, hh.assert_served(app, "/health", 1))
    end)
    local sent = a.sent
    print(("\n  behind a slow request: sent %.1f MiB, RSS +%.1f MiB, other client <= %.0f ms"):format(
      sent / 2 ^ 20, peak - base, slowest * 1000))
    h.wait_until(function() return a.ended end, 5, 0.05, "the server to close the held connection")
    a.stop()
    local state = app:get("/echo/state").json
    -- the server read its input mark (16 KiB + 256 KiB) and the kernel's buffers, no more
    assert(sent < 16 * 1024 * 1024, ("the server read %.1f MiB"):format(sent / 2 ^ 20))
    hh.assert_rss_growth(base, peak, 16, "held requests")
    assert.is_nil(state.resumed.held, "the slow request was cancelled with its connection")
  end)
end)

describe("a slow reader", function()
  it("is not closed by send_timeout while it takes part of a large answer", function()
    local app = h.start_fixtures({ "echo" }, { http = { send_timeout = 1 } })
    local n = 8 * 1024 * 1024
    local s = app:raw()
    finally(function() s.conn:close() app:stop() end)
    s.conn:pause()
    assert(s.conn:write(h.request_bytes("GET", "/echo/text?n=" .. n)))
    -- about 2 MiB/s: the one 8 MiB write stays queued over the mark far
    -- longer than send_timeout, yet some of it is taken all the time
    local got, t0 = 0, napp.hrtime()
    local head
    while got < n do
      s.conn:resume()
      local data, err = s.conn:read(2)
      s.conn:pause()
      assert(data, ("the server closed a reader that was taking its answer (%d bytes in, %.2f s): %s"):format(got, napp.hrtime() - t0, tostring(err)))
      if not head then
        local i = data:find("\r\n\r\n", 1, true)
        head, data = data:sub(1, i), data:sub(i + 4)
      end
      got = got + #data
      timer.sleep(#data / (2 * 1024 * 1024))
    end
    local took = napp.hrtime() - t0
    assert.matches("^HTTP/1.1 200", head)
    assert.equal(n, got)
    assert(took > 1, ("the answer took %.2f s: the reader was not slow"):format(took))
  end)
end)

describe("request bodies", function()
  local app
  setup(function()
    app = h.start_fixtures({ "echo" }, { http = { max_body_inflight = 32 * 1024 * 1024 } })
  end)
  teardown(function() app:stop() end)

  -- Content-Length 1 MiB is under the server's ceiling (10 MiB): only the
  -- route can say no, and it must say it before a byte of the body is sent.
  for _, case in ipairs({ { "a GET route", "GET", "/health" },
                          { "an unknown URL", "POST", "/nowhere" },
                          { "a wrong method", "PUT", "/echo" },
                          { "a POST route that declared no body_limit", "POST", "/echo/nobody" } }) do
    it("answers 413 at once to a body sent to " .. case[1] .. ", without waiting for it", function()
      local s = app:raw()
      assert(s.conn:write(case[2] .. " " .. case[3] .. " HTTP/1.1\r\nHost: spec\r\nContent-Length: 1048576\r\n\r\n"))
      local took, r = hh.time(function() return s:read_response({ timeout = 2 }) end)
      assert(r, "no answer before the body was sent")
      assert.equal(413, r.status)
      assert.equal("BODY_TOO_LARGE", r.json.error.code)
      assert.equal("close", r.headers.connection)
      assert(took < 1)
      assert_closed(s)
    end)
  end

  it("still takes a body without Content-Length trouble on a route that declared one", function()
    local r = assert(app:post("/echo/small", nil, { body = "0123456789abcdef" }))
    assert.equal(200, r.status)
    assert.equal("0123456789abcdef", r.body)
    -- and a body-less POST anywhere is not refused for its (absent) body
    assert.equal(404, assert(app:post("/nowhere")).status)
  end)

  it("caps the bodies in flight across connections: 503 and close beyond, memory bounded", function()
    local big = ("b"):rep(8 * 1024 * 1024)
    local base = hh.rss_mb()
    -- 24 clients each announce 8 MiB (under the route's limit) and send all
    -- of it but the last byte, so the server would hold every body at once
    local attackers = {}
    finally(function() for _, a in ipairs(attackers) do a.stop() end end)
    for i = 1, 24 do
      local head = "POST /echo HTTP/1.1\r\nHost: spec\r\nContent-Length: " .. (#big + 1) .. "\r\n\r\n"
      local parts = { head, big }
      attackers[i] = hh.attack(app, function(a)
        a.i = (a.i or 0) + 1
        return parts[a.i]
      end)
    end
    local slowest = 0
    local peak = hh.watch_rss(3, function()
      slowest = math.max(slowest, hh.assert_served(app, "/health", 1))
    end)
    local refused = 0
    for _, a in ipairs(attackers) do
      local s = h.stream(a.conn)
      a.conn:resume()
      local r = s:read_response({ timeout = 0.5 })
      if r then
        assert.equal(503, r.status)
        assert.equal("OVERLOADED", r.json.error.code)
        refused = refused + 1
      end
      a.stop()
    end
    print(("\n  bodies: %d of 24 refused, RSS +%.1f MiB, other client <= %.0f ms"):format(
      refused, peak - base, slowest * 1000))
    -- 32 MiB in flight holds three of these bodies; the rest are refused
    assert(refused >= 20, refused .. " refused")
    hh.assert_rss_growth(base, peak, 48, "bodies")   -- the 32 MiB budget and change
    -- the budget is given back: a body fits again
    h.wait_until(function()
      local r = app:post("/echo", nil, { body = ("c"):rep(1024 * 1024) })
      return r and r.status == 200
    end, 5, 0.05, "a body to be accepted again")
  end)
end)

describe("public routes that take bodies", function()
  it("declare limits of at most 64 KiB in the shipped plugins (demo mode included)", function()
    local public = 0
    for _, r in ipairs(hh.shipped_routes()) do
      if r.body_limit then
        assert(r.method ~= "GET", r.path)
        if r.auth == "public" then
          public = public + 1
          assert(r.body_limit <= 64 * 1024, ("%s %s takes %d bytes"):format(r.method, r.path, r.body_limit))
        end
      end
    end
    assert(public > 0)
  end)
end)

describe("connections per client address", function()
  local app
  setup(function()
    -- dual-stack: 127.0.0.1 and ::1 are two client addresses
    app = h.start({ config = { listen = "[::]:0", http = { max_connections_per_ip = 20 } } })
  end)
  teardown(function() app:stop() end)

  it("refuses one address more than its cap with 429, slow-header connections included", function()
    local base = hh.rss_mb()
    local held = {}
    for i = 1, 20 do
      held[i] = app:raw()
      assert(held[i].conn:write("GET /health HTTP/1.1\r\nHost: spec\r\n"))   -- never finished
    end
    local refused = 0
    for _ = 1, 200 do
      local s = app:raw()
      local r = s:read_response({ timeout = 2 })
      if r then
        assert.equal(429, r.status)
        assert.equal("TOO_MANY_CONNECTIONS", r.json.error.code)
        refused = refused + 1
      end
      s.conn:close()
    end
    local grew = hh.rss_mb() - base
    -- another address is served meanwhile
    local other = h.client("::1", app.port)
    local took, r = hh.time(function() return other:get("/health", { timeout = 1 }) end)
    other:close()
    print(("\n  per-address cap: %d of 200 refused, RSS +%.1f MiB, ::1 served in %.0f ms"):format(
      refused, grew, took * 1000))
    assert.equal(200, assert(r).status)
    assert(took < 1)
    assert.equal(200, refused)
    hh.assert_rss_growth(0, grew, 16, "connections")
    -- a slot comes back when a held connection goes
    held[1].conn:close()
    h.wait_until(function()
      local s = app:raw()
      assert(s.conn:write(h.request_bytes("GET", "/health")))
      local res = s:read_response({ timeout = 2 })
      s.conn:close()
      return res and res.status == 200
    end, 5, 0.05, "the address to get a slot back")
    for i = 2, 20 do held[i].conn:close() end
  end)

  it("does not cap a trusted proxy's address", function()
    local proxied = h.start({ config = { trusted_proxies = { "127.0.0.0/8" },
                                         http = { max_connections_per_ip = 5 } } })
    local held = {}
    for i = 1, 12 do
      held[i] = proxied:raw()
      assert(held[i].conn:write("GET /health HTTP/1.1\r\nHost: spec\r\n"))
    end
    local r = assert(proxied:get("/health"))
    for _, s in ipairs(held) do s.conn:close() end
    proxied:stop()
    assert.equal(200, r.status)
  end)
end)

describe("the HTTP parser", function()
  local app
  setup(function() app = h.start_fixtures({ "echo" }) end)
  teardown(function() app:stop() end)

  for _, case in ipairs({
    { "an obs-folded header", "GET /health HTTP/1.1\r\nHost: spec\r\nX-A: a\r\n b\r\n\r\n" },
    { "a space inside a header name", "GET /health HTTP/1.1\r\nHost: spec\r\nX A: b\r\n\r\n" },
    { "a space before the colon", "GET /health HTTP/1.1\r\nHost: spec\r\nX-A : b\r\n\r\n" },
    { "a chunk not ended by CRLF",
      "POST /echo HTTP/1.1\r\nHost: spec\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" },
    { "HTTP/1.1 without Host", "GET /health HTTP/1.1\r\nAccept: */*\r\n\r\n" },
    { "two Host headers", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" },
  }) do
    it("answers 400 and closes on " .. case[1], function()
      local s = app:raw()
      assert(s.conn:write(case[2]))
      local r = assert(s:read_response({ timeout = 2 }))
      assert.equal(400, r.status)
      assert.equal("close", r.headers.connection)
      assert_closed(s)
    end)
  end

  it("still takes empty header values and values cut across reads", function()
    local s = app:raw()
    assert(s.conn:write("GET /health HTTP/1.1\r\nHost: spec\r\nAccept: \r\nX-Empty:\r\nX-Cut: ab"))
    timer.sleep(0.05)   -- nothing to await: the server has simply read the first part by then
    assert(s.conn:write("cd\r\n\r\n"))
    assert.equal(200, assert(s:read_response()).status)
    s.conn:close()
  end)

  it("answers 400 to an obs-fold cut across reads", function()
    local s = app:raw()
    assert(s.conn:write("GET /health HTTP/1.1\r\nHost: spec\r\nX-A: a\r\n"))
    timer.sleep(0.05)   -- as above: the fold must arrive in a read of its own
    assert(s.conn:write(" b\r\n\r\n"))
    local r = assert(s:read_response({ timeout = 2 }))
    assert.equal(400, r.status)
    assert_closed(s)
  end)

  it("still takes HTTP/1.0 without Host", function()
    local s = app:raw()
    assert(s.conn:write("GET /health HTTP/1.0\r\n\r\n"))
    assert.equal(200, assert(s:read_response()).status)
    s.conn:close()
  end)
end)

describe("durations", function()
  -- libuv's timers count whole, truncated milliseconds of a coarse clock;
  -- request durations use uv_hrtime(). A sleep must not end early by the
  -- latter, or a 0.2 s handler logs durationMs 199.
  it("a sleep never ends before its time by the clock request durations use", function()
    -- a busy loop (as under load, or the sanitizers) wakes often, so a
    -- timer fires as soon as the loop's clock says so, not when epoll's
    -- timeout would have run out
    local busy = true
    timer.at(0, function() while busy do timer.sleep(0) end end)
    local early, worst = 0, math.huge
    for _ = 1, 100 do
      local t0 = napp.hrtime()
      timer.sleep(0.003)
      local took = napp.hrtime() - t0
      if took < 0.003 then early = early + 1 end
      worst = math.min(worst, took)
    end
    busy = false
    assert(early == 0, ("%d of 100 sleeps of 3 ms ended early (shortest %.3f ms)"):format(early, worst * 1000))
  end)
end)
