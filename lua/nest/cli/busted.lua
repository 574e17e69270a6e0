-- medianest busted [ARGS] — busted, run inside the runtime: every spec runs
-- in a task, so specs can use every nest.* module and start servers.
-- Default: the whole spec/ tree, with spec/helpers.lua available as
-- require "spec.helpers".
--
-- An app a spec started and never stopped (its setup or teardown failed)
-- would keep the event loop, and so the run, alive after the summary: every
-- app started through nest.core.app is stopped here at the end, whatever the
-- outcome (stopping is idempotent), and the leftovers are named on stderr.
local args = { ... }
if #args == 0 then args = { "spec" } end
_G.arg = args

-- Loaded before busted, so busted's per-file insulation keeps this table.
local napp = require "nest.core.app"
local started, real_start = {}, napp.start
napp.start = function(...)
  local handle, err = real_start(...)
  if handle then started[#started + 1] = { handle = handle, port = handle:port() } end
  return handle, err
end

local function stop_leftovers()
  napp.start = real_start
  local left = {}
  for _, s in ipairs(started) do
    if s.handle:id() then left[#left + 1] = tostring(s.port) end
    s.handle:stop()
  end
  if #left > 0 then
    io.stderr:write("medianest busted: stopped apps a spec left running (ports ", table.concat(left, ", "), ")\n")
  end
end

local ok, err = pcall(require("busted.runner"), { standalone = false })
stop_leftovers()
if not ok then error(err, 0) end   -- os.exit(code) from busted travels on as it came
