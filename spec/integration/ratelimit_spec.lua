-- spec/integration/ratelimit_spec.lua — named rate limits over real HTTP:
-- headers, the 429 envelope, per-IP limits, the in-process fallback when
-- Redis is down, and one budget shared by two instances through Redis.
--
-- The limits use windows aligned on the epoch (sliding-window counter, see
-- lua/nest/ratelimit.lua); a burst that straddles a window edge is partly
-- forgiven, so a spec that counts exactly waits for a fresh window first
-- when fewer than 12 s of the current minute remain.
local h = require "spec.helpers"
local rl = require "nest.ratelimit"
local napp = require "nest.core.app"
local timer = require "nest.timer"

local FIXTURES = h.root .. "/spec/fixtures/plugins"

local function start(redis_url, extra)
  local cfg = { plugins = { paths = { FIXTURES } }, redis = { url = redis_url or "" } }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return h.start({ plugins = { "health", "ratelimit", "ratelimit_fixture" }, config = cfg })
end

local function fresh_window(w)
  local e = napp.now() % (w or 60)
  if e > (w or 60) - 12 then timer.sleep((w or 60) - e + 0.05) end
end

describe("nest.ratelimit (unit)", function()
  it("keys by user id when signed in, else by IP; by = 'ip' forces the IP", function()
    local user_req = { user = { id = 42 }, ip = "10.0.0.7" }
    local anon_req = { ip = "10.0.0.7" }
    assert.equal("u:42", rl.key(user_req, { limit = 1, window = 1 }))
    assert.equal("ip:10.0.0.7", rl.key(anon_req, { limit = 1, window = 1 }))
    assert.equal("ip:10.0.0.7", rl.key(user_req, { limit = 1, window = 1, by = "ip" }))
    assert.equal("ip:10.0.0.7", rl.key(user_req, "auth"))    -- config: auth is by IP
    assert.equal("u:42", rl.key(user_req, "search"))
  end)

  it("decides with the sliding-window estimate", function()
    -- 30 s into a 60 s window, 100 last window, 40 now: 50 + 40 = 90 < 100
    local d = rl.decide(100, 60, true, 41, 100, 30)
    assert.equal(9, d.remaining)
    assert.equal(30, d.reset)
    -- 100 last window, 50 now, 30 s in: 100 -> wait until 100*(30-t)/60 < 50: t > 0
    d = rl.decide(100, 60, false, 50, 100, 30)
    assert.equal(0, d.remaining)
    assert.equal(1, d.retry_after)
    -- the current window is full: wait for the next one
    d = rl.decide(100, 60, false, 100, 0, 20.5)
    assert.equal(40, d.retry_after)
  end)

  it("gives api to every /api route (public ones too) and the route's own names", function()
    assert.same({ "api" }, rl.route_limits({ pattern = "/api/v1/x", auth = "user", opts = {} }))
    assert.same({ "api" }, rl.route_limits({ pattern = "/api/v1/x", auth = "public", opts = {} }))
    assert.same({ "api", "search" }, rl.route_limits({ pattern = "/api/v1/x", auth = "user", opts = { rate = "search" } }))
    assert.same({ "api", "search" }, rl.route_limits({ pattern = "/api/v1/x", auth = "public", opts = { rate = "search" } }))
    assert.same({ "search" }, rl.route_limits({ pattern = "/api/v1/x", auth = "public",
                                                opts = { rate = "search", api_rate = false } }))
    assert.same({ "api" }, rl.route_limits({ pattern = "/api/v1/x", auth = "public", opts = { rate = "api" } }))
    assert.same({}, rl.route_limits({ pattern = "/health", auth = "public", opts = {} }))
    assert.same({}, rl.route_limits({ pattern = "/api/v1/x", auth = "user", opts = { rate = false } }))
  end)

  it("limits in process with an injected clock, and the window slides", function()
    local t = 6000                        -- a window edge for 60 s windows
    local saved = rl.clock
    rl.clock = function() return t end
    local l = { limit = 3, window = 60 }
    local name = "spec_unit_" .. math.floor(napp.hrtime() * 1e6)
    for i = 1, 3 do assert.is_true(rl.check_local(name, "k", l).allowed, "request " .. i) end
    local d = rl.check_local(name, "k", l)
    assert.is_false(d.allowed)
    assert.equal(60, d.retry_after)
    t = t + 60 + 30                       -- next window, half way: 3 * 0.5 = 1.5 counted
    assert.is_true(rl.check_local(name, "k", l).allowed)    -- estimate 1.5 < 3
    assert.is_true(rl.check_local(name, "k", l).allowed)    -- 2.5 < 3
    assert.is_false(rl.check_local(name, "k", l).allowed)   -- 3.5
    t = t + 30                            -- the old window no longer weighs
    assert.is_true(rl.check_local(name, "k", l).allowed)
    rl.clock = saved
  end)
end)

describe("the ratelimit plugin, in process", function()
  local app
  setup(function() app = start("") end)
  teardown(function() app:stop() end)

  it("answers the 101st api request in a minute with 429, Retry-After and the headers", function()
    fresh_window(60)
    for i = 1, 100 do
      local res = assert(app:get("/api/v1/rl/api"))
      assert.equal(200, res.status, "request " .. i)
      assert.equal("100", res.headers["x-ratelimit-limit"])
      assert.equal(tostring(100 - i), res.headers["x-ratelimit-remaining"])
      local reset = tonumber(res.headers["x-ratelimit-reset"])
      assert.is_true(reset >= 1 and reset <= 60)
    end
    local res = assert(app:get("/api/v1/rl/api"))
    assert.equal(429, res.status)
    assert.equal("RATE_LIMITED", res.json.error.code)
    local retry = tonumber(res.headers["retry-after"])
    assert.is_true(retry >= 1 and retry <= 60, "Retry-After " .. tostring(res.headers["retry-after"]))
    assert.equal(retry, res.json.error.retryAfter)
    assert.equal("100", res.headers["x-ratelimit-limit"])
    assert.equal("0", res.headers["x-ratelimit-remaining"])
    assert.equal(tostring(retry), res.headers["x-ratelimit-reset"])
    assert.equal(res.headers["x-request-id"], res.json.error.requestId)
    -- an authenticated /api route shares the api budget by default (401 after the limiter)
    res = assert(app:get("/api/v1/rl/private"))
    assert.equal(429, res.status)
    -- so does a public one: anonymous callers are counted by IP
    res = assert(app:get("/api/v1/rl/public"))
    assert.equal(429, res.status)
    -- other limits and unlimited routes are unaffected
    assert.equal(200, assert(app:get("/api/v1/rl/search")).status)
    res = assert(app:get("/api/v1/rl/free"))
    assert.equal(200, res.status)
    assert.is_nil(res.headers["x-ratelimit-limit"])
  end)

  it("limits sign-in attempts per IP (auth: 10 a minute)", function()
    fresh_window(60)
    for i = 1, 10 do assert.equal(200, assert(app:get("/api/v1/rl/login")).status, "request " .. i) end
    local res = assert(app:get("/api/v1/rl/login"))
    assert.equal(429, res.status)
    assert.truthy(res.headers["retry-after"])
  end)

  it("fails the generation when a route names an unknown limit", function()
    local ok, err = pcall(start, "", { rate_limits = { search = false } })
    assert.is_false(ok)
    assert.matches("rate limit", tostring(err))
  end)
end)

describe("the ratelimit plugin with Redis down", function()
  it("still limits, in process", function()
    local app = start("redis://127.0.0.1:1")
    fresh_window(60)
    for i = 1, 10 do assert.equal(200, assert(app:get("/api/v1/rl/login")).status, "request " .. i) end
    local res = assert(app:get("/api/v1/rl/login"))
    assert.equal(429, res.status)
    assert.equal("RATE_LIMITED", res.json.error.code)
    app:stop()
  end)
end)

local REDIS_URL = os.getenv("REDIS_URL")
local have_redis = pcall(require, "nest.redis")
local shared = (REDIS_URL and REDIS_URL ~= "" and have_redis) and describe or pending

shared("the ratelimit plugin, two instances sharing Redis "
  .. "(pending: needs REDIS_URL from scripts/lib/services.sh and nest.redis)", function()
  local a, b
  setup(function()
    local redis = require "nest.redis"
    redis.configure({ url = REDIS_URL })
    local keys = assert(redis.call("KEYS", "rl:search:*"))
    for _, k in ipairs(keys) do redis.call("DEL", k) end
    a, b = start(REDIS_URL), start(REDIS_URL)
  end)
  teardown(function() a:stop() b:stop() end)

  it("spends one budget across both instances", function()
    fresh_window(60)
    for i = 1, 30 do
      local app = (i % 2 == 1) and a or b
      local res = assert(app:get("/api/v1/rl/search"))
      assert.equal(200, res.status, "request " .. i)
      assert.equal(tostring(30 - i), res.headers["x-ratelimit-remaining"])
    end
    for _, app in ipairs({ a, b }) do
      local res = assert(app:get("/api/v1/rl/search"))
      assert.equal(429, res.status)
      assert.truthy(tonumber(res.headers["retry-after"]))
    end
  end)
end)
