-- medianest reload [-c FILE] [--timeout SECONDS] — hot-reload the running
-- server: find it through <data_dir>/medianest.pid, send it SIGHUP, wait for
-- its answer in <data_dir>/reload.json (written atomically by the server,
-- with its pid and a sequence number, so an older answer is never taken for
-- ours) and print it.
-- Exit 0: reloaded, or nothing changed (no-op). 1: the reload failed (the
-- old generation keeps serving; the error and the plugin are printed).
-- 2: no server runs, a reload was already in progress (busy), or no answer
-- came within the timeout.
local args = { ... }
local timeout = 60
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--help" or a == "-h" then
    print("usage: medianest reload [-c FILE] [--timeout SECONDS]\n\n"
      .. "Signals the running server (pid in <data_dir>/medianest.pid) to hot-reload its\n"
      .. "plugins and config, and prints the result. Exit 0 on success or no change,\n"
      .. "1 when the new code failed (the old code keeps serving), 2 when no server runs,\n"
      .. "another reload is in progress, or no answer came in time (default 60 s).")
    return 0
  elseif a == "--timeout" then
    timeout = tonumber(args[i + 1]) or timeout
    i = i + 1
  end
  i = i + 1
end

local config = require "nest.config"
local json = require "nest.json"
local app = require "nest.core.app"
local timer = require "nest.timer"

-- The data directory. A config file that no longer validates (the very
-- change being reloaded may have broken it) still names it: read data_dir
-- from the raw file; the server reports what is wrong with the rest.
local function data_dir()
  local cfg = config.get()
  if cfg then return config.path(cfg.data_dir) end
  local dir = os.getenv("MEDIANEST_DATA_DIR")
  if not dir or dir == "" then
    local path = os.getenv("MEDIANEST_CONFIG")
    for k = 1, #args - 1 do if args[k] == "-c" or args[k] == "--config" then path = args[k + 1] end end
    local chunk = path and loadfile(path, "t", setmetatable({ os = { getenv = os.getenv } }, { __index = _G }))
    local ok, t = pcall(chunk or error)
    dir = ok and type(t) == "table" and type(t.data_dir) == "string" and t.data_dir or config.defaults().data_dir
  end
  if dir:sub(1, 1) ~= "/" then dir = app.info().root .. "/" .. dir end
  return dir
end
local dir = data_dir()

local function slurp(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local pid = math.tointeger(tonumber((slurp(dir .. "/medianest.pid") or ""):match("%d+") or ""))
if not pid or not app.kill(pid, 0) then
  io.stderr:write(("medianest reload: no server is running (no live pid in %s/medianest.pid)\n"):format(dir))
  return 2
end

local function answer()
  local s = slurp(dir .. "/reload.json")
  local r = s and json.decode(s)
  return type(r) == "table" and r or nil
end

local before = answer()
local before_seq = before and before.pid == pid and before.seq or 0

local ok, err = app.kill(pid, 1)   -- SIGHUP
if not ok then
  io.stderr:write("medianest reload: cannot signal pid ", pid, ": ", tostring(err), "\n")
  return 2
end

local deadline = app.hrtime() + timeout
local r
while true do
  local a = answer()
  if a and a.pid == pid and a.trigger == "signal" and (a.seq or 0) > before_seq then r = a break end
  if app.hrtime() > deadline then
    io.stderr:write(("medianest reload: no answer from pid %d within %g s\n"):format(pid, timeout))
    return 2
  end
  if not app.kill(pid, 0) then
    io.stderr:write("medianest reload: the server (pid ", pid, ") exited\n")
    return 2
  end
  timer.sleep(0.02)
end

if r.busy then
  io.stderr:write("medianest reload: ", r.message or "a reload is already in progress", "\n")
  return 2
end
if r.ok then
  print(r.message)
  return 0
end
io.stderr:write("medianest reload: ", r.message or ("failed: " .. tostring(r.error)), "\n")
if r.plugin and r.plugin ~= json.null then io.stderr:write("plugin: ", r.plugin, "\n") end
io.stderr:write("error: ", tostring(r.error), "\n")
return 1
