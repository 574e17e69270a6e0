-- nest/coroutine.lua — lets plugin code use its own coroutines (iterators,
-- generators) and still do I/O inside them.
--
-- An I/O primitive yields a sentinel to the scheduler. When it is caught by
-- a plugin's own coroutine.resume instead, the wrapped resume passes the
-- yield on outwards and hands the result back in, so the primitive never
-- notices it ran in a nested coroutine.
local M = {}

local installed = false

function M.install()
  if installed then return end
  installed = true
  local sentinel = require("nest.core.app").sentinel()
  local resume, yield, create = coroutine.resume, coroutine.yield, coroutine.create

  local function pass(co, ok, ...)
    if ok and select("#", ...) == 1 and (...) == sentinel then
      return pass(co, resume(co, yield(sentinel)))
    end
    return ok, ...
  end

  function coroutine.resume(co, ...)
    return pass(co, resume(co, ...))
  end

  function coroutine.wrap(f)
    local co = create(f)
    local function unwrap(ok, ...)
      if not ok then
        local e = ...
        error(e, type(e) == "string" and 2 or 0)
      end
      return ...
    end
    return function(...) return unwrap(coroutine.resume(co, ...)) end
  end
end

return M
