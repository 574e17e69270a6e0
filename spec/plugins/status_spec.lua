-- spec/plugins/status_spec.lua — service status: each state and its message
-- (Uptime Kuma up/down/pending/maintenance, unreachable, failing, garbage;
-- own checks of Plex and Overseerr up, down, slow, with a refused token or
-- key; the YouTube tool), feature availability, the API's authorization,
-- history, monitor visibility in the API and over WebSocket, the debounce,
-- and admin notifications on confirmed transitions. Real PostgreSQL and
-- Redis, the demo upstreams served by a second app.
local h = require "spec.helpers"
local hs = require "spec.helpers_status"
local db = require "nest.db"
local services = require "nest.services"

local STATUS = "/api/v1/dashboard/status"
local NULL = require("cjson").null

describe("status plugin", function()
  local up, app, alice, root, as_alice, as_root, anon

  setup(function()
    hs.clean()
    up = hs.upstreams()
    -- thresholds far above a loopback answer (ms), so a busy machine is not "slow"
    app = hs.start(up, { interval = 0.2, timeout = 3, slow_ms = 1500 })
    alice, root = hs.user("alice"), hs.user("root", "admin")
    as_alice, as_root, anon = alice:client(app), root:client(app), app:client()
    hs.await_status(as_alice, "kuma:5", "up")
  end)

  teardown(function()
    if app then app:stop() end
    if up then up:stop() end
    db.query("DELETE FROM service_config WHERE name IN ('plex', 'overseerr')")
    services.forget()
  end)

  after_each(function()
    for _, fake in ipairs({ "plex", "overseerr", "kuma" }) do hs.control(up, fake, { reset = true, garbage = false }) end
    for id = 1, 5 do hs.kuma(up, id, 1) end
    hs.await_all_up(as_root)
  end)

  describe("GET /dashboard/status", function()
    it("refuses anonymous callers with 401", function()
      assert.equal(401, anon:get(STATUS).status)
      assert.equal(401, anon:get("/api/dashboard/status").status)
    end)

    it("shows a user every own check and Kuma monitor, up, with figures and no visibility flag", function()
      local r = as_alice:get("/api/dashboard/status")
      assert.equal(200, r.status)
      assert.truthy(r.headers["content-type"]:find("application/json", 1, true))
      local ids = {}
      for _, s in ipairs(r.json.services) do
        ids[#ids + 1] = s.id
        assert.is_nil(s.visible)
        assert.equal("up", s.status)
        assert.truthy(s.lastCheckAt:match("^%d%d%d%d%-%d%d%-%d%dT[%d:.]+Z$"), s.lastCheckAt)
      end
      assert.same({ "plex", "overseerr", "plextv", "youtube", "kuma:1", "kuma:2", "kuma:3", "kuma:4", "kuma:5" }, ids)
      local plex = r.json.services[1]
      assert.equal("self", plex.source)
      assert.equal("Plex", plex.name)
      assert.is_number(plex.responseTimeMs)
      assert.equal("uptime_kuma", r.json.services[5].source)
      -- Kuma's own 24 h figure (NAS has a DOWN beat in the demo history), as a percentage
      local kuma = up:client():get("/demo/kuma/api/status-page/heartbeat/demo").json
      assert.equal("NAS", r.json.services[8].name)
      assert.near(kuma.uptimeList["4_24"] * 100, r.json.services[8].uptime24h, 0.001)
      assert.truthy(r.json.services[8].uptime24h < 100)
      for _, f in ipairs({ "library", "requests", "youtube" }) do
        assert.same({ available = true, reason = NULL }, r.json.features[f])
      end
      assert.is_string(r.json.updatedAt)
    end)

    it("gives admins the visibility flag of every service", function()
      local r = as_root:get(STATUS)
      assert.equal(200, r.status)
      for _, s in ipairs(r.json.services) do assert.is_true(s.visible) end
    end)
  end)

  describe("Uptime Kuma monitors", function()
    it("follow Kuma's last heartbeat: down with its message, pending as degraded, maintenance", function()
      hs.kuma(up, 2, 0, "connect ECONNREFUSED 10.0.0.5:5055")
      hs.kuma(up, 3, 2, "timeout of 48000ms exceeded")
      hs.kuma(up, 4, 3)
      local down = hs.await_status(as_alice, "kuma:2", "down")
      assert.equal("Down: connect ECONNREFUSED 10.0.0.5:5055", down.message)
      local pending = hs.await_status(as_alice, "kuma:3", "degraded")
      assert.equal("Pending (Uptime Kuma is retrying): timeout of 48000ms exceeded", pending.message)
      local m = hs.await_status(as_alice, "kuma:4", "maintenance")
      assert.equal("Under maintenance: Monitor under maintenance", m.message)
      hs.kuma(up, 2, 1)
      local back = hs.await_status(as_alice, "kuma:2", "up")
      assert.equal(NULL, back.message)
    end)

    it("are unknown, saying why, when Kuma answers an error", function()
      hs.control(up, "kuma", { failure_rate = 1, failure_status = 502 })
      local s = hs.await_status(as_alice, "kuma:1", "unknown")
      assert.equal("HTTP 502 from Uptime Kuma's status page", s.message)
      assert.equal("up", hs.service(as_alice, "plex").status)     -- own checks carry on
    end)

    it("are unknown when Kuma does not answer in time", function()
      hs.control(up, "kuma", { latency_ms = 4000 })
      local s = hs.await_status(as_alice, "kuma:1", "unknown", 15)
      assert.equal("Uptime Kuma did not answer within 3 s", s.message)
    end)

    it("are unknown when something else answers in Kuma's place (garbage)", function()
      hs.control(up, "kuma", { garbage = true })
      local s = hs.await_status(as_alice, "kuma:1", "unknown")
      assert.truthy(s.message:find("status page is not JSON (HTTP 200, text/html)", 1, true), s.message)
    end)
  end)

  describe("Uptime Kuma through /metrics (no status page slug)", function()
    local kuma = require "plugins.status.kuma"
    local O = { timeout = 5 }

    it("reads every monitor's status and response time with the API key", function()
      hs.kuma(up, 4, 0)
      local list = assert(kuma.poll({ url = up:url("/demo/kuma"), options = {}, api_key = "demo-kuma-key" }, O))
      local by = {}
      for _, r in ipairs(list) do by[r.id] = r end
      assert.equal(5, #list)
      -- Kuma 1.23's metrics carry no monitor id: the name stands in
      assert.same({ id = "kuma:plex", name = "Plex", source = "uptime_kuma", status = "up",
                    responseTimeMs = by["kuma:plex"].responseTimeMs }, by["kuma:plex"])
      assert.is_number(by["kuma:plex"].responseTimeMs)
      assert.equal("down", by["kuma:nas"].status)
      assert.is_nil(by["kuma:nas"].responseTimeMs)
    end)

    it("says Kuma is unreachable when nothing listens there", function()
      local list, why = kuma.poll({ url = "http://127.0.0.1:1", options = { slug = "demo" } }, O)
      assert.is_nil(list)
      assert.truthy(why:match("^Uptime Kuma unreachable: "), why)
    end)

    it("says the API key was refused", function()
      local list, why = kuma.poll({ url = up:url("/demo/kuma"), options = {}, api_key = "uk1_wrong" }, O)
      assert.is_nil(list)
      assert.equal("Uptime Kuma refused the API key on /metrics (HTTP 401): update it in Admin › Services", why)
    end)
  end)

  describe("own checks", function()
    it("find Plex down when it fails, and the library and YouTube features unavailable", function()
      hs.control(up, "plex", { failure_rate = 1, failure_status = 500 })
      local s, body = hs.await_status(as_alice, "plex", "down")
      assert.equal("HTTP 500 from /demo/plex/identity", s.message)
      assert.is_nil(s.integration)
      _, body = hs.service(as_alice, "plex")
      assert.is_false(body.features.library.available)
      assert.equal("Plex is down: HTTP 500 from /demo/plex/identity", body.features.library.reason)
      assert.is_false(body.features.youtube.available)
      assert.is_true(body.features.requests.available)
    end)

    it("find Plex slow (degraded) or unreachable (down), run on their own", function()
      local checks = require "plugins.status.checks"
      local plex = { url = up:url("/demo/plex"), token = "demo-token-owner", options = {} }
      hs.control(up, "plex", { latency_ms = 300 })
      local r = checks.plex(plex, { timeout = 3, slow_ms = 200 })
      assert.equal("degraded", r.status)
      assert.equal("Answers slowly (over 200 ms)", r.message)
      assert.truthy(r.responseTimeMs >= 300)
      hs.control(up, "plex", { latency_ms = 0 })
      r = checks.plex({ url = "http://127.0.0.1:1", token = "x", options = {} }, { timeout = 3, slow_ms = 200 })
      assert.equal("down", r.status)
      assert.truthy(r.message:match("^Plex unreachable: "), r.message)
      assert.is_nil(r.responseTimeMs)
    end)

    it("find Overseerr degraded when slower than slow_ms, and requests still available", function()
      hs.control(up, "overseerr", { latency_ms = 2000 })
      local s, body = hs.await_status(as_alice, "overseerr", "degraded", 15)
      assert.equal("Answers slowly (over 1500 ms)", s.message)
      assert.truthy(s.responseTimeMs >= 1500)
      _, body = hs.service(as_alice, "overseerr")
      assert.is_true(body.features.requests.available)
    end)

    it("find Overseerr down, saying why, when it does not answer in time", function()
      hs.control(up, "overseerr", { latency_ms = 4000 })
      local s = hs.await_status(as_alice, "overseerr", "down", 15)
      assert.equal("Overseerr unreachable: no answer within 3 s", s.message)
      assert.equal(NULL, s.responseTimeMs)
    end)

    it("say a refused Plex token is the problem, and tell admins once", function()
      assert(services.save("plex", { token = "revoked-token" }, root.id))
      local s, body = hs.await_status(as_alice, "plex", "degraded", 15, function(x) return x.integration end)
      assert.equal("token_rejected", s.integration)
      assert.truthy(s.message:find("The Plex token was rejected (HTTP 401): sign in again as the owner", 1, true))
      assert.is_nil(s.message:find("revoked-token", 1, true))
      _, body = hs.service(as_alice, "plex")
      assert.is_false(body.features.library.available)
      assert.equal(s.message, body.features.library.reason)
      -- several cycles later, still one notification for the admin, none for the user
      local seen = h.wait_until(function()
        local r = as_root:get("/api/v1/notifications?limit=50")
        for _, n in ipairs(r.json.notifications) do if n.type == "integration_rejected" then return n end end
      end, 5)
      assert.equal("Plex refused MediaNest's token", seen.title)
      assert.equal("/admin", seen.link)
      local n0 = db.query([[SELECT count(*) AS n FROM service_status WHERE service_name = 'plex']])[1].n
      h.wait_until(function()
        return db.query([[SELECT count(*) AS n FROM service_status WHERE service_name = 'plex']])[1].n >= n0 + 3
      end, 5)
      local count = db.query([[SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND type = 'integration_rejected']],
        root.id)[1].n
      assert.equal(1, count)
      assert.equal(0, db.query("SELECT count(*) AS n FROM notifications WHERE user_id = $1", alice.id)[1].n)
      db.query("DELETE FROM service_config WHERE name = 'plex'")
      hs.await_status(as_alice, "plex", "up", 15)
    end)

    it("say a refused Overseerr API key is the problem", function()
      assert(services.save("overseerr", { api_key = "wrong-key" }, root.id))
      local s = hs.await_status(as_alice, "overseerr", "degraded", 15, function(x) return x.integration end)
      assert.equal("key_rejected", s.integration)
      assert.truthy(s.message:find("The Overseerr API key was rejected (HTTP 403)", 1, true))
      local _, body = hs.service(as_alice, "overseerr")
      assert.is_false(body.features.requests.available)
      db.query("DELETE FROM service_config WHERE name = 'overseerr'")
      hs.await_status(as_alice, "overseerr", "up", 15)
    end)
  end)

  describe("the YouTube check", function()
    local function use(options)
      assert(services.save("youtube", { options = options }, root.id))
    end
    after_each(function()
      db.query("DELETE FROM service_config WHERE name = 'youtube'")
      hs.await_status(as_alice, "youtube", "up", 15)
    end)

    it("is down, saying why, when yt-dlp cannot run", function()
      use({ ytdlp = "/nonexistent/yt-dlp", root = h.tmpname("-yt") })
      local s, body = hs.await_status(as_alice, "youtube", "down", 15)
      assert.truthy(s.message:match("^yt%-dlp does not run: "), s.message)
      _, body = hs.service(as_alice, "youtube")
      assert.is_false(body.features.youtube.available)
      assert.truthy(body.features.youtube.reason:find("The YouTube tool is down", 1, true))
      assert.is_true(body.features.library.available)
    end)

    it("is down when yt-dlp hangs, and the poller goes on", function()
      local script = h.tmpname("-hang")
      local f = assert(io.open(script, "w"))
      f:write("#!/bin/sh\nexec sleep 30\n")
      f:close()
      os.execute("chmod +x " .. script)
      use({ ytdlp = script, root = h.tmpname("-yt") })
      local s = hs.await_status(as_alice, "youtube", "down", 15)
      assert.equal("yt-dlp does not run: still running after 3 s", s.message)
      -- other services are still checked every cycle meanwhile
      local before = hs.service(as_alice, "plextv").lastCheckAt
      h.wait_until(function() return hs.service(as_alice, "plextv").lastCheckAt > before end, 10)
      os.remove(script)
    end)

    it("is down when the download folder is not writable", function()
      use({ ytdlp = h.root .. "/bin/fake-yt-dlp", root = "/proc/medianest-not-writable" })
      local s = hs.await_status(as_alice, "youtube", "down", 15)
      assert.truthy(s.message:match("^The download folder is not writable: "), s.message)
    end)

    it("is degraded when free disk space is under min_free_mb", function()
      -- the check itself, run here with a threshold no disk meets (real df, real fake yt-dlp)
      local checks = require "plugins.status.checks"
      local r = checks.youtube({ options = { ytdlp = h.root .. "/bin/fake-yt-dlp", root = h.tmpname("-yt") } },
        { timeout = 5, slow_ms = 5000, min_free_mb = 1 << 40 })
      assert.equal("degraded", r.status)
      assert.equal(("Low disk space: under %d MB free in the download folder"):format(1 << 40), r.message)
      r = checks.youtube({ options = { ytdlp = h.root .. "/bin/fake-yt-dlp", root = h.tmpname("-yt") } },
        { timeout = 5, slow_ms = 5000, min_free_mb = 0 })
      assert.equal("up", r.status)
    end)
  end)

  describe("GET /dashboard/status/{id}", function()
    it("gives the service and its recent history, oldest first", function()
      h.wait_until(function()
        return db.query("SELECT count(*) AS n FROM service_status WHERE service_name = 'plextv'")[1].n >= 3
      end, 5)
      local r = as_alice:get(STATUS .. "/plextv")
      assert.equal(200, r.status)
      assert.equal("plextv", r.json.service.id)
      assert.truthy(#r.json.history >= 1 and #r.json.history <= 100)
      for i = 2, #r.json.history do assert.truthy(r.json.history[i - 1].at < r.json.history[i].at) end
      assert.equal("up", r.json.history[#r.json.history].status)
    end)

    it("answers 404 for an unknown service and 401 anonymously", function()
      assert.equal(404, as_alice:get(STATUS .. "/nope").status)
      assert.equal(404, as_alice:get(STATUS .. "/kuma:999").status)
      assert.equal(401, anon:get(STATUS .. "/plex").status)
    end)
  end)

  describe("monitor visibility", function()
    after_each(function()
      as_root:patch("/api/v1/admin/monitors/kuma:4", { visible = true })
    end)

    it("lists monitors for admins only", function()
      assert.equal(401, anon:get("/api/v1/admin/monitors").status)
      assert.equal(403, as_alice:get("/api/v1/admin/monitors").status)
      local r = as_root:get("/api/v1/admin/monitors")
      assert.equal(200, r.status)
      assert.equal(9, #r.json.monitors)
      assert.same({ id = "kuma:4", name = "NAS", source = "uptime_kuma", visible = true, status = "up" }, r.json.monitors[8])
    end)

    it("validates PATCH and refuses users", function()
      assert.equal(403, as_alice:patch("/api/v1/admin/monitors/kuma:4", { visible = false }).status)
      assert.equal(400, as_root:patch("/api/v1/admin/monitors/kuma:4", { visible = "no" }).status)
      assert.equal(404, as_root:patch("/api/v1/admin/monitors/kuma:999", { visible = false }).status)
    end)

    it("hides a monitor from users in the API, not from admins", function()
      local r = as_root:patch("/api/v1/admin/monitors/kuma:4", { visible = false })
      assert.equal(200, r.status)
      assert.same({ id = "kuma:4", name = "NAS", source = "uptime_kuma", visible = false, status = "up" }, r.json.monitor)
      assert.is_nil(hs.service(as_alice, "kuma:4"))
      assert.equal(404, as_alice:get(STATUS .. "/kuma:4").status)
      assert.is_false(hs.service(as_root, "kuma:4").visible)
      assert.equal(200, as_root:get(STATUS .. "/kuma:4").status)
    end)

    it("sends a hidden monitor's changes to admins only over WebSocket", function()
      assert.equal(200, as_root:patch("/api/v1/admin/monitors/kuma:4", { visible = false }).status)
      local wu, wa = hs.ws(app, alice), hs.ws(app, root)
      local cu, ca = hs.subscribe(wu), hs.subscribe(wa)
      for _, s in ipairs(cu.services) do assert.not_equal("kuma:4", s.id) end
      assert.equal(9, #ca.services)
      hs.kuma(up, 4, 0)
      hs.kuma(up, 1, 0)
      local got_a = {}
      h.wait_until(function()
        local m = wa:recv_event(0.2)
        if m and m.event == "service:status" then got_a[m.data.service.id] = m.data.service end
        return got_a["kuma:4"] and got_a["kuma:1"]
      end, 10)
      assert.equal("down", got_a["kuma:4"].status)
      assert.is_false(got_a["kuma:4"].visible)
      local got_u = {}
      for _, m in ipairs(hs.drain(wu, 1.5)) do
        if m.event == "service:status" then got_u[m.data.service.id] = m.data.service end
      end
      assert.equal("down", got_u["kuma:1"].status)
      assert.is_nil(got_u["kuma:1"].visible)
      assert.is_nil(got_u["kuma:4"])
      wu:close() wa:close()
    end)
  end)

  describe("GET /dashboard/stats", function()
    it("counts the user's own requests and downloads, and the library's size", function()
      local bob = hs.user("bob")
      local function request(u, status, tmdb)
        assert(db.query("INSERT INTO media_requests (user_id, tmdb_id, media_type, title, status) VALUES ($1, $2, 'movie', 't', $3)",
          u.id, tmdb, status))
      end
      local function download(u, status)
        assert(db.query([[INSERT INTO youtube_downloads (user_id, url, kind, youtube_id, status, worker_id)
                          VALUES ($1, 'https://youtu.be/dQw4w9WgXcQ', 'video', 'dQw4w9WgXcQ', $2,
                                  CASE WHEN $2 = 'downloading' THEN 'spec' END)]], u.id, status))
      end
      request(alice, "pending", 910001) request(alice, "available", 910002)
      request(alice, "partially_available", 910003) request(alice, "cancelled", 910004)
      request(bob, "pending", 910005) request(bob, "declined", 910006)
      download(alice, "queued") download(alice, "completed") download(alice, "completed")
      download(bob, "failed")
      local r = as_alice:get("/api/v1/dashboard/stats")
      assert.equal(200, r.status)
      assert.same({ total = 4, pending = 1, approved = 0, processing = 0, available = 2, declined = 0, failed = 0 },
        r.json.requests)
      assert.same({ total = 3, queued = 1, downloading = 0, completed = 2, failed = 0, cancelled = 0 },
        r.json.downloads)
      -- the demo library of this spec: 20 movies, 3 shows, 3 YouTube videos and
      -- the 40 home videos the owner does not share, in 4 sections
      assert.same({ items = 66, sections = 4 }, r.json.library)
      local rb = bob:client(app):get("/api/v1/dashboard/stats")
      assert.equal(2, rb.json.requests.total)
      assert.equal(1, rb.json.downloads.failed)
      assert.equal(401, anon:get("/api/v1/dashboard/stats").status)
      db.query("DELETE FROM media_requests WHERE user_id IN ($1, $2)", alice.id, bob.id)
    end)
  end)

  describe("admin notifications", function()
    it("tell admins once when a service goes down and once when it is back", function()
      local function titled(title)
        return db.query("SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND title = $2",
          root.id, title)[1].n
      end
      hs.kuma(up, 3, 0)
      h.wait_until(function() return titled("MediaNest is down") == 1 end, 10)
      hs.kuma(up, 3, 1)
      h.wait_until(function() return titled("MediaNest is back up") == 1 end, 10)
      local mine = {}
      for _, n in ipairs(as_root:get("/api/v1/notifications?limit=50").json.notifications) do
        if n.data.serviceId == "kuma:3" then mine[#mine + 1] = n end
      end
      assert.equal(2, #mine)
      assert.equal("MediaNest is back up", mine[1].title)
      assert.equal("service_up", mine[1].type)
      assert.equal("service_down", mine[2].type)
      assert.equal("Down: connect ECONNREFUSED", mine[2].body)
      assert.equal(1, titled("MediaNest is down"))
      assert.equal(0, db.query("SELECT count(*) AS n FROM notifications WHERE user_id = $1", alice.id)[1].n)
    end)

    it("say nothing about a flap shorter than two cycles", function()
      local alerts = require "plugins.status.alerts"
      local id = "spec:" .. hs.TAG
      local function cycle(status)
        assert(alerts.observe({ { id = id, name = "Flappy", source = "self", status = status } }))
      end
      local function count()
        return db.query("SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND data->>'serviceId' = $2",
          root.id, id)[1].n
      end
      cycle("up") cycle("up")
      cycle("down") cycle("up") cycle("down") cycle("degraded")
      assert.equal(0, count())
      cycle("down") cycle("maintenance") cycle("down")
      assert.equal(1, count())
      cycle("down") cycle("down")
      assert.equal(1, count())
      cycle("up") cycle("up")
      assert.equal(2, count())
    end)
  end)

  describe("WebSocket", function()
    it("keeps users out of the admins' status room", function()
      local w = hs.ws(app, alice)
      w:send("subscribe", { topic = "role:admin:status" })
      local m = assert(w:recv_event(5))
      assert.equal("error", m.event)
      assert.equal("FORBIDDEN", m.data.code)
      w:close()
    end)

    it("stops sending changes after unsubscribe", function()
      local w = hs.ws(app, root)
      hs.subscribe(w)
      w:send("unsubscribe", { topic = "status" })
      h.wait_until(function()
        local m = w:recv_event(1)
        return m and m.event == "unsubscribed"
      end, 5)
      hs.kuma(up, 2, 0)
      for _, m in ipairs(hs.drain(w, 1.5)) do assert.not_equal("service:status", m.event) end
      w:close()
    end)

    it("sends status:current on subscribe, then one service:status per change, debounced", function()
      local w = hs.ws(app, alice)
      local current = hs.subscribe(w)
      assert.equal(9, #current.services)
      assert.truthy(current.features.library)
      -- three flips within 300 ms, ending down: one broadcast, down
      hs.kuma(up, 5, 0)
      local t = require("nest.timer")
      t.sleep(0.1) hs.kuma(up, 5, 1)
      t.sleep(0.1) hs.kuma(up, 5, 0, "certificate expired")
      local events = {}
      for _, m in ipairs(hs.drain(w, 2.5)) do
        if m.event == "service:status" and m.data.service.id == "kuma:5" then events[#events + 1] = m.data end
      end
      assert.equal(1, #events)
      assert.equal("down", events[1].service.status)
      assert.equal("Down: certificate expired", events[1].service.message)
      assert.is_nil(events[1].service.visible)
      assert.truthy(events[1].features.library)
      w:close()
    end)
  end)
end)

describe("status plugin after a restart", function()
  it("does not serve the snapshot a previous process left in Redis", function()
    hs.clean()
    local cache, redis = require "nest.cache", require "nest.redis"
    assert(redis.call("PING"))
    assert(cache.fetch("status:body:user", { ttl = 60 }, function() return '{"services":[],"stale":true}' end))
    local up = hs.upstreams()
    local app = hs.start(up, { interval = 30 })
    local u = hs.user("restart")
    local c = u:client(app)
    h.wait_until(function() return hs.service(c, "plex") end, 10, 0.1, "the fresh snapshot")
    assert.is_nil(c:get(STATUS).json.stale)
    app:stop()
    up:stop()
  end)
end)

describe("status plugin across a hot reload", function()
  it("keeps one poller and keeps informing connected subscribers", function()
    hs.clean()
    local up = hs.upstreams()
    local app = hs.start(up, { interval = 0.2 })
    local u = hs.user("reload")
    hs.await_status(u:client(app), "kuma:2", "up")
    local w = hs.ws(app, u)
    hs.subscribe(w)
    local rl = app.handle:reload({ force = true })
    assert.is_true(rl.ok, tostring(rl.error))
    -- one cycle per interval, not two (the old generation's ticker is gone)
    local t0 = db.query("SELECT now()::text AS t")[1].t
    local clock = require "nest.core.app"
    local start = clock.hrtime()
    require("nest.timer").sleep(2)
    local n = db.query([[SELECT count(DISTINCT last_check_at) AS n FROM service_status
                         WHERE service_name = 'plex' AND last_check_at > $1::timestamptz]], t0)[1].n
    assert.truthy(n >= 3 and n <= (clock.hrtime() - start) / 0.2 * 1.3 + 1, "cycles: " .. n)
    -- the connection (and its room) outlived the reload: the new generation broadcasts to it
    hs.kuma(up, 2, 0)
    h.wait_until(function()
      local m = w:recv_event(0.5)
      return m and m.event == "service:status" and m.data.service.id == "kuma:2" and m.data.service.status == "down"
    end, 10)
    w:close()
    app:stop()
    up:stop()
  end)
end)
