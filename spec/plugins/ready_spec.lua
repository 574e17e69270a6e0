-- spec/plugins/ready_spec.lua — GET /ready, and the pool riding out a
-- PostgreSQL stop/start under traffic. The restart uses a private cluster
-- (scripts/lib/services.sh under .data/spec-pg-restart) so stopping it does
-- not disturb anything else using the shared test cluster.
local h = require "spec.helpers"
local timer = require "nest.timer"
local napp = require "nest.core.app"

local URL = os.getenv("DATABASE_URL")
assert(URL and URL ~= "", "DATABASE_URL is not set: source scripts/lib/services.sh and run "
  .. "mn_services_up .data test && mn_fresh_test_db (scripts/test does)")

local SERVICES = h.root .. "/scripts/lib/services.sh"
local DIR = h.root .. "/.data/spec-pg-restart"

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  return out:match("rc=(%d+)%s*$") == "0", out
end

-- Start (or reuse) the private cluster; its URL.
local function private_pg()
  local ok, out = sh("env -u DATABASE_URL -u _MN_OWN_DATABASE_URL REDIS_URL= bash " .. SERVICES
    .. " up '" .. DIR .. "' test")
  assert(ok, "could not start the private PostgreSQL: " .. out)
  local url = out:match("export DATABASE_URL=(%S+)")
  assert(url, out)
  return (url:gsub("^'", ""):gsub("'$", ""))
end

-- In the background, so the loop (and the traffic) keeps running.
local function pg_ctl(cmd)
  os.execute("bash " .. SERVICES .. " " .. cmd .. " '" .. DIR .. "' test >/dev/null 2>&1 &")
end

describe("ready plugin", function()
  local app
  after_each(function() if app then app:stop() app = nil end end)

  it("answers 200 with postgres up and redis not configured", function()
    app = h.start({ plugins = { "health", "ready" },
                    config = { database = { url = URL, migrate_on_start = false }, redis = { url = "" } } })
    local res = app:get("/ready")
    assert.are.equal(200, res.status)
    assert.are.same({ status = "ready", checks = { postgres = "up", redis = "not configured" } }, res.json)
  end)

  it("answers 503 naming postgres when it cannot be reached", function()
    local port = io.popen("perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,"
      .. "LocalAddr=>\"127.0.0.1\",LocalPort=>0)->sockport'"):read("a")
    app = h.start({ plugins = { "health", "ready" },
                    config = { database = { url = "postgresql://x@127.0.0.1:" .. port .. "/x",
                                            migrate_on_start = false }, redis = { url = "" } } })
    local t0 = napp.hrtime()
    local res = app:get("/ready")
    assert.are.equal(503, res.status)
    assert.are.equal("down", res.json.checks.postgres)
    assert.are.equal("unavailable", res.json.status)
    assert.is_true(napp.hrtime() - t0 < 1.5)
  end)

  it("checks Redis when it is configured: down -> 503, up -> 200", function()
    app = h.start({ plugins = { "health", "ready" },
                    config = { database = { url = URL, migrate_on_start = false },
                               redis = { url = "redis://127.0.0.1:1/0", connect_timeout = 0.5, command_timeout = 0.5 } } })
    local res = app:get("/ready")
    assert.are.equal(503, res.status)
    assert.are.same({ postgres = "up", redis = "down" }, res.json.checks)
    app:stop()
    app = nil
    local redis_url = os.getenv("REDIS_URL")
    assert(redis_url and redis_url ~= "", "REDIS_URL is not set: mn_services_up starts Redis")
    app = h.start({ plugins = { "health", "ready" },
                    config = { database = { url = URL, migrate_on_start = false }, redis = { url = redis_url } } })
    h.wait_until(function() return app:get("/ready").status == 200 end, 5, 0.05, "/ready 200 with Redis")
    assert.are.same({ postgres = "up", redis = "up" }, app:get("/ready").json.checks)
  end)

  it("migrates on start when database.migrate_on_start is set", function()
    local db = require "nest.db"
    db.configure({ url = URL })
    local name = ("medianest_test_ready_%d_%d"):format(os.time(), math.random(1, 1e9))
    assert(db.query('CREATE DATABASE "' .. name .. '"'))
    local url = URL:gsub("^(postgres[%w]*://[^/?]*)/?[^?]*", "%1/" .. name)
    app = h.start({ plugins = { "health", "ready" },
                    config = { database = { url = url, migrate_on_start = true }, redis = { url = "" } } })
    assert.are.equal(200, app:get("/ready").status)
    app:stop()
    app = nil
    db.configure({ url = url })
    local rows = assert(db.query("SELECT count(*) AS n FROM schema_migrations"))
    assert.is_true(rows[1].n >= 1)
    db.configure({ url = URL })
    assert(db.query('DROP DATABASE IF EXISTS "' .. name .. '" WITH (FORCE)'))
  end)

  it("PostgreSQL stopped and started under traffic: 503 then 200, queries recover without a restart", function()
    local url = private_pg()
    app = h.start({ plugins = { "health", "ready", "db_probe" },
                    config = { database = { url = url, migrate_on_start = false, pool_max = 5 },
                               redis = { url = "" },
                               plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } } })
    assert.are.equal(200, app:get("/ready").status)
    -- traffic: four clients querying in a loop until told to stop
    local stop, stats = false, { ok = 0, unavailable = 0, other = 0, running = 0 }
    for _ = 1, 4 do
      stats.running = stats.running + 1
      timer.at(0, function()
        local c = app:client()
        while not stop do
          local res = c:get("/api/v1/db_probe/one", { timeout = 5 })
          if res and res.status == 200 then stats.ok = stats.ok + 1
          elseif res and res.status == 503 then stats.unavailable = stats.unavailable + 1
          else stats.other = stats.other + 1 end
          timer.sleep(0.01)
        end
        c:close()
        stats.running = stats.running - 1
      end)
    end
    h.wait_until(function() return stats.ok >= 20 end, 10, 0.01, "traffic before the stop")
    pg_ctl("pg-stop")
    h.wait_until(function() return app:get("/ready").status == 503 end, 20, 0.05, "/ready 503")
    local down = app:get("/ready").json
    assert.are.equal("down", down.checks.postgres)
    local t0 = napp.hrtime()
    local failing = app:get("/api/v1/db_probe/one")
    assert.are.equal(503, failing.status)
    assert.are.equal("UNAVAILABLE", failing.json.code)
    assert.is_true(napp.hrtime() - t0 < 2.5, "fails fast while down")
    local ok_before = stats.ok
    pg_ctl("pg-start")
    h.wait_until(function() return app:get("/ready").status == 200 end, 30, 0.05, "/ready 200 again")
    h.wait_until(function() return stats.ok >= ok_before + 20 end, 10, 0.01, "traffic after the restart")
    stop = true
    h.wait_until(function() return stats.running == 0 end, 10, 0.01)
    assert.are.equal(0, stats.other)
    assert.is_true(stats.unavailable > 0)
    local res = app:get("/api/v1/db_probe/one")
    assert.are.equal(200, res.status)
    assert.are.equal(1, res.json.one)
    app:stop()
    app = nil
    sh("bash " .. SERVICES .. " down '" .. DIR .. "' test")
  end)
end)
