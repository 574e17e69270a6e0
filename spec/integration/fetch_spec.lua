-- spec/integration/fetch_spec.lua — nest.fetch against an in-process
-- upstream (spec/fixtures/plugins/upstream) over real loopback sockets.
local h = require "spec.helpers"
local fetch = require "nest.fetch"
local core = require "nest.core.fetch"
local timer = require "nest.timer"
local napp = require "nest.core.app"
local metrics = require "nest.core.metrics"

local function start_upstream()
  return h.start({ config = { plugins = { paths = { h.root .. "/spec/fixtures/plugins" },
                                          enabled = { "health", "upstream" } } } })
end

-- run fn(i) for i = 1..n, each in its own task, and wait for all of them
local function concurrently(n, fn, timeout)
  local results, done = {}, 0
  for i = 1, n do
    timer.at(0, function()
      results[i] = { fn(i) }
      done = done + 1
    end)
  end
  h.wait_until(function() return done == n end, timeout or 10, nil, n .. " tasks")
  return results
end

describe("nest.fetch", function()
  local up
  setup(function() up = start_upstream() end)
  teardown(function() up:stop() end)
  before_each(function() assert(fetch(up:url("/up/reset"), { method = "POST" })) end)

  it("GETs with headers and gives lower-case response headers", function()
    local res = assert(fetch(up:url("/up/echo"), { headers = { ["X-Thing"] = "one", Accept = "text/plain" } }))
    assert.equal(200, res.status)
    assert.is_true(res.ok)
    assert.matches("application/json", res.headers["content-type"])
    local e = assert(res:json())
    assert.equal("GET", e.method)
    assert.equal("one", e.headers["x-thing"])
    assert.equal("text/plain", e.headers.accept)
    assert.equal("", e.body)
  end)

  it("POSTs, PUTs, PATCHes and DELETEs with a body", function()
    for _, m in ipairs({ "POST", "PUT", "PATCH", "DELETE" }) do
      local res = assert(fetch(up:url("/up/echo"), { method = m:lower(), body = "payload-" .. m,
                                                     headers = { ["Content-Type"] = "text/plain" } }))
      assert.equal(200, res.status)
      local e = res:json()
      assert.equal(m, e.method)
      assert.equal("payload-" .. m, e.body)
      assert.equal("text/plain", e.headers["content-type"])
      assert.is_nil(e.headers.expect)
    end
  end)

  it("sends HEAD without waiting for a body", function()
    local res = assert(fetch(up:url("/up/echo"), { method = "HEAD", timeout = 2 }))
    assert.equal(200, res.status)
    assert.equal("", res.body)
    assert.matches("application/json", res.headers["content-type"])
  end)

  it("sends Content-Length: 0 for a POST without a body", function()
    local e = assert(fetch(up:url("/up/echo"), { method = "POST" })):json()
    assert.equal("POST", e.method)
    assert.equal("0", e.headers["content-length"])
  end)

  it("round-trips a JSON body", function()
    local doc = { title = "Dune (2021)", ids = { 1, 2, 3 }, nested = { ok = true } }
    local res = assert(fetch(up:url("/up/echo"), { method = "POST", json = doc }))
    local e = res:json()
    assert.equal("application/json", e.headers["content-type"])
    assert.same(doc, require("nest.json").decode(e.body))
  end)

  it("percent-encodes the query: a space is %20, + ! ' ( ) * are encoded", function()
    local res = assert(fetch(up:url("/up/echo"), { query = { q = "a b+c!'()*", page = 2, ["k y"] = "é" } }))
    local e = res:json()
    assert.equal("k%20y=%C3%A9&page=2&q=a%20b%2Bc%21%27%28%29%2A", e.query)
    assert.equal("a b+c!'()*", e.args.q)
    assert.equal("é", e.args["k y"])
    -- appended with & when the url already has a query
    e = assert(fetch(up:url("/up/echo?x=1"), { query = { y = "2" } })):json()
    assert.equal("x=1&y=2", e.query)
  end)

  it("exposes encode_uri_component", function()
    assert.equal("a%20b%2Bc%21%27%28%29%2A-_.~%2F%3F%26%3D", fetch.encode_uri_component("a b+c!'()*-_.~/?&="))
    assert.equal("42", fetch.encode_uri_component(42))
  end)

  it("returns any status code as a response, not an error", function()
    for _, code in ipairs({ 201, 404, 500, 503 }) do
      local res = assert(fetch(up:url("/up/status/" .. code)))
      assert.equal(code, res.status)
      assert.equal(code >= 200 and code < 300, res.ok)
      assert.equal(code, res:json().code)
    end
  end)

  it("reports a refused connection on a closed port", function()
    local other = start_upstream()
    local url = other:url("/health")
    other:stop()
    local res, err = fetch(url, { timeout = { connect = 1, total = 2 } })
    assert.is_nil(res)
    assert.matches("^connect refused: ", err)
  end)

  it("times out against a slow route, and resumes the task once", function()
    local returns, result = 0, nil
    local t0 = napp.hrtime()
    timer.at(0, function()
      result = { fetch(up:url("/up/slow?s=1"), { timeout = 0.2 }) }
      returns = returns + 1
    end)
    h.wait_until(function() return returns > 0 end, 5, nil, "the fetch to return")
    local elapsed = napp.hrtime() - t0
    assert.is_nil(result[1])
    assert.equal("timeout", result[2])
    assert.is_true(elapsed >= 0.15 and elapsed < 0.9, "elapsed " .. elapsed)
    -- nothing to await here: we assert the absence of a second resume after
    -- the slow route would have answered (1 s)
    timer.sleep(1)
    assert.equal(1, returns)
    assert.equal(200, assert(fetch(up:url("/health"))).status)
  end)

  it("refuses a body over max_size, with and without Content-Length", function()
    local res = assert(fetch(up:url("/up/big?n=100000"), { max_size = 100000 }))
    assert.equal(100000, #res.body)
    local r2, err = fetch(up:url("/up/big?n=100001"), { max_size = 100000 })
    assert.is_nil(r2)
    assert.equal("too large", err)
    local r3, err3 = fetch(up:url("/up/big?n=300000&chunked=1"), { max_size = 100000 })
    assert.is_nil(r3)
    assert.equal("too large", err3)
    local r4 = assert(fetch(up:url("/up/big?n=300000&chunked=1")))
    assert.equal(300000, #r4.body)
    assert.is_nil(r4.headers["content-length"])
  end)

  it("decodes a gzip response, and applies max_size to the decoded bytes", function()
    local pad = ("a"):rep(3000)
    local res = assert(fetch(up:url("/up/echo"), { query = { pad = pad } }))
    assert.equal("gzip", res.headers["content-encoding"])
    assert.is_true(tonumber(res.headers["content-length"]) < 1000)
    assert.equal(pad, res:json().args.pad)
    local r2, err = fetch(up:url("/up/echo"), { query = { pad = pad }, max_size = 1000 })
    assert.is_nil(r2)
    assert.equal("too large", err)
  end)

  it("does not follow redirects unless asked, then at most 5", function()
    local res = assert(fetch(up:url("/up/hops/2")))
    assert.equal(302, res.status)
    assert.equal("/up/hops/1", res.headers.location)
    res = assert(fetch(up:url("/up/hops/5"), { follow = true }))
    assert.equal(200, res.status)
    assert.is_true(res:json().arrived)
    assert.equal(5, res.redirects)
    assert.equal(up:url("/up/hops/0"), res.url)
    local r2, err = fetch(up:url("/up/hops/6"), { follow = true })
    assert.is_nil(r2)
    assert.equal("too many redirects", err)
  end)

  it("keeps connections alive and reuses them", function()
    local other = start_upstream()
    local first = assert(fetch(other:url("/health")))
    local second = assert(fetch(other:url("/health")))
    local third = assert(fetch(other:url("/up/echo")))
    other:stop()
    assert.equal(1, first.new_connections)
    assert.equal(0, second.new_connections)
    assert.equal(0, third.new_connections)
  end)

  it("opens at most 10 connections to one host (30 concurrent slow fetches)", function()
    local results = concurrently(30, function() return fetch(up:url("/up/slow?s=0.2")) end)
    for i = 1, 30 do assert.equal(200, results[i][1] and results[i][1].status, tostring(results[i][2])) end
    local st = assert(fetch(up:url("/up/stats"))):json()
    assert.equal(30, st.slow)
    assert.is_true(st.max <= 10, "max concurrency " .. st.max)
    assert.is_true(st.max >= 5, "max concurrency " .. st.max .. " (expected parallelism)")
  end)

  it("takes the per-host cap from max_host_connections", function()
    -- the cap bounds new connections: a fresh host, so no idle ones exist
    local other = start_upstream()
    finally(function()
      other:stop()
      assert(core.request(up:url("/health"), { max_host_connections = 10 }))
    end)
    assert(core.request(other:url("/health"), { max_host_connections = 3 }))
    assert.equal(3, core.stats().max_host_connections)
    -- straight to the core: nest.fetch would re-apply the configured cap (10)
    concurrently(9, function()
      local res = core.request(other:url("/up/slow?s=0.1"), { max_host_connections = 3 })
      return res
    end)
    local st = assert(fetch(other:url("/up/stats"))):json()
    assert.equal(9, st.slow)
    assert.is_true(st.max <= 3 and st.max >= 2, "max concurrency " .. st.max)
  end)

  it("completes 50 concurrent fetches", function()
    local results = concurrently(50, function(i) return fetch(up:url("/up/echo"), { query = { i = i } }) end)
    for i = 1, 50 do
      local res = results[i][1]
      assert.truthy(res, tostring(results[i][2]))
      assert.equal(tostring(i), res:json().args.i)
    end
  end)

  it("cancels a pending fetch when its task is cancelled (client went away)", function()
    local s = up:raw()
    local target = up:url("/up/slow?s=0.5")
    assert(s.conn:write("GET /up/proxy?url=" .. fetch.encode_uri_component(target) ..
                        " HTTP/1.1\r\nHost: x\r\n\r\n"))
    h.wait_until(function()
      local st = assert(fetch(up:url("/up/stats"))):json()
      return st.proxy_started == 1 and st.inflight == 1
    end, 5, nil, "the proxied fetch to be pending")
    s.conn:close()
    -- had the fetch not been cancelled, the proxy task would finish at 0.5 s
    timer.sleep(0.8)
    local st = assert(fetch(up:url("/up/stats"))):json()
    assert.equal(0, st.proxy_finished)
    -- the loop keeps serving, and the proxy route works when nobody leaves
    local res = assert(fetch(up:url("/up/proxy"), { query = { url = up:url("/up/status/201") } }))
    assert.equal(201, res.status)
  end)

  it("observes upstream_request_duration_seconds{service}", function()
    assert(fetch(up:url("/health"), { service = "spec-upstream" }))
    local text = metrics.expose()
    assert.matches('upstream_request_duration_seconds_count{service="spec-upstream"} 1', text, 1, true)
  end)

  it("answers nil, err for a url that is not http(s), and raises on a bad header", function()
    local res, err = fetch("ftp://127.0.0.1/x")
    assert.is_nil(res)
    assert.matches("^bad url", err)
    assert.has_error(function() fetch(up:url("/health"), { headers = { ["X-A"] = "a\r\nX-B: b" } }) end)
    assert.has_error(function() fetch(up:url("/health"), { method = "GE T" }) end)
  end)

  it("verifies TLS certificates (a plain HTTP server does not speak TLS)", function()
    local res, err = fetch(("https://127.0.0.1:%d/health"):format(up.port), { timeout = 2 })
    assert.is_nil(res)
    assert.matches("^tls: ", err)
  end)
end)
