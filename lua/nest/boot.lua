-- nest/boot.lua — what a fresh generation runs first.
--
-- start(opts) installs the coroutine wrappers, loads the config and then,
-- for `serve`, the plugins, returning the hooks table the C core calls into
-- (dispatch, body_limit, server, ...); for `run`, it runs the script and
-- returns its exit code. A hot reload runs the same start() in a fresh
-- generation (opts.reload = true); an expected failure answers
-- nil, message, plugin name (or nil when no plugin is at fault).
local M = {}

local function run_script(opts, cfg)
  local path = opts.script
  local chunk, err = loadfile(path)
  if not chunk then
    io.stderr:write("medianest: ", err, "\n")
    return 2
  end
  local exit_mark = {}
  local real_exit = os.exit
  -- os.exit would skip the loop's orderly shutdown: turn it into a return.
  os.exit = function(code)
    if code == true or code == nil then code = 0 elseif code == false then code = 1 end
    error(setmetatable({ code = math.tointeger(code) or 1 }, exit_mark), 0)
  end
  _G.arg = { [0] = path, table.unpack(opts.args or {}) }
  local ok, res = xpcall(chunk, function(e)
    if getmetatable(e) == exit_mark then return e end
    return debug.traceback(tostring(e), 2)
  end, table.unpack(opts.args or {}))
  os.exit = real_exit
  io.stdout:flush()
  if ok then return math.tointeger(res) or 0 end
  if getmetatable(res) == exit_mark then return res.code end
  io.stderr:write(tostring(res), "\n")
  return 1
end

function M.start(opts)
  require("nest.coroutine").install()
  local config = require("nest.config")
  local cfg, err = config.load(opts)
  if not cfg then
    -- `medianest reload` must still reach a server whose config file was
    -- just broken (the server reports the error): it runs without a config
    if opts.mode == "run" and tostring(opts.script):match("/nest/cli/reload%.lua$") then
      _G.MEDIANEST_CONFIG_ERROR = err
      return run_script(opts, nil)
    end
    if opts.mode == "run" then io.stderr:write("medianest: ", err, "\n") return 1 end
    return nil, err
  end
  if opts.mode == "run" then return run_script(opts, cfg) end
  local hooks, berr, culprit = require("nest.server").build(cfg, opts)
  if not hooks then return nil, berr, culprit end
  return hooks
end

return M
