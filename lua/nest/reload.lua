-- nest/reload.lua — hot reload from Lua (docs/architecture.md#generations-and-hot-reload).
--
--   local reload = require "nest.reload"
--   reload.run({ force = false })  -> result   build a new generation and swap
--       (waits until it booted or failed): { ok, noop, busy, seq, generation,
--       previous, seconds, hash, error, plugin, message }. Unchanged sources
--       and config answer ok + noop unless force. Busy when one is building.
--   reload.runtime() -> { current, reloading, generations = { {id, state,
--       tasks, holds, lua_memory, draining_for} }, last_reload, hash, ... }
--   reload.hold() -> token (:release(), or a `<close>` variable)
--       keeps this generation from being cancelled at the drain deadline
--       while code started before a reload still streams (a child process'
--       lines, a download's progress). Release it when the stream ends.
--   reload.generation() -> the id of the generation this code runs in
--
-- What moves and what does not: a reload replaces every lua_State; the C
-- side (sockets, WebSocket connections and rooms, the L1 cache, metrics,
-- DB/Redis pools, child processes) stays. A task keeps running on the
-- generation it started in until it ends.
local core = require "nest.core.app"

local M = {}

function M.run(opts)
  opts = opts or {}
  return core.reload({ force = opts.force == true, trigger = opts.trigger or "api" })
end

function M.runtime() return core.runtime() end

function M.hold() return core.hold() end

function M.generation() return core.info().generation end

-- hold_while(fn, ...) -> fn's results: hold the generation while fn runs.
function M.hold_while(fn, ...)
  local token <close> = core.hold()
  return fn(...)
end

return M
