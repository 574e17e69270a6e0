-- spec/plugins/metrics_spec.lua — GET /metrics (plugins/metrics) and the
-- request metrics the HTTP bridge keeps in C (core/lua_http.c): the output
-- is parsed with a strict Prometheus text parser (spec/helpers_prom.lua).
local h = require "spec.helpers"
local prom = require "spec.helpers_prom"

local FIXTURES = h.root .. "/spec/fixtures/plugins"
local TOKEN = "spec-metrics-token-0123456789abcdef"

local function scrape(app, headers)
  local res = assert(app:get("/metrics", { headers = headers }))
  assert.equal(200, res.status, res.body)
  return prom.parse(res.body), res
end

local function request_count(m, labels)
  local hist = prom.histogram(m, "http_request_duration_seconds", labels)
  return hist and hist.count or 0, hist
end

describe("plugins/metrics", function()
  local app

  setup(function()
    app = h.start({
      plugins = { "health", "metrics", "metrics_probe" },
      config = { plugins = { paths = { FIXTURES } }, metrics = { token = TOKEN },
                 trusted_proxies = { "127.0.0.1" } },
    })
  end)

  teardown(function() if app then app:stop() end end)

  it("serves Prometheus text 0.0.4 in which every family has HELP and TYPE", function()
    app:get("/health")
    local m, res = scrape(app)
    assert.equal("text/plain; version=0.0.4; charset=utf-8", res.headers["content-type"])
    assert.is_true(#m.samples > 0)
    for _, name in ipairs(m.order) do
      local f = m.families[name]
      assert.is_string(f.type, "no TYPE for " .. name)
      assert.is_string(f.help, "no HELP for " .. name)
      assert.is_true(f.help ~= "", "empty HELP for " .. name)
    end
    for _, s in ipairs(m.samples) do
      assert.not_equal("untyped", m.families[s.family].type, s.name)
    end
    assert.equal("histogram", m.families.http_request_duration_seconds.type)
    assert.equal("gauge", m.families.http_requests_in_flight.type)
  end)

  it("moves the /health histogram by exactly N after N requests, buckets cumulative", function()
    local labels = { method = "GET", route = "/health", status_code = "200" }
    local before = request_count(scrape(app), labels)
    local N = 7
    for _ = 1, N do assert.equal(200, app:get("/health").status) end
    local after, hist = request_count(scrape(app), labels)
    assert.equal(before + N, after)
    local bounds = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, math.huge }
    assert.equal(#bounds, #hist.buckets)
    for i, b in ipairs(hist.buckets) do
      assert.equal(bounds[i], b.le)
      if i > 1 then assert.is_true(b.count >= hist.buckets[i - 1].count, "bucket " .. i .. " not cumulative") end
    end
    assert.equal(hist.count, hist.buckets[#hist.buckets].count)   -- +Inf == _count
    assert.is_true(hist.sum > 0 and hist.sum < 5 * hist.count)
  end)

  it("labels the route pattern, never the raw path", function()
    for _, id in ipairs({ "123", "456", "abc" }) do
      local res = app:get("/api/v1/x/" .. id)
      assert.equal(200, res.status)
      assert.equal(id, res.json.id)
    end
    local m = scrape(app)
    local count = request_count(m, { method = "GET", route = "/api/v1/x/{id}", status_code = "200" })
    assert.equal(3, count)
    for _, s in ipairs(prom.find(m, "http_request_duration_seconds_count")) do
      assert.is_nil(s.labels.route:find("123", 1, true), "raw path in route label: " .. s.labels.route)
    end
  end)

  it("labels requests no route matched as unmatched", function()
    local m0 = scrape(app)
    local labels = { method = "GET", route = "unmatched", status_code = "404" }
    local before = request_count(m0, labels)
    assert.equal(404, app:get("/no/such/thing/42").status)
    assert.equal(404, app:get("/api/v1/nope").status)
    local m = scrape(app)
    assert.equal(before + 2, request_count(m, labels))
    for _, s in ipairs(prom.find(m, "http_request_duration_seconds_count")) do
      assert.is_nil(s.labels.route:find("nope", 1, true))
      assert.is_nil(s.labels.route:find("/no/such", 1, true))
    end
  end)

  it("counts itself in flight while it is being served", function()
    assert.equal(1, prom.value(scrape(app), "http_requests_in_flight"))
  end)

  it("exports process and Lua memory and the generation count", function()
    local m = scrape(app)
    assert.is_true(prom.value(m, "process_resident_memory_bytes") > 0)
    assert.is_true(prom.value(m, "lua_memory_bytes") > 0)
    assert.equal(1, prom.value(m, "runtime_generations"))
  end)

  describe("access", function()
    local far = { ["X-Forwarded-For"] = "10.1.2.3" }

    local function with(extra)
      local t = { ["X-Forwarded-For"] = "10.1.2.3" }
      for k, v in pairs(extra) do t[k] = v end
      return t
    end

    it("answers 401 to a non-loopback client without the token", function()
      local res = app:get("/metrics", { headers = far })
      assert.equal(401, res.status)
      assert.equal("UNAUTHENTICATED", res.json.error.code)
      assert.is_nil(res.body:find("http_request_duration_seconds", 1, true))
    end)

    it("answers 200 to a non-loopback client with the right bearer token", function()
      local m = scrape(app, with({ Authorization = "Bearer " .. TOKEN }))
      assert.is_true(#m.samples > 0)
    end)

    it("answers 401 with a wrong or malformed token", function()
      for _, auth in ipairs({ "Bearer " .. TOKEN .. "x", "Bearer " .. TOKEN:sub(1, -2),
                              "Bearer ", "Basic " .. TOKEN, TOKEN }) do
        local res = app:get("/metrics", { headers = with({ Authorization = auth }) })
        assert.equal(401, res.status, auth)
      end
    end)

    it("trusts X-Forwarded-For only from a trusted proxy", function()
      -- forwarded for a loopback client by the trusted proxy: allowed
      assert.equal(200, app:get("/metrics", { headers = { ["X-Forwarded-For"] = "127.0.0.9" } }).status)
      -- the client's own spoofed entry before the real one does not help
      assert.equal(401, app:get("/metrics", {
        headers = { ["X-Forwarded-For"] = "127.0.0.1, 10.1.2.3" } }).status)
    end)

    it("ignores X-Forwarded-For when no proxy is trusted, and needs a token to be configured", function()
      local other = h.start({ plugins = { "health", "metrics" } })
      local ok, err = pcall(function()
        -- peer is loopback and no proxy is trusted: the header is ignored
        assert.equal(200, other:get("/metrics", { headers = far }).status)
        local parsed = prom.parse(other:get("/metrics").body)
        assert.is_true(#parsed.samples > 0)
      end)
      other:stop()
      assert(ok, err)
    end)

    it("counts 401 answers under the /metrics route", function()
      local before = request_count(scrape(app), { route = "/metrics", status_code = "401" })
      app:get("/metrics", { headers = far })
      assert.equal(before + 1, request_count(scrape(app), { route = "/metrics", status_code = "401" }))
    end)
  end)
end)

describe("plugins/metrics with static files", function()
  it("labels files the server answers itself as route static", function()
    local dir = h.tmpname("-static")
    assert(os.execute("mkdir -p " .. dir))
    local f = assert(io.open(dir .. "/hello.txt", "w"))
    f:write("hello\n")
    f:close()
    local app = h.start({ plugins = { "health", "metrics" }, config = { static = { dir = dir } } })
    local ok, err = pcall(function()
      for _ = 1, 3 do assert.equal("hello\n", app:get("/hello.txt").body) end
      local m = prom.parse(app:get("/metrics").body)
      assert.equal(3, request_count(m, { method = "GET", route = "static", status_code = "200" }))
      for _, s in ipairs(prom.find(m, "http_request_duration_seconds_count")) do
        assert.is_nil(s.labels.route:find("hello", 1, true))
      end
    end)
    app:stop()
    os.remove(dir .. "/hello.txt")
    os.remove(dir)
    assert(ok, err)
  end)
end)
