-- spec/unit/breaker_spec.lua — the circuit breaker's state machine on an
-- injected clock, and retries with backoff.
local breaker = require "nest.breaker"
local log = require "nest.log"
local json = require "nest.json"

local seq = 0
local function fresh(opts)
  seq = seq + 1
  local t = { now = 1000 }
  opts = opts or {}
  opts.clock = function() return t.now end
  return breaker.new("spec-svc-" .. seq, opts), t
end

local function ok_fn(v) return v or "fresh" end
local function fail_fn() return nil, "upstream down" end

describe("nest.breaker", function()
  local records
  before_each(function()
    records = {}
    log.set_writer(function(line) records[#records + 1] = json.decode(line) end)
  end)
  after_each(function() log.set_writer(nil) end)

  it("stays closed below the minimum volume, however many fail", function()
    local b = fresh()
    for _ = 1, 4 do assert.same({ nil, "upstream down" }, { b:call(fail_fn) }) end
    assert.equal("closed", b:state())
  end)

  it("opens at 50 % failures over the volume and serves the fallback", function()
    local b, t = fresh({ fallback = function(x) return { value = "stale " .. x, degraded = true } end })
    local calls = 0
    local function counted(ok) calls = calls + 1; if ok then return "fresh" end return nil, "down" end
    for _ = 1, 5 do b:call(counted, true) end      -- 5 successes
    for _ = 1, 4 do b:call(counted, false) end     -- 4/9 failed: still closed
    assert.equal("closed", b:state())
    t.now = t.now + 0.5
    b:call(counted, false)                         -- 5/10 = 50 %: open
    assert.equal("open", b:state())
    assert.equal(10, calls)
    local v = b:call(counted, "x")
    assert.same({ value = "stale x", degraded = true }, v)
    assert.equal(10, calls, "an open circuit does not call the function")
    local opened
    for _, r in ipairs(records) do if r.msg == "circuit breaker open" then opened = r end end
    assert.is_truthy(opened, "the state change is logged")
    assert.equal(b.name, opened.service)
  end)

  it("forgets failures that left the rolling window", function()
    local b, t = fresh()
    for _ = 1, 4 do b:call(fail_fn) end
    t.now = t.now + 11                             -- the window is 10 s
    for _ = 1, 4 do b:call(ok_fn) end
    b:call(fail_fn)                                -- 1/5 in the window
    assert.equal("closed", b:state())
    assert.same({ calls = 5, failures = 1, state = "closed" }, b:stats())
  end)

  it("without a fallback, a rejected call returns nil and CIRCUIT_OPEN", function()
    local b = fresh()
    for _ = 1, 5 do b:call(fail_fn) end
    local v, err = b:call(ok_fn)
    assert.is_nil(v)
    assert.equal("CIRCUIT_OPEN", err.code)
  end)

  it("half-opens after the reset timeout, lets one trial through, closes on success", function()
    local b, t = fresh({ fallback = function() return "fallback" end })
    for _ = 1, 5 do b:call(fail_fn) end
    assert.equal("open", b:state())
    t.now = t.now + 29
    assert.equal("fallback", b:call(ok_fn))
    assert.equal("open", b:state())
    t.now = t.now + 1                              -- 30 s after opening
    -- while the trial runs, other calls get the fallback
    local during
    local v = b:call(function()
      assert.equal("half_open", b:state())
      during = b:call(ok_fn)
      return "trial result"
    end)
    assert.equal("trial result", v)
    assert.equal("fallback", during)
    assert.equal("closed", b:state())
    assert.equal("fresh", b:call(ok_fn))
    -- closing forgot the window: 1 success + 3 failures is under the volume
    for _ = 1, 3 do b:call(fail_fn) end
    assert.same({ calls = 4, failures = 3, state = "closed" }, b:stats())
    assert.equal("closed", b:state())
  end)

  it("re-opens when the trial fails, for another reset timeout", function()
    local b, t = fresh({ fallback = function() return "fallback" end })
    for _ = 1, 5 do b:call(fail_fn) end
    t.now = t.now + 30
    assert.same({ nil, "upstream down" }, { b:call(fail_fn) })
    assert.equal("open", b:state())
    t.now = t.now + 29
    assert.equal("fallback", b:call(ok_fn))
    t.now = t.now + 1
    assert.equal("fresh", b:call(ok_fn))
    assert.equal("closed", b:state())
  end)

  it("counts a call over the timeout as a failure, and a raised error", function()
    local b, t = fresh({ timeout = 3 })
    local function slow() t.now = t.now + 3.5; return "late but here" end
    for _ = 1, 3 do assert.equal("late but here", b:call(slow)) end
    for _ = 1, 2 do
      assert.has_error(function() b:call(function() error("bug") end) end, "bug")
    end
    assert.same({ calls = 5, failures = 5, state = "open" }, b:stats())
  end)

  it("exports circuit_breaker_state{service}", function()
    local metrics = require "nest.metrics"
    local b = fresh()
    assert.matches('circuit_breaker_state{service="' .. b.name .. '"} 0', metrics.expose(), 1, true)
    for _ = 1, 5 do b:call(fail_fn) end
    local text = metrics.expose()
    assert.matches('circuit_breaker_state{service="' .. b.name .. '"} 1', text, 1, true)
  end)

  it("keeps its state in the app cache, so a new instance of the module sees it", function()
    local b, t = fresh()
    for _ = 1, 5 do b:call(fail_fn) end
    local again = breaker.new(b.name, { clock = function() return t.now end })
    assert.equal("open", again:state())
  end)
end)

describe("nest.breaker.retry", function()
  it("retries an idempotent call with growing, jittered sleeps", function()
    local sleeps, n = {}, 0
    local v = breaker.retry(function()
      n = n + 1
      if n < 3 then return nil, "blip" end
      return "done"
    end, { idempotent = true, base = 0.1, max = 2, sleep = function(s) sleeps[#sleeps + 1] = s end,
           random = function() return 1 end })
    assert.equal("done", v)
    assert.equal(3, n)
    assert.same({ 0.1, 0.2 }, sleeps)
  end)

  it("caps the backoff at max and gives up after the attempts", function()
    local sleeps, n = {}, 0
    local v, err = breaker.retry(function() n = n + 1; return nil, "down" end,
      { idempotent = true, attempts = 5, base = 1, max = 2,
        sleep = function(s) sleeps[#sleeps + 1] = s end, random = function() return 0.999 end })
    assert.is_nil(v)
    assert.equal("down", err)
    assert.equal(5, n)
    for _, s in ipairs(sleeps) do assert.is_true(s <= 2) end
    assert.equal(4, #sleeps)
  end)

  it("never retries a call that is not idempotent", function()
    local n = 0
    breaker.retry(function() n = n + 1; return nil, "down" end, { sleep = function() end })
    assert.equal(1, n)
  end)

  it("really sleeps by default (a short backoff)", function()
    local napp = require "nest.core.app"
    local t0, n = napp.hrtime(), 0
    breaker.retry(function() n = n + 1; return nil, "x" end,
      { idempotent = true, attempts = 2, base = 0.05, random = function() return 1 end })
    assert.equal(2, n)
    assert.is_true(napp.hrtime() - t0 >= 0.045)
  end)
end)
