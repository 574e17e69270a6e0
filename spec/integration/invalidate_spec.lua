-- spec/integration/invalidate_spec.lua — invalidation maps: placeholder
-- substitution, exact and pattern deletes in L1 and L2 (SCAN, not KEYS), and
-- an invalidation on one instance dropping keys on a second one sharing the
-- Redis (two apps in this process, each with its own L1).
local invalidate = require "nest.invalidate"
local cache = require "nest.cache"
local redis = require "nest.redis"
local l1 = require "nest.core.cache"
local napp = require "nest.core.app"
local h = require "spec.helpers"

local REDIS_URL = os.getenv("REDIS_URL")
local u = tostring(math.floor(napp.now() * 1000))   -- user ids unique to this run

describe("nest.invalidate", function()
  setup(function()
    assert(REDIS_URL and REDIS_URL ~= "", "REDIS_URL must be set (scripts/lib/services.sh)")
    redis.configure({ url = REDIS_URL, reconnect_max = 0.2 })
    h.wait_until(redis.available, 5, 0.01, "redis")
    invalidate.register("requests", {
      media_request_created = { "user:{userId}:requests", "stats:requests:*" },
      odd = { "weird:{name}:*" },
    })
  end)

  it("substitutes placeholders and refuses a missing field", function()
    local keys, patterns = invalidate.resolve("media_request_created", { userId = 42 })
    assert.same({ "user:42:requests" }, keys)
    assert.same({ "stats:requests:*" }, patterns)
    assert.has_error(function() invalidate.emit("media_request_created", {}) end,
      "invalidate: event 'media_request_created' key 'user:{userId}:requests' needs field 'userId'")
    -- values are literal inside patterns
    assert.same({ "weird:a\\*b:*" }, select(2, invalidate.resolve("odd", { name = "a*b" })))
    assert.same({ {}, {} }, { invalidate.resolve("unknown_event", {}) })
  end)

  it("rejects a malformed map", function()
    assert.has_error(function() invalidate.register("bad", { ev = "not a list" }) end)
    assert.has_error(function() invalidate.register("bad", { ev = { 42 } }) end)
  end)

  it("deletes exact keys and patterns from L1 and L2", function()
    cache.set("user:" .. u .. ":requests", "r", 300)
    cache.set("user:" .. u .. "0:requests", "other user", 300)
    for i = 1, 30 do cache.set("stats:requests:" .. u .. ":" .. i, i, 300) end
    cache.set("stats:users:" .. u, "keep", 300)
    local out = invalidate.emit("media_request_created", { userId = u })
    assert.same({ "user:" .. u .. ":requests" }, out.keys)
    assert.is_nil(l1.get("user:" .. u .. ":requests"))
    assert.is_nil(redis.call("GET", cache.PREFIX .. "user:" .. u .. ":requests"))
    assert.equal("other user", cache.get("user:" .. u .. "0:requests"))
    for i = 1, 30 do
      assert.is_nil(l1.get("stats:requests:" .. u .. ":" .. i))
      assert.is_nil(redis.call("GET", cache.PREFIX .. "stats:requests:" .. u .. ":" .. i))
    end
    assert.equal("keep", cache.get("stats:users:" .. u))
  end)

  describe("across two instances", function()
    local a, b
    setup(function()
      local cfg = { config = { plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } },
                    plugins = { "cachedemo" } }
      a, b = h.start(cfg), h.start(cfg)
      h.wait_until(function()
        local r = redis.call("PUBSUB", "NUMSUB", invalidate.CHANNEL)
        return r and (r[2] or 0) >= 2
      end, 5, 0.02, "both instances to subscribe")
    end)
    teardown(function()
      if a then a:stop() end
      if b then b:stop() end
    end)

    local function l1_of(app, key)
      local res = app:get("/api/v1/cachedemo/l1?key=" .. key)
      assert.equal(200, res.status)
      return res.json.value
    end

    it("an invalidation emitted on one drops the keys on the other", function()
      local k, s = "user:" .. u .. "9:requests", "stats:requests:" .. u .. "9"
      for _, app in ipairs({ a, b }) do
        assert.equal(200, app:get("/api/v1/cachedemo/set?key=" .. k .. "&value=v").status)
        assert.equal(200, app:get("/api/v1/cachedemo/set?key=" .. s .. "&value=v").status)
        assert.equal(200, app:get("/api/v1/cachedemo/set?key=keep" .. u .. "&value=v").status)
      end
      assert.equal("v", l1_of(b, k))
      assert.equal("v", l1_of(b, s))
      local res = a:get("/api/v1/cachedemo/emit?event=media_request_created&userId=" .. u .. "9")
      assert.equal(200, res.status)
      assert.is_nil(l1_of(a, k))
      h.wait_until(function() return l1_of(b, k) == nil and l1_of(b, s) == nil end, 5, 0.02,
        "instance b to drop the keys")
      assert.equal("v", l1_of(b, "keep" .. u))
      assert.equal("v", l1_of(a, "keep" .. u))
      assert.is_nil(redis.call("GET", cache.PREFIX .. k))
    end)
  end)
end)
