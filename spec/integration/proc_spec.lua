-- spec/integration/proc_spec.lua — nest.proc runs real child processes:
-- yielding line iteration, exit codes and signals, stderr, truncation,
-- back-pressure, and reaping of children whose owner is gone.
local h = require "spec.helpers"
local proc = require "nest.proc"
local timer = require "nest.timer"

local CHILD = h.root .. "/spec/fixtures/bin/child.sh"

-- "gone" when /proc/<pid> no longer exists (reaped), the state letter otherwise.
local function proc_state(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return "gone" end
  local s = f:read("a") or ""
  f:close()
  return s:match("^%d+ %b() (%a)") or "gone"
end

describe("nest.proc", function()
  it("iterates 100 000 stdout lines, yielding while it waits", function()
    local p = assert(proc.spawn({ CHILD, "lines", "100000" }))
    local n, first, last = 0, nil, nil
    for line in p:lines() do
      n = n + 1
      first = first or line
      last = line
    end
    assert.equal(100000, n)
    assert.equal("1", first)
    assert.equal("100000", last)
    assert.same({ 0, nil }, { p:wait() })
  end)

  it("lets other tasks run while a task waits for a line", function()
    local p = assert(proc.spawn({ CHILD, "sleep", "0.3" }))
    assert.equal("ready", p:read_line())
    local ticked = false
    timer.at(0.05, function() ticked = true end)
    assert.is_nil(p:read_line())          -- EOF when sleep exits, 0.3 s later
    assert.is_true(ticked)
    assert.equal(0, p:wait())
  end)

  it("reports exit codes and captures stderr", function()
    local p = assert(proc.spawn({ CHILD, "exit", "0" }))
    assert.equal(0, p:wait())
    p = assert(proc.spawn({ CHILD, "exit", "3" }))
    assert.equal("to stdout", p:read_line())
    local code, sig = p:wait()
    assert.equal(3, code)
    assert.is_nil(sig)
    assert.equal("to stderr\n", p:stderr())
  end)

  it("keeps only the tail of a long stderr", function()
    local p = assert(proc.spawn({ CHILD, "noisy", "2000" }, { err_max = 1024 }))
    assert.equal(0, p:wait())
    h.wait_until(function() return p:stderr():find("err line 1999\n", 1, true) end, 5)
    local err = p:stderr()
    assert.equal(1024, #err)
    assert.is_nil(err:find("err line 0\n", 1, true))
  end)

  it("kills with SIGTERM by default, or the signal asked for", function()
    local p = assert(proc.spawn({ CHILD, "sleep", "30" }))
    assert.equal("ready", p:read_line())
    assert.is_true(p:kill())
    assert.same({ 128 + 15, "SIGTERM" }, { p:wait() })

    p = assert(proc.spawn({ CHILD, "sleep", "30" }))
    assert.equal("ready", p:read_line())
    assert.is_true(p:kill("KILL"))
    assert.same({ 128 + 9, "SIGKILL" }, { p:wait() })
    assert.is_nil(p:kill(9))              -- already gone: nil, err
    assert.has_error(function() p:kill("NOPE") end)
  end)

  it("fails cleanly for a missing program", function()
    local p, err = proc.spawn({ "/nonexistent/medianest-no-such-program" })
    assert.is_nil(p)
    assert.matches("no such file", err:lower())
  end)

  it("passes cwd, env and stdin", function()
    local p = assert(proc.spawn({ CHILD, "pwd" }, { cwd = "/tmp" }))
    assert.equal("/tmp", p:read_line())
    p = assert(proc.spawn({ CHILD, "env", "MN_SPEC_VAR" }, { env = { MN_SPEC_VAR = "hello there", PATH = os.getenv("PATH") } }))
    assert.equal("hello there", p:read_line())
    p = assert(proc.spawn({ "cat" }, { stdin = "one\ntwo\nthree" }))
    local got = {}
    for l in p:lines() do got[#got + 1] = l end
    assert.same({ "one", "two", "three" }, got)
    assert.equal(0, p:wait())
  end)

  it("truncates over-long lines and skips their rest", function()
    local p = assert(proc.spawn({ CHILD, "long", "200000" }, { max_line = 1000 }))
    local l1 = p:read_line()
    assert.equal(("x"):rep(1000), l1)
    assert.equal("after", p:read_line())
    assert.is_nil(p:read_line())
    assert.equal(1, p:truncated())
    -- the default bound is 64 KiB
    p = assert(proc.spawn({ CHILD, "long", "200000" }))
    assert.equal(64 * 1024, #p:read_line())
    assert.equal("after", p:read_line())
  end)

  it("back-pressures a fast writer instead of buffering without bound", function()
    local p = assert(proc.spawn({ CHILD, "lines", "300000" }, { max_buffer = 16 * 1024 }))
    timer.sleep(0.3)
    -- ~2 MB of output cannot fit in 16 KiB + the pipe: the writer is blocked
    assert.is_false(p:exited())
    local n = 0
    for _ in p:lines() do n = n + 1 end
    assert.equal(300000, n)
    assert.equal(0, p:wait())
  end)

  it("kills and reaps a process whose task died (no zombie)", function()
    local pid
    timer.at(0, function()
      local p = assert(proc.spawn({ CHILD, "sleep", "30" }, { grace = 0.5 }))
      pid = p:pid()
      p:read_line()
      error("the owning task fails", 0)
    end)
    h.wait_until(function() return pid end, 5, nil, "the child to start")
    local st = proc_state(pid)
    assert.is_true(st ~= "gone" and st ~= "Z", "alive before collection, state " .. st)
    h.wait_until(function()
      collectgarbage()
      return proc_state(pid) == "gone"
    end, 5, 0.05, "the child to be reaped")
  end)

  it("SIGKILLs a child that ignores SIGTERM after the grace period, and reaps it", function()
    local p = assert(proc.spawn({ CHILD, "stubborn", "30" }, { grace = 0.3 }))
    local pid = p:pid()
    assert.equal("ready", p:read_line())
    p:close()
    timer.sleep(0.1)
    assert.are_not.equal("gone", proc_state(pid))       -- still in its grace period
    assert.are_not.equal("Z", proc_state(pid))
    h.wait_until(function() return proc_state(pid) == "gone" end, 5, 0.05, "SIGKILL and reaping")
  end)

  it("wakes a waiting task with nil when the handle is closed by another", function()
    local p = assert(proc.spawn({ CHILD, "sleep", "30" }, { grace = 0.2 }))
    local pid = p:pid()
    assert.equal("ready", p:read_line())
    timer.at(0.05, function() p:close() end)
    assert.is_nil(p:read_line())
    h.wait_until(function() return proc_state(pid) == "gone" end, 5, 0.05)
  end)

  describe("inside an app", function()
    local function start()
      return h.start({ plugins = { "health", "proc_fixture" },
                       config = { plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } } })
    end
    local function read_pid(file)
      local f = io.open(file, "r")
      if not f then return nil end
      local pid = tonumber(f:read("a"))
      f:close()
      return pid
    end

    it("kills and reaps the app's children when the app stops", function()
      local app = start()
      local file = h.tmpname(".pid")
      assert.equal(200, assert(app:get("/api/v1/proc/keep?file=" .. file)).status)
      local pid = assert(read_pid(file))
      timer.sleep(0.05)
      assert.are_not.equal("gone", proc_state(pid))
      app:stop()
      h.wait_until(function() return proc_state(pid) == "gone" end, 5, 0.05, "the child to be reaped")
      os.remove(file)
    end)

    it("kills and reaps the child of a request whose client went away", function()
      local app = start()
      local file = h.tmpname(".pid")
      local s = app:raw()
      s.conn:write("GET /api/v1/proc/hang?file=" .. file .. " HTTP/1.1\r\nHost: x\r\n\r\n")
      local pid = h.wait_until(function() return read_pid(file) end, 5, 0.02, "the child to start")
      s.conn:close()
      h.wait_until(function() return proc_state(pid) == "gone" end, 5, 0.05, "the child to be reaped")
      os.remove(file)
      app:stop()
    end)
  end)
end)
