-- spec/unit/scheduler_spec.lua — tasks, yields through plugin coroutines, timers.
local timer = require "nest.timer"

describe("the scheduler", function()
  it("lets a spec wait on a timer", function()
    local t0 = require("nest.core.app").hrtime()
    timer.sleep(0.02)
    assert.is_true(require("nest.core.app").hrtime() - t0 >= 0.019)
  end)

  it("lets plugin coroutines do I/O inside them", function()
    local gen = coroutine.wrap(function()
      for i = 1, 3 do
        timer.sleep(0.001)
        coroutine.yield(i)
      end
    end)
    assert.same({ 1, 2, 3 }, { gen(), gen(), gen() })
  end)

  it("refuses to wait where it cannot yield, naming the call", function()
    local ok, err = pcall(function()
      -- string.gsub calls its callback from C: no yield can cross it
      return ("x"):gsub("x", function() timer.sleep(0) end)
    end)
    assert.is_false(ok)
    assert.matches("nest.timer.sleep: cannot wait here", err)
  end)

  it("runs timer callbacks in their own task", function()
    local got
    timer.at(0.005, function(premature, v) got = { premature, v } end, "x")
    local deadline = require("nest.core.app").hrtime() + 1
    while not got and require("nest.core.app").hrtime() < deadline do timer.sleep(0.002) end
    assert.same({ false, "x" }, got)
  end)

  it("cancels a pending timer", function()
    local fired = false
    local h = timer.at(0.01, function() fired = true end)
    assert.is_true(h:cancel())
    timer.sleep(0.03)
    assert.is_false(fired)
  end)
end)
