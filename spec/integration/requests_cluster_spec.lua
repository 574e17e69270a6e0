-- spec/integration/requests_cluster_spec.lua — two MediaNest instances
-- sharing PostgreSQL and Redis: a webhook received by one reaches the
-- WebSocket clients (and notifications) of the other, and the periodic sync
-- runs on one instance at a time (nest.lease).
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local hr = require "spec.helpers_requests"
local db = require "nest.db"

describe("requests across two instances", function()
  local env, other

  setup(function()
    env = hr.start()
    other = h.start({ config = hr.config(env.up) })
  end)
  teardown(function()
    other:stop()
    hr.stop(env)
  end)
  before_each(function() hr.reset(env) end)

  it("delivers a webhook received by one instance to WebSocket clients of the other", function()
    -- the friend is connected to `other`; Overseerr's webhook goes to env.app
    local friend_b = ha.sign_in(other, env.up, "friend")
    local r = friend_b:post("/api/v1/media/request", { tmdbId = 155, mediaType = "movie" })
    assert.equal(201, r.status, r.body)
    local ws = hr.ws({ app = other }, friend_b)
    hr.point_webhook(env, env.app)
    hr.control(env, r.json.overseerrRequestId, "available")
    local d = hr.next_event(ws, "request:update", function(x) return x.id == r.json.id end)
    assert.equal("available", d.status)
    local n = hr.next_event(ws, "notification", function(x) return x.type == "request_available" end)
    assert.matches("The Dark Knight", n.title)
    -- the webhook was received by env.app, not by `other`
    local function webhooks(app)
      local n = 0
      for _, line in ipairs(app:log_lines()) do
        if (line.route or ""):find("webhooks/overseerr", 1, true) then n = n + 1 end
      end
      return n
    end
    -- the access log is buffered (flushed within 100 ms)
    local got = pcall(h.wait_until, function() return webhooks(env.app) > 0 end, 5)
    assert.equal(0, webhooks(other), "the other instance got the webhook")
    assert.is_true(got, "env.app logged no webhook")
    ws:close()
  end)

  it("runs the sync on one instance at a time", function()
    local a = h.start({ config = hr.config(env.up, { sync_interval = 0.2 }) })
    local b = h.start({ config = hr.config(env.up, { sync_interval = 0.2 }) })
    finally(function() a:stop() b:stop() end)
    local holder = h.wait_until(function()
      local rows = db.query("SELECT holder FROM cluster_leases WHERE name = 'requests-sync' AND expires_at > now()")
      return rows and rows[1] and rows[1].holder
    end, 10, 0.05, "a sync lease")
    -- it stays with its holder while the holder renews it
    for _ = 1, 5 do
      require("nest.timer").sleep(0.2)
      local rows = db.query("SELECT holder FROM cluster_leases WHERE name = 'requests-sync'")
      assert.equal(holder, rows[1].holder)
    end
  end)
end)
