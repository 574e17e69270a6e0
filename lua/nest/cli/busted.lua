-- medianest busted [ARGS] — busted, run inside the runtime: every spec runs
-- in a task, so specs can use every nest.* module and start servers.
-- Default: the whole spec/ tree, with spec/helpers.lua available as
-- require "spec.helpers".
local args = { ... }
if #args == 0 then args = { "spec" } end
_G.arg = args
require("busted.runner")({ standalone = false })
