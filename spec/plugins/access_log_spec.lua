-- spec/plugins/access_log_spec.lua — the access log is buffered (core/logbuf.c)
-- and formatted without stdio (core/access_log.c): every request still gets
-- one complete JSON line, in order, flushed within a moment and at exit,
-- and the server does not make a write(2) per request for it.
local h = require "spec.helpers"
local cjson = require "cjson.safe"

-- write(2)-family syscalls this process made so far (the app runs in it)
local function writes()
  local f = assert(io.open("/proc/self/io"))
  local n = tonumber(f:read("a"):match("syscw:%s*(%d+)"))
  f:close()
  return n
end

local function lines_with(app, prefix)
  local out = {}
  for _, l in ipairs(app:log_lines()) do
    if type(l.requestId) == "string" and l.requestId:sub(1, #prefix) == prefix then out[#out + 1] = l end
  end
  return out
end

describe("access log", function()
  local app
  setup(function() app = h.start() end)
  teardown(function() if app then app:stop() end end)

  it("writes one complete line per request, in order, without a write per request", function()
    local c = app:client()
    assert.equal(200, c:get("/health").status)          -- connected, warm
    local N = 300
    local before = writes()
    for i = 1, N do
      assert.equal(200, c:get("/health", { headers = { ["X-Request-Id"] = "order-" .. i } }).status)
    end
    -- each request is one write by this client and one by the server's answer;
    -- a line written per request would make it three
    local made = writes() - before
    assert.is_true(made < 2 * N + N // 4, ("%d writes for %d requests"):format(made, N))
    local got = h.wait_until(function()
      local l = lines_with(app, "order-")
      return #l == N and l
    end, 5, 0.02, "every line flushed")
    for i, l in ipairs(got) do
      assert.equal("order-" .. i, l.requestId)
      assert.equal("GET", l.method)
      assert.equal("/health", l.route)
      assert.equal(200, l.status)
      assert.equal("info", l.level)
      assert.equal("request", l.msg)
      assert.equal("number", type(l.durationMs))
      assert.equal("127.0.0.1", l.ip)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", l.time)
    end
  end)

  it("keeps a line valid JSON when the path is longer than the line allows", function()
    local path = "/nope/" .. ('"\\\1x'):rep(400)
    local raw = path:gsub("[^%w/]", function(ch) return ("%%%02X"):format(ch:byte()) end)
    assert.equal(404, app:client():get(raw, { headers = { ["X-Request-Id"] = "long-1" } }).status)
    local line = h.wait_until(function() return lines_with(app, "long-1")[1] end, 5, 0.02, "the line")
    assert.is_nil(line.raw, "not JSON: " .. tostring(line.raw))
    assert.equal(404, line.status)
    assert.is_true(#line.route > 50 and #line.route <= 500)
  end)
end)

describe("access log at exit", function()
  it("flushes what it holds when the server stops", function()
    local app = h.start()
    assert.equal(200, app:client():get("/health", { headers = { ["X-Request-Id"] = "last-1" } }).status)
    local file = app.log_file
    app.handle:stop()                                   -- at once, before the flush interval
    local f = assert(io.open(file))
    local text = f:read("a")
    f:close()
    os.remove(file)
    local found
    for line in text:gmatch("[^\n]+") do
      local l = cjson.decode(line)
      if l and l.requestId == "last-1" then found = l end
    end
    assert.is_table(found, "the last line was lost at exit")
  end)
end)

describe("access log behind a trusted proxy", function()
  local app
  setup(function() app = h.start({ config = { trusted_proxies = { "127.0.0.1" } } }) end)
  teardown(function() if app then app:stop() end end)

  local function logged(id)
    return h.wait_until(function() return lines_with(app, id)[1] end, 5, 0.02, "the line for " .. id)
  end

  it("logs the client the proxy forwarded for, not the proxy", function()
    local c = app:client()
    assert.equal(200, c:get("/health", { headers = { ["X-Request-Id"] = "fwd-1",
      ["X-Forwarded-For"] = "203.0.113.7" } }).status)
    assert.equal("203.0.113.7", logged("fwd-1").ip)
  end)

  it("logs the peer when nothing was forwarded", function()
    assert.equal(200, app:client():get("/health", { headers = { ["X-Request-Id"] = "fwd-2" } }).status)
    assert.equal("127.0.0.1", logged("fwd-2").ip)
  end)
end)
