-- spec/integration/http_limits_spec.lua — every limit and failure path of
-- the HTTP server over real sockets: 431, 413 (default and per route, by
-- Content-Length and by chunked body), 400 on garbage, 408 and the idle
-- close, 503 over max_connections, a client leaving mid-request (its handler
-- is cancelled) and a slow reader (the streaming handler is held back).
local h = require "spec.helpers"

local function echo_app(cfg) return h.start_fixtures({ "echo" }, cfg) end
local req = h.request_bytes


-- After an error answer the server closes: the next read says so.
local function assert_closed(s)
  local rest, err = s:read_all(5)
  assert.equal("", rest or "", "no more bytes after the error answer")
  assert.is_nil(err)
end

local function state(app)
  return assert(app:get("/echo/state")).json
end

describe("HTTP limits", function()
  local app
  setup(function() app = echo_app({ http = { max_body_bytes = 1024 } }) end)
  teardown(function() app:stop() end)

  it("answers 431 to more than 16 KiB of headers and closes; just under is fine", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/health", { "X-Big: " .. ("a"):rep(17 * 1024) })))
    local r = assert(s:read_response())
    assert.equal(431, r.status)
    assert.equal("HEADERS_TOO_LARGE", r.json.error.code)
    assert.equal("close", r.headers.connection)
    assert_closed(s)
    -- many small headers add up the same way
    local many = {}
    for i = 1, 400 do many[#many + 1] = ("X-H%d: %s"):format(i, ("b"):rep(40)) end
    local s2 = app:raw()
    assert(s2.conn:write(req("GET", "/health", many)))
    assert.equal(431, assert(s2:read_response()).status)
    s2.conn:close()
    local ok = assert(app:get("/health", { headers = { ["X-Big"] = ("a"):rep(15 * 1024) } }))
    assert.equal(200, ok.status)
  end)

  it("answers 413 to a Content-Length over the limit, before reading the body", function()
    local s = app:raw()
    assert(s.conn:write("POST /echo HTTP/1.1\r\nHost: spec\r\nContent-Length: 2048\r\n\r\n"))
    local r = assert(s:read_response())
    assert.equal(413, r.status)
    assert.equal("BODY_TOO_LARGE", r.json.error.code)
    assert_closed(s)
    local fine = assert(app:post("/echo", nil, { body = ("z"):rep(1024) }))
    assert.equal(200, fine.status)
    assert.equal(1024, #fine.body)
  end)

  it("answers 413 to a chunked body that grows over the limit", function()
    local s = app:raw()
    local chunk = ("y"):rep(600)
    assert(s.conn:write("POST /echo HTTP/1.1\r\nHost: spec\r\nTransfer-Encoding: chunked\r\n\r\n"
      .. ("%x\r\n%s\r\n"):format(#chunk, chunk)))
    assert(s.conn:write(("%x\r\n%s\r\n"):format(#chunk, chunk)))
    local r = assert(s:read_response())
    assert.equal(413, r.status)
    s.conn:close()
  end)

  it("honours a route's own body_limit", function()
    local over = assert(app:post("/echo/small", nil, { body = ("s"):rep(17) }))
    assert.equal(413, over.status)
    local at = assert(app:post("/echo/small", nil, { body = ("s"):rep(16) }))
    assert.equal(200, at.status)
    assert.equal(("s"):rep(16), at.body)
    -- the other route keeps the server default
    assert.equal(200, assert(app:post("/echo", nil, { body = ("s"):rep(17) })).status)
  end)

  it("answers 400 to garbage and bad chunk sizes, and keeps serving others", function()
    local inputs = {
      "HELLO WORLD\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /health HTTP/1.1\r\nBad Header Line\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: spec\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: spec\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "\0\1\2\3\r\n\r\n",
    }
    for _, bytes in ipairs(inputs) do
      local s = app:raw()
      assert(s.conn:write(bytes))
      local r = assert(s:read_response())
      assert.equal(400, r.status, ("%q"):format(bytes))
      assert.equal("BAD_REQUEST", r.json.error.code)
      assert_closed(s)
      assert.equal(200, assert(app:get("/health")).status)
    end
  end)

  it("cancels the handler of a client that leaves mid-request", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/echo/sleep?s=0.3&key=gone")))
    h.wait_until(function() return state(app).started.gone end, 5, 0.01, "the handler to start")
    s.conn:close()
    -- a request started after the close and sleeping as long completes:
    -- by then the cancelled handler would have resumed, had it not been
    local ctl = assert(app:get("/echo/sleep?s=0.3&key=control"))
    assert.equal(200, ctl.status)
    h.wait_until(function() return state(app).resumed.control end, 5)
    local st = state(app)
    assert.is_true(st.started.gone)
    assert.is_nil(st.resumed.gone)
  end)
end)

describe("HTTP timeouts", function()
  local app
  setup(function() app = echo_app({ http = { header_timeout = 0.3, idle_timeout = 0.3 } }) end)
  teardown(function() app:stop() end)

  it("answers 408 when the headers do not arrive in time, then closes", function()
    local s = app:raw()
    local t0 = require("nest.core.app").hrtime()
    assert(s.conn:write("GET /health HTTP/1.1\r\nHost: spec\r\n"))
    local r = assert(s:read_response({ timeout = 5 }))
    local took = require("nest.core.app").hrtime() - t0
    assert.equal(408, r.status)
    assert.equal("REQUEST_TIMEOUT", r.json.error.code)
    assert.is_true(took >= 0.25 and took < 3, "took " .. took)
    assert_closed(s)
  end)

  it("closes a keep-alive connection that stays idle", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/health")))
    assert.equal(200, assert(s:read_response()).status)
    local t0 = require("nest.core.app").hrtime()
    local data, err = s.conn:read(5)
    local took = require("nest.core.app").hrtime() - t0
    assert.is_nil(data)
    assert.equal("closed", err)
    assert.is_true(took >= 0.2 and took < 3, "took " .. took)
  end)

  it("does not time out a handler that takes longer than the timeouts", function()
    local r = assert(app:get("/echo/sleep?s=0.6&key=long"))
    assert.equal(200, r.status)
  end)

  it("closes a silent connection that never sends a byte", function()
    local s = app:raw()
    local data, err = s.conn:read(5)
    assert.is_nil(data)
    assert.equal("closed", err)
  end)
end)

describe("HTTP connection limit", function()
  it("answers 503 over max_connections and closes that connection only", function()
    local app = echo_app({ http = { max_connections = 2 } })
    local ok, err = pcall(function()
      local a, b = app:raw(), app:raw()
      for _, s in ipairs({ a, b }) do   -- both accepted and counted
        assert(s.conn:write(req("GET", "/health")))
        assert.equal(200, assert(s:read_response()).status)
      end
      local c = app:raw()
      local r = assert(c:read_response())
      assert.equal(503, r.status)
      assert.equal("OVERLOADED", r.json.error.code)
      assert_closed(c)
      assert(a.conn:write(req("GET", "/health")))    -- the others still work
      assert.equal(200, assert(a:read_response()).status)
      b.conn:close()
      -- a slot is free again once b is gone
      h.wait_until(function()
        local d = app:raw()
        d.conn:write(req("GET", "/health"))
        local rr = d:read_response()
        d.conn:close()
        return rr and rr.status == 200
      end, 5, 0.02, "a free connection slot")
      a.conn:close()
    end)
    app:stop()
    assert(ok, err)
  end)
end)

describe("a slow reader", function()
  it("holds the streaming handler back instead of queueing without bound", function()
    local app = echo_app({ http = { write_high_water = 64 * 1024 } })
    local ok, err = pcall(function()
      local chunks, size = 1024, 64 * 1024                  -- 64 MiB in all
      local s = app:raw()
      s.conn:pause()
      assert(s.conn:write(req("GET", ("/echo/stream?n=%d&size=%d&key=slow"):format(chunks, size))))
      -- wait until the handler stops making progress: it is blocked in write
      local last, stable = -1, 0
      h.wait_until(function()
        local st = state(app).stream.slow
        local w = st and st.written or -1
        if w >= 0 and w == last then stable = stable + 1 else stable = 0 end
        last = w
        return stable >= 5
      end, 10, 0.05, "the writer to stall")
      local stalled = last
      -- kernel socket buffers hold some MiB; the server itself at most the
      -- high-water mark plus one chunk. Without backpressure all 64 MiB
      -- would be queued at once and the handler would be done.
      assert.is_true(stalled < chunks // 2, "wrote " .. stalled .. " chunks while the client slept")
      assert.is_false(state(app).stream.slow.done)
      s.conn:resume()
      local r = assert(s:read_response({ timeout = 30 }))
      assert.equal(200, r.status)
      assert.equal(chunks * size, #r.body)
      assert.equal("$", r.body:sub(-1))
      h.wait_until(function() return state(app).stream.slow.done end, 5)
      s.conn:close()
    end)
    app:stop()
    assert(ok, err)
  end)
end)
