-- spec/integration/db_errors_spec.lua — what a client and an operator see
-- when the database misbehaves: a handler whose query fails because
-- PostgreSQL is unreachable answers 503 (not 500); a slow query is logged with
-- its duration and SQL but never its parameters.
local h = require "spec.helpers"

describe("database errors", function()
  it("a query against an unreachable PostgreSQL answers 503 UNAVAILABLE", function()
    local app = h.start_fixtures({ "db_probe" }, {
      database = { url = "postgresql://nobody@127.0.0.1:1/none", connect_timeout = 1,
                   migrate_on_start = false } })
    local r = app:get("/api/v1/db_probe/raise")
    app:stop()
    assert.equal(503, r.status)
    assert.equal("UNAVAILABLE", r.json.error.code)
    assert.is_string(r.json.error.requestId)
  end)

  it("logs a query over slow_query with its duration and without its parameters", function()
    local script = h.tmpname(".lua")
    local f = assert(io.open(script, "w"))
    f:write([[
      local db = require "nest.db"
      local cfg = require("nest.config").get()
      db.configure({ url = cfg.database.url, slow_query = 0.05 })
      assert(db.query("SELECT pg_sleep(0.12), $1::text AS secret", "hunter2-param"))
    ]])
    f:close()
    local p = assert(io.popen(h.bin() .. " run " .. script .. " 2>&1"))
    local out = p:read("a")
    p:close()
    os.remove(script)
    local line = out:match('[^\n]*"slow query"[^\n]*')
    assert.is_string(line, "no slow query line in: " .. out)
    local ms = tonumber(line:match('"duration_ms":([%d%.]+)'))
    assert.is_true(ms >= 100, line)
    assert.matches("pg_sleep", line, 1, true)
    assert.is_nil(out:find("hunter2-param", 1, true))
  end)
end)
