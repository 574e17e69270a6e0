-- spec/integration/http_protocol_spec.lua — HTTP/1.1 itself, over real
-- sockets and raw bytes: keep-alive, pipelining, chunked bodies both ways,
-- Expect: 100-continue, HEAD, X-Request-Id, the security headers, gzip and
-- Vary, the access log and the slow_request warning.
local h = require "spec.helpers"

local function echo_app(cfg) return h.start_fixtures({ "echo" }, cfg) end
local req = h.request_bytes


describe("HTTP/1.1", function()
  local app
  setup(function() app = echo_app() end)
  teardown(function() app:stop() end)

  it("keeps a connection alive across two requests", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/health")))
    local r1 = assert(s:read_response())
    assert.equal(200, r1.status)
    assert.is_nil(r1.headers.connection)
    assert(s.conn:write(req("GET", "/health")))
    local r2 = assert(s:read_response())
    assert.equal(200, r2.status)
    assert.same({ status = "ok" }, r2.json)
    s.conn:close()
  end)

  it("answers pipelined requests in order, even when the first is the slowest", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/echo/sleep?s=0.15&key=pipe", { "X-Request-Id: pipe-1" })
      .. req("GET", "/health", { "X-Request-Id: pipe-2" })
      .. req("GET", "/echo/text?n=5", { "X-Request-Id: pipe-3" })))
    local a = assert(s:read_response())
    local b = assert(s:read_response())
    local c = assert(s:read_response())
    assert.same({ "pipe-1", "pipe-2", "pipe-3" },
      { a.headers["x-request-id"], b.headers["x-request-id"], c.headers["x-request-id"] })
    assert.equal("pipe", a.json.key)
    assert.same({ status = "ok" }, b.json)
    assert.equal("abcde", c.body)
    s.conn:close()
  end)

  it("reads a chunked request body", function()
    local s = app:raw()
    assert(s.conn:write("POST /echo HTTP/1.1\r\nHost: spec\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"))
    assert(s.conn:write("6\r\n world\r\n0\r\n\r\n"))
    local r = assert(s:read_response())
    assert.equal(200, r.status)
    assert.equal("hello world", r.body)
    assert.equal("11", r.headers["x-body-length"])
    s.conn:close()
  end)

  it("streams a chunked response", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/echo/stream?n=3&size=10&key=chunked")))
    local r = assert(s:read_response())
    assert.equal(200, r.status)
    assert.equal("chunked", r.headers["transfer-encoding"])
    assert.is_nil(r.headers["content-length"])
    assert.equal(("x"):rep(29) .. "$", r.body)
    -- the connection is still usable after the terminating chunk
    assert(s.conn:write(req("GET", "/health")))
    assert.equal(200, assert(s:read_response()).status)
    s.conn:close()
  end)

  it("answers Expect: 100-continue with 100, then the response", function()
    local s = app:raw()
    assert(s.conn:write("POST /echo HTTP/1.1\r\nHost: spec\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
    local interim = assert(s:read_until("\r\n\r\n", 5))
    assert.equal("HTTP/1.1 100 Continue", interim)
    assert(s.conn:write("hello"))
    local r = assert(s:read_response())
    assert.equal(200, r.status)
    assert.equal("hello", r.body)
    s.conn:close()
  end)

  it("refuses an Expect: 100-continue body over the limit with 413 and no 100", function()
    local s = app:raw()
    assert(s.conn:write("POST /echo/small HTTP/1.1\r\nHost: spec\r\nExpect: 100-continue\r\n"
      .. "Content-Length: 1000\r\n\r\n"))
    local head = assert(s:read_until("\r\n", 5))
    assert.equal("HTTP/1.1 413 Content Too Large", head)
    s.conn:close()
  end)

  it("answers HEAD with the headers of GET and no body", function()
    local s = app:raw()
    -- a GET pipelined right behind: any body bytes after the HEAD would
    -- be read as the start of the next response and break it
    assert(s.conn:write(req("HEAD", "/echo/text?n=2000") .. req("GET", "/health")))
    local r = assert(s:read_response({ head = true }))
    assert.equal(200, r.status)
    assert.equal("2000", r.headers["content-length"])
    assert.equal("text/plain; charset=utf-8", r.headers["content-type"])
    local g = assert(s:read_response())
    assert.equal(200, g.status)
    assert.same({ status = "ok" }, g.json)
    s.conn:close()
  end)

  it("answers HEAD of a streamed route with no body", function()
    local s = app:raw()
    assert(s.conn:write(req("HEAD", "/echo/stream?n=3&size=10&key=head") .. req("GET", "/health")))
    local r = assert(s:read_response({ head = true }))
    assert.equal(200, r.status)
    local g = assert(s:read_response())
    assert.equal(200, g.status)
    assert.same({ status = "ok" }, g.json)
    s.conn:close()
  end)

  it("closes after the response when the client says Connection: close", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/health", { "Connection: close" })))
    local r = assert(s:read_response())
    assert.equal(200, r.status)
    assert.equal("close", r.headers.connection)
    local rest, err = s:read_all(5)
    assert.equal("", rest)
    assert.is_nil(err)
  end)

  it("speaks HTTP/1.0: closes without keep-alive, keeps alive when asked", function()
    local s = app:raw()
    assert(s.conn:write("GET /health HTTP/1.0\r\n\r\n"))
    local r = assert(s:read_response())
    assert.equal(200, r.status)
    assert.equal("", (s:read_all(5)))
    local k = app:raw()
    assert(k.conn:write("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
    assert.equal(200, assert(k:read_response()).status)
    assert(k.conn:write("GET /echo/stream?n=2&size=4&key=h10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
    local st = assert(k:read_response())           -- no chunked in 1.0: the body ends at close
    assert.equal(200, st.status)
    assert.is_nil(st.headers["transfer-encoding"])
    assert.equal("xxxxxxx$", st.body)
  end)

  it("answers a request carrying an Upgrade it does not do, and the next one too", function()
    local s = app:raw()
    assert(s.conn:write(req("GET", "/health", { "Connection: Upgrade", "Upgrade: h2c" })
      .. req("GET", "/echo/text?n=3")))
    assert.equal(200, assert(s:read_response()).status)
    local r2 = assert(s:read_response({ timeout = 3 }))
    assert.equal("abc", r2.body)
    s.conn:close()
  end)

  describe("X-Request-Id", function()
    it("echoes a sane one", function()
      local r = assert(app:get("/health", { headers = { ["X-Request-Id"] = "client-id_1.2:3" } }))
      assert.equal("client-id_1.2:3", r.headers["x-request-id"])
    end)

    it("generates one when the client's is not sane, and uses it in errors", function()
      for _, bad in ipairs({ "has space", "quote\"d", ("x"):rep(65), "" }) do
        local r = assert(app:get("/api/v1/nope", { headers = { ["X-Request-Id"] = bad } }))
        local id = r.headers["x-request-id"]
        assert.is_truthy(id)
        assert.not_equal(bad, id)
        assert.matches("^%x+$", id)
        assert.equal(id, r.json.error.requestId)
      end
    end)

    it("generates distinct ones when none is sent", function()
      local a = assert(app:get("/health")).headers["x-request-id"]
      local b = assert(app:get("/health")).headers["x-request-id"]
      assert.is_truthy(a)
      assert.not_equal(a, b)
    end)
  end)

  it("sends the security headers and nothing identifying the server", function()
    for _, path in ipairs({ "/health", "/api/v1/nope" }) do
      local r = assert(app:get(path))
      local hd = r.headers
      assert.matches("default%-src 'self'", hd["content-security-policy"])
      assert.matches("connect%-src 'self' ws: wss:", hd["content-security-policy"])
      assert.matches("img%-src 'self' data:", hd["content-security-policy"])
      assert.equal("nosniff", hd["x-content-type-options"])
      assert.equal("DENY", hd["x-frame-options"])
      assert.equal("strict-origin-when-cross-origin", hd["referrer-policy"])
      assert.is_truthy(hd["permissions-policy"])
      assert.equal("same-origin-allow-popups", hd["cross-origin-opener-policy"])
      assert.is_nil(hd["server"])
      assert.is_nil(hd["x-powered-by"])
      assert.is_nil(hd["strict-transport-security"])   -- hsts is off by default
    end
  end)

  describe("gzip", function()
    it("compresses a dynamic body over 1 KiB when accepted, with Vary", function()
      local r = assert(app:get("/echo/text?n=4000", { headers = { ["Accept-Encoding"] = "br, gzip" } }))
      assert.equal(200, r.status)
      assert.equal("gzip", r.headers["content-encoding"])
      assert.matches("Accept%-Encoding", r.headers["vary"])
      assert.equal("\31\139", r.body:sub(1, 2))
      assert.is_true(#r.body < 4000)
      assert.equal(#r.body, tonumber(r.headers["content-length"]))
    end)

    it("does not compress when not accepted or refused, but still says Vary", function()
      for _, ae in ipairs({ false, "identity", "gzip;q=0", "br" }) do
        local r = assert(app:get("/echo/text?n=4000", { headers = { ["Accept-Encoding"] = ae or nil } }))
        assert.is_nil(r.headers["content-encoding"])
        assert.equal(4000, #r.body)
        assert.matches("Accept%-Encoding", r.headers["vary"])
      end
    end)

    it("does not compress bodies under 1 KiB", function()
      local r = assert(app:get("/echo/text?n=1000", { headers = { ["Accept-Encoding"] = "gzip" } }))
      assert.is_nil(r.headers["content-encoding"])
      assert.equal(1000, #r.body)
    end)
  end)

  it("writes one JSON access log line per request", function()
    local r = assert(app:get("/echo/text?n=7", { headers = { ["X-Request-Id"] = "log-line-1" } }))
    assert.equal(200, r.status)
    local line = h.wait_until(function()
      for _, l in ipairs(app:log_lines()) do if l.requestId == "log-line-1" then return l end end
    end, 5, 0.01, "the access log line")
    assert.equal("GET", line.method)
    assert.equal("/echo/text", line.route)
    assert.equal(200, line.status)
    assert.equal(7, line.bytes)
    assert.equal("number", type(line.durationMs))
    assert.equal("127.0.0.1", line.ip)
    assert.equal("info", line.level)
    assert.equal("request", line.msg)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", line.time)
    assert.equal(require("cjson.safe").null, line.userId)   -- "userId":null
  end)
end)

describe("slow requests", function()
  it("are logged as slow_request at warn level, fast ones are not", function()
    local app = echo_app({ http = { slow_request = 0.1 } })
    assert.equal(200, assert(app:get("/echo/sleep?s=0.2&key=slow",
      { headers = { ["X-Request-Id"] = "slow-1" } })).status)
    assert.equal(200, assert(app:get("/health", { headers = { ["X-Request-Id"] = "fast-1" } })).status)
    local lines = h.wait_until(function()
      local s, f
      for _, l in ipairs(app:log_lines()) do
        if l.requestId == "slow-1" then s = l end
        if l.requestId == "fast-1" then f = l end
      end
      if s and f then return { s, f } end
    end, 5, 0.01, "both log lines")
    local slow, fast = lines[1], lines[2]
    app:stop()
    assert.equal("warn", slow.level)
    assert.equal("slow_request", slow.msg)
    assert.is_true(slow.durationMs >= 200)
    assert.equal("info", fast.level)
    assert.equal("request", fast.msg)
  end)
end)
