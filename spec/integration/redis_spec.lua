-- spec/integration/redis_spec.lua — nest.redis against a real Redis: round
-- trips, pipelines, eval, pub/sub, and an outage (stopped, then restarted)
-- on a private redis-server so the shared one other specs use is untouched.
local redis = require "nest.redis"
local timer = require "nest.timer"
local log = require "nest.log"
local h = require "spec.helpers"
local napp = require "nest.core.app"

local REDIS_URL = os.getenv("REDIS_URL")

local private = require "spec.fixtures.redis_private"

-- Capture log records while fn runs.
local function capture(fn)
  local lines = {}
  log.set_writer(function(line) lines[#lines + 1] = line end)
  local ok, err = pcall(fn)
  log.set_writer(nil)
  if not ok then error(err, 0) end
  return lines
end

local function count(lines, msg)
  local n = 0
  for _, l in ipairs(lines) do if l:find('"msg":"' .. msg .. '"', 1, true) then n = n + 1 end end
  return n
end

local uniq = ("spec:%d:"):format(math.floor(napp.now() * 1000))

describe("nest.redis", function()
  setup(function()
    assert(REDIS_URL and REDIS_URL ~= "", "REDIS_URL must be set (scripts/lib/services.sh)")
    redis.configure({ url = REDIS_URL, reconnect_max = 0.2, command_timeout = 2 })
    h.wait_until(redis.available, 5, 0.01, "redis")
  end)

  it("parses URLs", function()
    assert.same({ host = "127.0.0.1", port = 6380, password = "pw", db = 2 },
      redis.parse_url("redis://:pw@localhost:6380/2"))
    assert.same({ host = "10.0.0.1", port = 6379, db = 0 }, redis.parse_url("redis://10.0.0.1"))
    assert.is_nil(redis.parse_url("http://x"))
  end)

  it("round-trips strings, integers, status, nil and arrays", function()
    assert.equal("OK", redis.call("SET", uniq .. "a", "hello\0world"))
    assert.equal("hello\0world", redis.call("GET", uniq .. "a"))
    assert.equal(5, redis.call("INCRBY", uniq .. "n", 5))
    assert.is_nil((redis.call("GET", uniq .. "missing")))
    assert.equal(2, redis.call("RPUSH", uniq .. "l", "x", 42))
    assert.same({ "x", "42" }, redis.call("LRANGE", uniq .. "l", 0, -1))
    assert.same({ "hello\0world", redis.null }, redis.call("MGET", uniq .. "a", uniq .. "missing"))
    assert.equal("PONG", redis.call("PING"))
  end)

  it("returns error replies as nil, message", function()
    local v, err = redis.call("INCR", uniq .. "l")
    assert.is_nil(v)
    assert.matches("^WRONGTYPE", err)
    assert.has_error(function() redis.call("GET", {}) end)
  end)

  it("pipelines commands and keeps their order", function()
    local res = assert(redis.pipeline(function(p)
      for i = 1, 100 do p:call("SET", uniq .. "p" .. i, i) end
      p:call("GET", uniq .. "p77")
      p:call("INCR", uniq .. "l")
      p:call("GET", uniq .. "nothing")
    end))
    assert.equal(103, #res)
    assert.equal("OK", res[1])
    assert.equal("77", res[101])
    assert.matches("^WRONGTYPE", res[102].err)
    assert.equal(redis.null, res[103])
    assert.same({}, redis.pipeline(function() end))
  end)

  it("runs many concurrent calls on one connection", function()
    local done, bad = 0, 0
    for i = 1, 200 do
      timer.at(0, function()
        local v = redis.call("INCR", uniq .. "conc")
        if math.type(v) ~= "integer" then bad = bad + 1 end
        done = done + 1
      end)
    end
    h.wait_until(function() return done == 200 end, 5)
    assert.equal(0, bad)
    assert.equal("200", redis.call("GET", uniq .. "conc"))
  end)

  it("evaluates scripts by SHA, loading them on NOSCRIPT", function()
    local script = "return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[1])} -- " .. uniq
    assert.same({ uniq .. "e", "3", 3 }, redis.eval(script, { uniq .. "e" }, { 3 }))
    assert.same({ uniq .. "e", "4", 7 }, redis.eval(script, { uniq .. "e" }, { 4 }))
    redis.call("SCRIPT", "FLUSH")
    assert.same({ uniq .. "e", "1", 8 }, redis.eval(script, { uniq .. "e" }, { 1 }))
    local v, err = redis.eval("return redis.error_reply('nope')", {}, {})
    assert.is_nil(v)
    assert.matches("nope", err)
  end)

  it("delivers published messages to subscribers, each in its own task", function()
    local got = {}
    local sub = assert(redis.subscribe({ uniq .. "c1", uniq .. "c2" }, function(ch, msg)
      timer.sleep(0)   -- a task of its own: it may wait
      got[#got + 1] = ch .. "=" .. msg
    end))
    -- the SUBSCRIBE may still be in flight: publish until someone hears
    h.wait_until(function()
      return redis.call("PUBLISH", uniq .. "c1", "ping") > 0
    end, 5, 0.01, "the subscription")
    h.wait_until(function() return #got > 0 end)
    assert.equal(1, redis.call("PUBLISH", uniq .. "c2", "two"))
    h.wait_until(function() return got[#got] == uniq .. "c2=two" end)
    assert.is_true(sub:unsubscribe())
    h.wait_until(function() return redis.call("PUBLISH", uniq .. "c1", "x") == 0 end, 5, 0.01)
    assert.is_false(sub:unsubscribe())
  end)

  it("answers 'not configured' at once when there is no URL, without logging", function()
    local lines = capture(function()
      redis.configure({ url = "" })
      assert.is_false(redis.configured())
      assert.is_false(redis.available())
      for _ = 1, 3 do
        assert.same({ nil, "not configured" }, { redis.call("PING") })
        assert.same({ nil, "not configured" }, { redis.pipeline(function(p) p:call("PING") end) })
        assert.same({ nil, "not configured" }, { redis.eval("return 1") })
        assert.same({ nil, "not configured" }, { redis.subscribe("x", function() end) })
      end
    end)
    assert.same({}, lines)
    redis.configure({ url = REDIS_URL, reconnect_max = 0.2 })
    assert.equal("PONG", redis.call("PING"))
  end)

  describe("when Redis goes away", function()
    local port
    setup(function()
      port = private.port()
      private.start(port)
      redis.configure({ url = "redis://127.0.0.1:" .. port, reconnect_max = 0.2, command_timeout = 1 })
      h.wait_until(redis.available, 5, 0.01, "private redis")
    end)
    teardown(function()
      private.stop(port)
      redis.configure({ url = REDIS_URL, reconnect_max = 0.2 })
    end)

    it("fails fast with 'unavailable', warns once, and recovers by itself", function()
      assert.equal("OK", redis.call("SET", "k", "v"))
      local lines = capture(function()
        private.stop(port)
        h.wait_until(function() return not redis.available() end, 5, 0.01, "the disconnect")
        local t0 = napp.hrtime()
        for _ = 1, 20 do
          local v, err = redis.call("GET", "k")
          assert.is_nil(v)
          assert.equal("unavailable", err)
        end
        local v, err = redis.pipeline(function(p) p:call("GET", "k") end)
        assert.is_nil(v)
        assert.equal("unavailable", err)
        assert.is_true(napp.hrtime() - t0 < 0.1, "fails fast")
        timer.sleep(0.5)   -- several reconnect attempts fail meanwhile
        assert.equal("unavailable", select(2, redis.call("GET", "k")))
        private.start(port)
        h.wait_until(redis.available, 5, 0.01, "the reconnect")
        assert.equal("PONG", redis.call("PING"))
        redis.call("PING")
      end)
      assert.equal(1, count(lines, "redis unavailable"))
      assert.equal(1, count(lines, "redis back"))
    end)

    it("re-establishes subscriptions after a restart", function()
      local got = {}
      local sub = assert(redis.subscribe("again", function(_, msg) got[#got + 1] = msg end))
      h.wait_until(function() return redis.call("PUBLISH", "again", "1") > 0 end, 5, 0.01)
      capture(function()
        private.stop(port)
        h.wait_until(function() return not redis.available() end, 5, 0.01, "the disconnect")
        private.start(port)
        h.wait_until(redis.available, 5, 0.01, "the reconnect")
        redis.call("PING")
      end)
      h.wait_until(function() return (redis.call("PUBLISH", "again", "2") or 0) > 0 end, 5, 0.02,
        "the resubscription")
      h.wait_until(function() return got[#got] == "2" end)
      sub:unsubscribe()
    end)

    it("times out a command on a Redis that stopped answering", function()
      local pid = tonumber((io.popen(("redis-cli -p %d info server | sed -n 's/^process_id://p'"):format(port))
        :read("a"):gsub("%s", "")))
      h.wait_until(redis.available, 5, 0.01)
      os.execute("kill -STOP " .. pid)
      local t0 = napp.hrtime()
      local v, err = redis.call("PING")
      os.execute("kill -CONT " .. pid)
      assert.is_nil(v)
      assert.equal("timeout", err)
      assert.is_true(napp.hrtime() - t0 < 1.8)
      h.wait_until(function() return redis.call("PING") == "PONG" end, 5, 0.05)
    end)
  end)
end)
