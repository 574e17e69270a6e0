-- spec/integration/http_shutdown_spec.lua — SIGTERM drains: the real binary
-- (`medianest serve -c FILE`) stops accepting, lets an in-flight request
-- finish and exits 0.
local h = require "spec.helpers"
local tcp = require "nest.core.tcp"

local binary = h.bin

local slurp = h.read_file

describe("SIGTERM", function()
  it("lets the in-flight request finish, refuses new connections and exits 0", function()
    local dir = h.tmpname("-term")
    assert(os.execute("mkdir -p " .. dir))
    local cfg = dir .. "/config.lua"
    local f = assert(io.open(cfg, "w"))
    f:write(("return { listen = '127.0.0.1:0', data_dir = %q, plugins = { paths = { %q },"
      .. " enabled = { 'health', 'echo' } } }\n"):format(dir .. "/data", h.root .. "/spec/fixtures/plugins"))
    f:close()
    local out, pidf, rcf = dir .. "/out.txt", dir .. "/pid", dir .. "/rc"
    -- a subshell starts the server, records its pid, and its exit code once it ends
    assert(os.execute(("( %q serve -c %q >%q 2>&1 & echo $! >%q; wait $!; echo $? >%q ) &")
      :format(binary(), cfg, out, pidf, rcf)))
    local pid = h.wait_until(function() local p = slurp(pidf) return p and p:match("%d+") end, 10)
    local ok, err = pcall(function()
      local port = tonumber(h.wait_until(function()
        return (slurp(out) or ""):match("listening on http://127%.0%.0%.1:(%d+)/")
      end, 10, 0.02, "the server to listen"))
      local s = h.stream(assert(tcp.connect("127.0.0.1", port, 5)))
      assert(s.conn:write("GET /echo/sleep?s=0.6&key=term HTTP/1.1\r\nHost: spec\r\n\r\n"))
      -- make sure the request is being handled before the signal
      local probe = h.client("127.0.0.1", port)
      h.wait_until(function()
        local st = probe:get("/echo/state")
        return st and st.json and st.json.started.term
      end, 5, 0.02, "the slow request to start")
      probe:close()
      assert(os.execute("kill -TERM " .. pid))
      -- no new connections once the signal is handled
      h.wait_until(function()
        local c = tcp.connect("127.0.0.1", port, 1)
        if c then c:close() return false end
        return true
      end, 5, 0.02, "the listener to close")
      local r = assert(s:read_response({ timeout = 10 }))
      assert.equal(200, r.status)
      assert.equal("term", r.json.key)
      local rc = h.wait_until(function() local v = slurp(rcf) return v and v:match("%d+") end, 15, 0.05,
        "the process to exit")
      assert.equal("0", rc)
      assert.matches('"msg":"shutting down"', slurp(out))
    end)
    if not ok then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    os.execute("rm -rf " .. dir)
    assert(ok, err)
  end)
end)
