-- spec/integration/status_cluster_spec.lua — two MediaNest instances in
-- this process, one PostgreSQL and one Redis: one status poller runs
-- between them (the lease), a change seen by the poller reaches a
-- subscriber of the other instance, and when the poller's instance stops
-- the other takes over.
local h = require "spec.helpers"
local hs = require "spec.helpers_status"
local db = require "nest.db"
local lease = require "nest.lease"

local INTERVAL = 0.2

-- Distinct cycles that wrote a plex row since `since` (each cycle writes
-- its rows in one statement, so one timestamp per cycle).
local function cycles_since(since)
  return db.query([[SELECT count(DISTINCT last_check_at) AS n FROM service_status
                    WHERE service_name = 'plex' AND last_check_at > $1::timestamptz]], since)[1].n
end

local function db_now()
  return db.query("SELECT now()::text AS t")[1].t
end

describe("status poller across instances", function()
  local up, a, b, alice

  setup(function()
    assert(os.getenv("REDIS_URL"), "REDIS_URL must be set (scripts/spec)")
    hs.clean()
    up = hs.upstreams()
    a = hs.start(up, { interval = INTERVAL, timeout = 1.5 })
    b = hs.start(up, { interval = INTERVAL, timeout = 1.5 })
    alice = hs.user("calice")
    hs.await_status(alice:client(a), "kuma:1", "up")
  end)

  teardown(function()
    if a then a:stop() end
    if b then b:stop() end
    if up then up:stop() end
  end)

  it("runs one poller between two instances", function()
    local t0 = db_now()
    local clock = require("nest.core.app")
    local start = clock.hrtime()
    require("nest.timer").sleep(2)
    local elapsed = clock.hrtime() - start
    local n = cycles_since(t0)
    -- one poller: about elapsed / INTERVAL cycles; two would write twice as many
    assert.truthy(n >= 3, "cycles: " .. n)
    assert.truthy(n <= elapsed / INTERVAL * 1.3 + 1, ("%d cycles in %.2f s"):format(n, elapsed))
    assert.truthy(lease.holder("status-poller"))
  end)

  it("delivers a change to a subscriber of either instance", function()
    local wa, wb = hs.ws(a, alice), hs.ws(b, alice)
    hs.subscribe(wa)
    hs.subscribe(wb)
    -- relays may still be subscribing: flip until both have seen a change
    local seen = {}
    h.wait_until(function()
      hs.kuma(up, 2, seen.status == "down" and 1 or 0)
      for name, w in pairs({ a = wa, b = wb }) do
        local m = w:recv_event(1)
        if m and m.event == "service:status" and m.data.service.id == "kuma:2" then seen[name] = true end
      end
      return seen.a and seen.b
    end, 20)
    hs.kuma(up, 2, 1)
    wa:close() wb:close()
  end)

  it("hands the poller over when its instance stops", function()
    local before = lease.holder("status-poller")
    assert.truthy(before)
    a:stop()
    a = nil
    local t0 = db_now()
    h.wait_until(function() return cycles_since(t0) >= 3 end, 10, 0.1, "cycles after the first stop")
    if lease.holder("status-poller") == before then
      -- b held it all along: give it a successor, then stop it
      a = hs.start(up, { interval = INTERVAL, timeout = 1.5 })
      b:stop()
      b, a = a, nil
    end
    t0 = db_now()
    h.wait_until(function()
      local now = lease.holder("status-poller")
      return now and now ~= before and cycles_since(t0) >= 3
    end, 10, 0.1, "another instance to run the poller")
    assert.equal(200, alice:client(b):get("/api/v1/dashboard/status").status)
  end)
end)
