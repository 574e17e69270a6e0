-- nest/proc.lua — child processes (docs/architecture.md#child-processes), over nest.core.proc
-- (core/lua_proc.c, core/proc.c). No shell is involved: argv goes to exec
-- as is, argv[1] looked up in PATH.
--
--   local proc = require "nest.proc"
--   local p = assert(proc.spawn({ "yt-dlp", "--newline", url }, { cwd = dir }))
--   for line in p:lines() do ... end      -- yields the task while waiting
--   local code, sig = p:wait()            -- exit status; sig = "SIGTERM" etc. or nil
--   p:stderr()                            -- the last 64 KiB of stderr
--   p:kill()                              -- SIGTERM; p:kill("KILL"), p:kill(9)
--   local code, lines, err = proc.run({ "yt-dlp", "--version" }, { timeout = 5 })
--                                         -- to its end, with a deadline (see run)
--
-- spawn opts: cwd; env (table name -> value, replacing the environment;
-- nil inherits ours); stdin (a string written then closed; nil = /dev/null);
-- max_line (64 KiB: longer lines are cut, the rest of them dropped;
-- p:truncated() counts them); max_buffer (1 MiB of unread lines before
-- reading pauses, so a fast writer is back-pressured); err_max (64 KiB);
-- grace (5 s between SIGTERM and SIGKILL when the handle is dropped).
--
-- Ownership: the process belongs to the C core (the app's registry). When
-- its handle is garbage-collected, closed (p:close(), or a `<close>`
-- variable), or the task waiting on it is cancelled, the child gets SIGTERM,
-- SIGKILL after the grace period, and is reaped — never a zombie. On app
-- stop every child is killed and reaped.
local core = require "nest.core.proc"

local M = {}

local SIGNALS = { HUP = 1, INT = 2, QUIT = 3, KILL = 9, USR1 = 10, USR2 = 12, PIPE = 13,
                  ALRM = 14, TERM = 15, CONT = 18, STOP = 19 }
local NAMES = {}
for k, v in pairs(SIGNALS) do NAMES[v] = "SIG" .. k end
M.signals = SIGNALS

-- A signal name ("TERM", "SIGTERM") or number -> number; raises on junk.
function M.signo(sig)
  if sig == nil then return SIGNALS.TERM end
  if math.type(sig) == "integer" then return sig end
  local n = type(sig) == "string" and SIGNALS[sig:upper():gsub("^SIG", "")]
  if not n then error("nest.proc: unknown signal " .. tostring(sig), 3) end
  return n
end

function M.signame(n)
  return NAMES[n] or ("SIG" .. tostring(n))
end

local Proc = {}
Proc.__index = Proc

-- spawn(argv, opts) -> handle | nil, err
function M.spawn(argv, opts)
  assert(type(argv) == "table" and type(argv[1]) == "string", "spawn: argv must be a list of strings")
  opts = opts or {}
  local copt = { cwd = opts.cwd, stdin = opts.stdin, max_line = opts.max_line,
                 max_buffer = opts.max_buffer, err_max = opts.err_max, grace = opts.grace }
  if opts.env then
    local env = {}
    for k, v in pairs(opts.env) do
      if type(k) == "number" then env[#env + 1] = tostring(v)       -- already "K=V"
      else env[#env + 1] = tostring(k) .. "=" .. tostring(v) end
    end
    table.sort(env)
    copt.env = env
  end
  local h, err = core.spawn(argv, copt)
  if not h then return nil, err end
  return setmetatable({ h = h }, Proc)
end

-- for line in p:lines() do ... end — stdout lines without the '\n'.
function Proc:lines()
  local h = self.h
  return function() return h:next_line() end
end

-- One line, or nil at the end of stdout.
function Proc:read_line() return self.h:next_line() end

-- wait() -> exit code, signal name|nil. Killed by a signal: 128 + signo and its name.
function Proc:wait()
  local code, sig = self.h:wait()
  if code == nil then return nil, "closed" end
  if sig ~= 0 then return 128 + sig, M.signame(sig) end
  return code, nil
end

function Proc:kill(sig) return self.h:kill(M.signo(sig)) end
function Proc:pid() return self.h:pid() end
function Proc:stderr() return self.h:stderr() end
function Proc:truncated() return self.h:truncated() end
function Proc:exited() return self.h:exited() end
function Proc:close() return self.h:close() end
Proc.__close = Proc.close

-- run(argv, {timeout = s, max_lines = 100, ...spawn opts}) -> code, lines, stderr
--   | nil, why ("still running after N s", or spawn's error)
-- A short command run to its end with a deadline (health checks, probes):
-- stdout's first max_lines lines kept, the child killed (SIGKILL) when the
-- deadline passes.
function M.run(argv, opts)
  opts = opts or {}
  local timer = require "nest.timer"
  local p, err = M.spawn(argv, opts)
  if not p then return nil, tostring(err) end
  local timed_out = false
  local t = opts.timeout and timer.at(opts.timeout, function(premature)
    if not premature then timed_out = true p:kill("KILL") end
  end)
  local lines, max = {}, opts.max_lines or 100
  for line in p:lines() do if #lines < max then lines[#lines + 1] = line end end
  local code = p:wait()
  if t then t:cancel() end
  if timed_out then return nil, ("still running after %g s"):format(opts.timeout) end
  return code, lines, p:stderr()
end

return M
