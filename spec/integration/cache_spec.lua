-- spec/integration/cache_spec.lua — nest.cache: L1 + L2 (real Redis),
-- cache-aside fetch with single-flight, negative caching, serve-stale, TTL
-- expiry, and reads while Redis is down.
local cache = require "nest.cache"
local redis = require "nest.redis"
local l1 = require "nest.core.cache"
local event = require "nest.core.event"
local timer = require "nest.timer"
local log = require "nest.log"
local napp = require "nest.core.app"
local h = require "spec.helpers"
local private = require "spec.fixtures.redis_private"

local REDIS_URL = os.getenv("REDIS_URL")
local uniq = ("cspec:%d:"):format(math.floor(napp.now() * 1000))
local n = 0
local function key() n = n + 1; return uniq .. n end

describe("nest.core.event", function()
  it("wakes every waiter with the signalled values", function()
    local ev = event.new()
    local got = {}
    for i = 1, 3 do
      timer.at(0, function() got[i] = { ev:wait(5) } end)
    end
    h.wait_until(function() return ev:waiting() == 3 end)
    assert.equal(3, ev:signal("v", nil, 7))
    h.wait_until(function() return #got == 3 end)
    for i = 1, 3 do assert.same({ "v", nil, 7 }, got[i]) end
    assert.equal(0, ev:signal("late"))
  end)

  it("times out", function()
    local ev = event.new()
    local t0 = napp.hrtime()
    assert.same({ nil, "timeout" }, { ev:wait(0.05) })
    assert.is_true(napp.hrtime() - t0 >= 0.04)
    assert.equal(0, ev:waiting())
  end)
end)

describe("nest.cache", function()
  setup(function()
    assert(REDIS_URL and REDIS_URL ~= "", "REDIS_URL must be set (scripts/lib/services.sh)")
    redis.configure({ url = REDIS_URL, reconnect_max = 0.2 })
    h.wait_until(redis.available, 5, 0.01, "redis")
  end)

  it("writes through to L2 and reads back from it, keeping types", function()
    local ks, ki, kf = key(), key(), key()
    assert.is_true(cache.set(ks, "42", 30))
    assert.is_true(cache.set(ki, 42, 30))
    assert.is_true(cache.set(kf, 1.5, 30))
    assert.equal("s42", redis.call("GET", cache.PREFIX .. ks))
    for _, k in ipairs({ ks, ki, kf }) do l1.delete(k) end    -- as on another instance
    assert.equal("42", cache.get(ks))
    assert.equal(42, cache.get(ki))
    assert.equal("integer", math.type(cache.get(ki)))
    assert.equal(1.5, cache.get(kf))
    assert.is_true(cache.ttl(ks) > 25)                           -- L1 refilled with the L2 TTL
    assert.is_true(cache.delete(ks))
    assert.is_nil(redis.call("GET", cache.PREFIX .. ks))
    assert.is_nil(cache.get(ks))
  end)

  it("add is decided by L2 when it is up", function()
    local k = key()
    assert.is_true(cache.add(k, "a", 30))
    l1.delete(k)                         -- another instance's L1 would not have it
    assert.same({ false, "exists" }, { cache.add(k, "b", 30) })
  end)

  it("fetch: loader, then l1, then l2; tables round-trip", function()
    local k, calls = key(), 0
    local function loader() calls = calls + 1; return { id = 7, tags = { "a" } } end
    local v, err, level = cache.fetch(k, { ttl = 30 }, loader)
    assert.same({ id = 7, tags = { "a" } }, v)
    assert.is_nil(err)
    assert.equal("loader", level)
    assert.equal("l1", select(3, cache.fetch(k, { ttl = 30 }, loader)))
    l1.delete(k)
    v, err, level = cache.fetch(k, { ttl = 30 }, loader)
    assert.equal("l2", level)
    assert.same({ id = 7, tags = { "a" } }, v)
    assert.equal("l1", select(3, cache.fetch(k, { ttl = 30 }, loader)))
    assert.equal(1, calls)
  end)

  it("single-flight: 100 concurrent misses run the loader once", function()
    local k, calls, results = key(), 0, {}
    local function loader()
      calls = calls + 1
      timer.sleep(0.05)
      return "value-" .. calls
    end
    for i = 1, 100 do
      timer.at(0, function() results[i] = { cache.fetch(k, { ttl = 30 }, loader) } end)
    end
    h.wait_until(function()
      local c = 0
      for _ in pairs(results) do c = c + 1 end
      return c == 100
    end, 5)
    assert.equal(1, calls)
    for i = 1, 100 do
      assert.equal("value-1", results[i][1])
      assert.equal("loader", results[i][3])
    end
  end)

  it("single-flight also shares a failure", function()
    local k, calls, results = key(), 0, {}
    local function loader() calls = calls + 1; timer.sleep(0.02); error("upstream down") end
    for i = 1, 10 do timer.at(0, function() results[i] = { cache.fetch(k, {}, loader) } end) end
    h.wait_until(function() return #results == 10 end, 5)
    assert.equal(1, calls)
    for i = 1, 10 do
      assert.is_nil(results[i][1])
      assert.matches("upstream down", results[i][2])
    end
  end)

  it("caches a nil result for neg_ttl", function()
    local k, calls = key(), 0
    local function loader() calls = calls + 1; return nil end
    assert.same({ nil, nil, "loader" }, { cache.fetch(k, { ttl = 30, neg_ttl = 0.2 }, loader) })
    assert.same({ nil, nil, "l1" }, { cache.fetch(k, { ttl = 30, neg_ttl = 0.2 }, loader) })
    assert.equal(1, calls)
    timer.sleep(0.25)
    cache.fetch(k, { ttl = 30, neg_ttl = 0.2 }, loader)
    assert.equal(2, calls)
    -- without neg_ttl nothing is cached
    local k2, c2 = key(), 0
    for _ = 1, 2 do cache.fetch(k2, {}, function() c2 = c2 + 1 end) end
    assert.equal(2, c2)
  end)

  it("never caches a failure", function()
    local k, calls = key(), 0
    for _ = 1, 2 do
      local v, err = cache.fetch(k, { ttl = 30 }, function() calls = calls + 1; return nil, "boom" end)
      assert.is_nil(v)
      assert.equal("boom", err)
    end
    assert.equal(2, calls)
  end)

  it("expires entries after ttl", function()
    local k, calls = key(), 0
    local function loader() calls = calls + 1; return calls end
    assert.equal(1, (cache.fetch(k, { ttl = 0.1 }, loader)))
    assert.equal(1, (cache.fetch(k, { ttl = 0.1 }, loader)))
    timer.sleep(0.15)
    local v, _, level = cache.fetch(k, { ttl = 0.1 }, loader)
    assert.equal(2, v)
    assert.equal("loader", level)
    assert.is_nil(redis.call("GET", cache.PREFIX .. uniq .. "never-set"))
  end)

  it("serves stale when the loader fails past ttl", function()
    local k = key()
    local opts = { ttl = 0.1, stale_ttl = 30 }
    assert.equal("fresh", (cache.fetch(k, opts, function() return "fresh" end)))
    timer.sleep(0.15)
    assert.same({ "fresh", "down", "stale" }, { cache.fetch(k, opts, function() return nil, "down" end) })
    local v, err, level = cache.fetch(k, opts, function() error("raised") end)
    assert.equal("fresh", v)
    assert.matches("raised", err)
    assert.equal("stale", level)
    -- a stale entry is refreshed when the loader works again
    assert.same({ "new", nil, "loader" }, { cache.fetch(k, opts, function() return "new" end) })
    assert.same({ "new", nil, "l1" }, { cache.fetch(k, opts, function() return "x" end) })
    -- and stale values come from L2 too (another instance)
    timer.sleep(0.15)
    l1.delete(k)
    assert.same({ "new", "down", "stale" }, { cache.fetch(k, opts, function() return nil, "down" end) })
  end)

  describe("with Redis down", function()
    local port
    setup(function()
      port = private.port()
      private.start(port)
      redis.configure({ url = private.url(port), reconnect_max = 0.2, command_timeout = 1 })
      h.wait_until(redis.available, 5, 0.01)
    end)
    teardown(function()
      private.stop(port)
      redis.configure({ url = REDIS_URL, reconnect_max = 0.2 })
    end)

    it("still answers cached reads from L1 and loads the rest, then uses L2 again", function()
      local k1, k2 = key(), key()
      assert.equal("one", (cache.fetch(k1, { ttl = 30 }, function() return "one" end)))
      cache.set(k2, "two", 30)
      local lines = {}
      log.set_writer(function(line) lines[#lines + 1] = line end)
      private.stop(port)
      h.wait_until(function() return not redis.available() end, 5, 0.01)
      local t0 = napp.hrtime()
      assert.same({ "one", nil, "l1" }, { cache.fetch(k1, { ttl = 30 }, function() return "x" end) })
      assert.equal("two", cache.get(k2))
      assert.is_nil(cache.get(key()))
      local k3 = key()
      assert.same({ "three", nil, "loader" }, { cache.fetch(k3, { ttl = 30 }, function() return "three" end) })
      assert.is_true(cache.set(key(), "v", 30))
      assert.is_true(cache.delete(k2))
      assert.is_true(napp.hrtime() - t0 < 0.2, "no waiting on the dead Redis")
      private.start(port)
      h.wait_until(redis.available, 5, 0.01, "reconnect")
      log.set_writer(nil)
      local warns = 0
      for _, l in ipairs(lines) do if l:find("redis unavailable", 1, true) then warns = warns + 1 end end
      assert.equal(1, warns)
      local k4 = key()
      cache.set(k4, "four", 30)
      assert.equal("sfour", redis.call("GET", cache.PREFIX .. k4))
    end)
  end)
end)
