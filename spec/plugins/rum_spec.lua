-- spec/plugins/rum_spec.lua — POST /api/v1/analytics/rum (plugins/rum):
-- what sendBeacon sends is accepted, bad reports are refused whole, values
-- land in the web_vitals_* histograms on /metrics with bounded labels, and
-- the endpoint is rate-limited per IP (the named `rum` limit, or the
-- plugin's own default when config has none).
--
-- Rate limits run in process here (redis.url = ""): the key is the client
-- IP, which every spec shares, so a shared Redis would mix their counts.
local h = require "spec.helpers"
local prom = require "spec.helpers_prom"
local napp = require "nest.core.app"
local timer = require "nest.timer"

local PATH = "/api/v1/analytics/rum"
local TOKEN = "spec-rum-metrics-token-0123456789"

local function start(extra)
  local cfg = { redis = { url = "" }, metrics = { token = TOKEN } }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return h.start({ plugins = { "health", "metrics", "ratelimit", "rum" }, config = cfg })
end

local function scrape(app)
  local res = assert(app:get("/metrics", { headers = { Authorization = "Bearer " .. TOKEN } }))
  assert.equal(200, res.status, res.body)
  return prom.parse(res.body)
end

local function count(m, name, labels)
  local hist = prom.histogram(m, name, labels)
  return hist and hist.count or 0, hist
end

local function beacon(app, body, ctype)
  return assert(app:post(PATH, nil, { body = body,
    headers = { ["Content-Type"] = ctype == nil and "text/plain;charset=UTF-8" or ctype or nil } }))
end

-- Windows are aligned on the epoch: counting exactly needs a fresh one.
local function fresh_window(w)
  local e = napp.now() % w
  if e > w - 12 then timer.sleep(w - e + 0.05) end
end

describe("plugins/rum", function()
  local app

  setup(function() app = start() end)
  teardown(function() if app then app:stop() end end)

  it("accepts a beacon (text/plain) and records it in seconds by name and page", function()
    local before = count(scrape(app), "web_vitals_seconds", { name = "LCP", page = "/library" })
    local res = beacon(app, '{"name":"LCP","value":812.5,"page":"/library/42","id":"v5-1","rating":"good"}')
    assert.equal(204, res.status, res.body)
    local n, hist = count(scrape(app), "web_vitals_seconds", { name = "LCP", page = "/library" })
    assert.equal(before + 1, n)
    assert.is_true(hist.sum >= 0.8125 - 1e-9)
    -- 0.8125 s falls in the 1 s bucket, not the 0.8 s one
    local b08, b1
    for _, b in ipairs(hist.buckets) do
      if b.le == 0.8 then b08 = b.count elseif b.le == 1 then b1 = b.count end
    end
    assert.is_true(b1 > b08)
  end)

  it("takes a batch as application/json; CLS is unitless; unknown pages count as other", function()
    local m0 = scrape(app)
    local cls0 = count(m0, "web_vitals_cls", { page = "other" })
    local fcp0 = count(m0, "web_vitals_seconds", { name = "FCP", page = "/" })
    local ttfb0 = count(m0, "web_vitals_seconds", { name = "TTFB", page = "/signin" })
    local res = assert(app:post(PATH, { metrics = {
      { name = "CLS", value = 0.12, page = "/no/such/page" },
      { name = "FCP", value = 420, page = "/" },
      { name = "TTFB", value = 95, page = "/signin?next=%2F" },
      { name = "INP", value = 64, page = "/admin" },
    } }))
    assert.equal(204, res.status, res.body)
    local m = scrape(app)
    assert.equal(cls0 + 1, (count(m, "web_vitals_cls", { page = "other" })))
    assert.equal(fcp0 + 1, (count(m, "web_vitals_seconds", { name = "FCP", page = "/" })))
    assert.equal(ttfb0 + 1, (count(m, "web_vitals_seconds", { name = "TTFB", page = "/signin" })))
    -- no label carries the raw path
    for _, s in ipairs(m.samples) do
      if s.labels.page then assert.is_nil(s.labels.page:find("no/such", 1, true)) end
    end
  end)

  it("refuses a bad entry with a message naming it, and records nothing of the batch", function()
    local before = count(scrape(app), "web_vitals_seconds", { name = "FCP", page = "/youtube" })
    local res = assert(app:post(PATH, { metrics = {
      { name = "FCP", value = 300, page = "/youtube" },
      { name = "FID", value = 10, page = "/youtube" },
    } }))
    assert.equal(400, res.status)
    assert.equal("VALIDATION_ERROR", res.json.error.code)
    assert.truthy(res.json.error.message:find("metrics[2]", 1, true), res.json.error.message)
    assert.is_string(res.json.error.requestId)
    assert.equal(before, (count(scrape(app), "web_vitals_seconds", { name = "FCP", page = "/youtube" })))
  end)

  it("validates values: numbers within each metric's range", function()
    for _, body in ipairs({
      '{"name":"LCP","value":-1,"page":"/"}',
      '{"name":"LCP","value":120001,"page":"/"}',
      '{"name":"CLS","value":101,"page":"/"}',
      '{"name":"TTFB","value":"12","page":"/"}',
      '{"name":"INP","page":"/"}',
      '{"name":"FCP","value":10,"page":7}',
      '{"metrics":[]}',
      '{"metrics":"FCP"}',
    }) do
      local res = beacon(app, body)
      assert.equal(400, res.status, body)
      assert.equal("VALIDATION_ERROR", res.json.error.code, body)
    end
    local many = {}
    for i = 1, 21 do many[i] = { name = "FCP", value = i, page = "/" } end
    assert.equal(400, assert(app:post(PATH, { metrics = many })).status)
    assert.equal(204, beacon(app, '{"name":"CLS","value":0,"page":"/"}').status)
    assert.equal(204, beacon(app, '{"name":"LCP","value":120000}').status)   -- no page: other
  end)

  it("refuses non-JSON, other media types and bodies over 4 KB", function()
    local res = beacon(app, "name=LCP&value=3")
    assert.equal(400, res.status)
    assert.equal("INVALID_JSON", res.json.error.code)
    res = beacon(app, '"LCP"')
    assert.equal(400, res.status)
    res = beacon(app, '{"name":"LCP","value":3}', "image/png")
    assert.equal(415, res.status)
    assert.equal("UNSUPPORTED_MEDIA_TYPE", res.json.error.code)
    res = beacon(app, '{"name":"LCP","value":3,"pad":"' .. string.rep("x", 4100) .. '"}')
    assert.equal(413, res.status)
    local m = scrape(app)
    assert.is_true(prom.value(m, "web_vitals_rejected_total", { reason = "json" }) >= 2)
    assert.is_true(prom.value(m, "web_vitals_rejected_total", { reason = "media_type" }) >= 1)
  end)

  it("needs no sign-in and no CSRF header (sendBeacon sends neither)", function()
    local res = beacon(app, '{"name":"FCP","value":1,"page":"/signin"}', false)
    assert.equal(204, res.status, res.body)
  end)

  it("is rate-limited per IP by its own default when config names no `rum` limit", function()
    local a = start()
    fresh_window(60)
    local last
    for _ = 1, 60 do
      last = beacon(a, '{"name":"FCP","value":5,"page":"/"}')
      assert.equal(204, last.status, last.body)
    end
    assert.equal("60", last.headers["x-ratelimit-limit"])
    last = beacon(a, '{"name":"FCP","value":5,"page":"/"}')
    assert.equal(429, last.status)
    assert.equal("RATE_LIMITED", last.json.error.code)
    assert.is_truthy(tonumber(last.headers["retry-after"]))
    a:stop()
  end)

  it("uses the named `rum` limit of config rate_limits when there is one", function()
    local a = start({ rate_limits = { rum = { limit = 3, window = 60, by = "ip" } } })
    fresh_window(60)
    for _ = 1, 3 do
      local res = beacon(a, '{"name":"TTFB","value":5,"page":"/"}')
      assert.equal(204, res.status, res.body)
      assert.equal("3", res.headers["x-ratelimit-limit"])
    end
    local res = beacon(a, '{"name":"TTFB","value":5,"page":"/"}')
    assert.equal(429, res.status)
    assert.is_truthy(tonumber(res.headers["retry-after"]))
    a:stop()
  end)

  -- A signed-in browser's beacon carries the session cookie but cannot carry
  -- X-CSRF-Token: the route says opts.csrf = false, which the auth plugin's
  -- CSRF check must honour (plugins/auth/init.lua, not yet: until then this
  -- spec is pending and signed-in users' reports answer 403 CSRF_FAILED).
  it("accepts a signed-in browser's beacon without X-CSRF-Token", function()
    local ok = io.open(h.root .. "/plugins/auth/init.lua"):read("a"):find("csrf ~= false", 1, true)
    if not ok then return pending("plugins/auth must skip CSRF for routes with opts.csrf = false") end
    local ha = require "spec.helpers_auth"
    local up = h.start({ plugins = { "demo-upstreams" } })
    local a = h.start({ plugins = { "health", "auth", "rum" }, config = ha.config(up, { redis = { url = "" } }) })
    local c = ha.sign_in(a, up, "friend")
    c.headers["X-CSRF-Token"] = nil
    local res = assert(c:post(PATH, nil, { body = '{"name":"FCP","value":3,"page":"/"}',
                                            headers = { ["Content-Type"] = "text/plain;charset=UTF-8" } }))
    a:stop(); up:stop()
    assert.equal(204, res.status, res.body)
  end)
end)
