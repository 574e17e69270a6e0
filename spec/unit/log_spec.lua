-- spec/unit/log_spec.lua — nest.log: JSON lines, levels, context, redaction.
local log = require "nest.log"
local json = require "nest.json"

describe("nest.log", function()
  local lines

  local function records()
    local out = {}
    for i, line in ipairs(lines) do
      out[i] = assert(json.decode(line))
    end
    return out
  end

  before_each(function()
    lines = {}
    log.set_writer(function(line) lines[#lines + 1] = line end)
    log.set_level("info")
    log.set_context(nil)
  end)

  after_each(function()
    log.set_writer(nil)
    log.set_clock(nil)
    log.set_level("info")
    log.set_context(nil)
  end)

  it("writes one JSON object per record with time, level, msg and fields", function()
    log.info("user signed in", { user = "alice", n = 3, ok = true })
    assert.equal(1, #lines)
    assert.is_nil(lines[1]:find("\n", 1, true))
    local r = records()[1]
    assert.equal("info", r.level)
    assert.equal("user signed in", r.msg)
    assert.equal("alice", r.user)
    assert.equal(3, r.n)
    assert.is_true(r.ok)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.time)
  end)

  it("puts time, level and msg first", function()
    log.warn("x", { a = 1 })
    assert.matches('^{"time":"[^"]+","level":"warn","msg":"x"', lines[1])
  end)

  it("formats the time in UTC with milliseconds", function()
    log.set_clock(function() return 1700000000.123 end)
    log.info("t")
    assert.equal("2023-11-14T22:13:20.123Z", records()[1].time)
  end)

  it("drops records below the level threshold", function()
    log.debug("hidden")
    log.info("shown")
    log.set_level("error")
    log.warn("hidden too")
    log.error("shown too")
    local r = records()
    assert.equal(2, #r)
    assert.equal("shown", r[1].msg)
    assert.equal("shown too", r[2].msg)
    assert.is_false(log.enabled("warn"))
    assert.is_true(log.enabled("error"))
    assert.equal("error", log.get_level())
  end)

  it("refuses an unknown level", function()
    assert.has_error(function() log.set_level("verbose") end)
  end)

  it("adds the request id given in fields", function()
    log.info("x", { requestId = "req-1" })
    assert.equal("req-1", records()[1].requestId)
  end)

  it("adds the current coroutine's context, and the caller's fields win", function()
    log.set_context({ requestId = "req-7", userId = 5 })
    log.info("a")
    log.info("b", { requestId = "req-8", userId = 6 })
    local r = records()
    assert.equal("req-7", r[1].requestId)
    assert.equal(5, r[1].userId)
    assert.equal("req-8", r[2].requestId)
    assert.equal(6, r[2].userId)
  end)

  it("takes a string context as the request id", function()
    log.set_context("req-9")
    log.info("x")
    assert.equal("req-9", records()[1].requestId)
    assert.equal("req-9", log.get_context().requestId)
  end)

  it("keeps each coroutine's context to itself", function()
    log.set_context("outer")
    local co = coroutine.create(function()
      log.info("inner before")
      log.set_context("inner")
      log.info("inner after")
    end)
    assert(coroutine.resume(co))
    log.info("outer again")
    local r = records()
    assert.is_nil(r[1].requestId)
    assert.equal("inner", r[2].requestId)
    assert.equal("outer", r[3].requestId)
  end)

  it("redacts secret fields by name, at any depth and in any case", function()
    log.info("x", {
      token = "t1", password = "p1", secret = "s1", apiKey = "k1", authorization = "a1",
      plexToken = "t2", api_key = "k2", Cookie = "c1",
      headers = { Authorization = "Bearer t3", ["X-Plex-Token"] = "t4", accept = "json" },
      user = "alice",
    })
    assert.is_nil(lines[1]:find("t1", 1, true))
    local r = records()[1]
    for _, k in ipairs({ "token", "password", "secret", "apiKey", "authorization", "plexToken",
                         "api_key", "Cookie" }) do
      assert.equal("[redacted]", r[k], k)
    end
    assert.equal("[redacted]", r.headers.Authorization)
    assert.equal("[redacted]", r.headers["X-Plex-Token"])
    assert.equal("json", r.headers.accept)
    assert.equal("alice", r.user)
    for _, secret in ipairs({ "t1", "t2", "t3", "t4", "p1", "s1", "k1", "k2", "a1", "c1" }) do
      assert.is_nil(lines[1]:find('"' .. secret, 1, true), secret)
    end
  end)

  it("redacts secrets in the context and in bound loggers too", function()
    log.set_context({ requestId = "r", token = "ctx-secret" })
    log.with({ password = "bound-secret" }).info("x")
    assert.is_nil(lines[1]:find("secret\"", 1, true))
    local r = records()[1]
    assert.equal("[redacted]", r.token)
    assert.equal("[redacted]", r.password)
  end)

  it("never raises on fields JSON cannot hold", function()
    local cyc = {}
    cyc.self = cyc
    local err = setmetatable({}, { __tostring = function() return "boom" end })
    assert.has_no_error(function()
      log.info(nil, {
        fn = print, co = coroutine.create(print), cycle = cyc, err = err,
        [{}] = "table key", [2] = "number key", nan = 0 / 0,
        deep = { a = { b = { c = { d = { e = { f = { g = { h = { i = { j = 1 } } } } } } } } } },
      })
      log.info({ not_a = "string" }, "not a table")
    end)
    local r = records()
    assert.equal(2, #r)
    assert.equal("nil", r[1].msg)
    assert.matches("^function", r[1].fn)
    assert.matches("^thread", r[1].co)
    assert.equal("[cycle]", r[1].cycle.self)
    assert.equal("boom", r[1].err)
    assert.equal("number key", r[1]["2"])
    assert.equal(json.null, r[1].nan)
    assert.equal("not a table", r[2].data)
  end)

  it("does not let fields overwrite time, level or msg", function()
    log.info("real", { msg = "fake", level = "fake", time = "fake" })
    local r = records()[1]
    assert.equal("real", r.msg)
    assert.equal("info", r.level)
    assert.equal("fake", r.field_msg)
    assert.equal("fake", r.field_level)
  end)

  it("keeps integers and empty arrays in fields", function()
    log.info("x", { id = 12345678901234567, list = json.array(), obj = {} })
    assert.matches('"id":12345678901234567', lines[1])
    assert.matches('"list":%[%]', lines[1])
    assert.matches('"obj":{}', lines[1])
  end)

  it("adds a bound logger's fields to each record", function()
    local plog = log.with({ plugin = "requests" })
    plog.warn("slow upstream", { ms = 1200 })
    local r = records()[1]
    assert.equal("requests", r.plugin)
    assert.equal(1200, r.ms)
    assert.equal("warn", r.level)
  end)
end)
