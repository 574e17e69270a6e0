-- spec/plugins/requests_webhook_spec.lua — how status changes reach people:
-- Overseerr's webhook (secret, real payload, unknown types, redelivery), the
-- whole path pending → approved → available through the demo Overseerr's
-- control API and its real webhook sender to the requester and a follower
-- (WebSocket and notifications), the sync repairing a missed webhook, the
-- relay, and the TMDB image proxy.
local ha = require "spec.helpers_auth"
local hr = require "spec.helpers_requests"
local h = require "spec.helpers"
local db = require "nest.db"
local json = require "nest.json"

local HOOK = "/api/v1/webhooks/overseerr"

-- Overseerr's default template, filled as Overseerr fills it: every value a string.
local function payload(kind, oid, tmdb, media_status)
  return {
    notification_type = kind, event = "Movie Request Approved", subject = "The Dark Knight (2008)",
    message = "Batman raises the stakes.", image = "https://image.tmdb.org/t/p/w600_and_h900_bestv2/x.jpg",
    media = { media_type = "movie", tmdbId = tostring(tmdb or 155), tvdbId = "", status = media_status or "PROCESSING",
              status4k = "UNKNOWN" },
    request = { request_id = oid and tostring(oid) or "", requestedBy_email = "friend@medianest.demo",
                requestedBy_username = "friend", requestedBy_avatar = "",
                requestedBy_settings_discordId = "", requestedBy_settings_telegramChatId = "" },
    issue = json.null, comment = json.null, extra = json.array(),
  }
end

describe("requests: webhook, live status, sync, relay, images", function()
  local env, owner, friend, hook

  setup(function()
    env = hr.start()
    owner, friend = env.owner, env.friend
    hook = env.app:client()
    hook.headers.Authorization = hr.SECRET
  end)
  teardown(function() hr.stop(env) end)
  before_each(function()
    hr.reset(env)
    hr.point_webhook(env, env.app)
    assert(db.query("DELETE FROM request_relay_targets"))
  end)

  local function pending(c, tmdb)
    local r = c:post("/api/v1/media/request", { tmdbId = tmdb or 155, mediaType = "movie" })
    assert.equal(201, r.status, r.body)
    return r.json
  end

  local function history(id)
    return db.query("SELECT to_status, source FROM media_request_status_history WHERE request_id = $1 ORDER BY id", id)
  end

  describe("the webhook", function()
    it("refuses a wrong or missing secret with 401", function()
      local anon = env.app:client()
      assert.equal(401, anon:post(HOOK, payload("MEDIA_APPROVED", 1)).status)
      anon.headers.Authorization = "nope"
      local r = anon:post(HOOK, payload("MEDIA_APPROVED", 1))
      assert.equal(401, r.status)
      assert.equal("UNAUTHORIZED", r.json.error.code)
    end)

    it("applies Overseerr's real payload to the request it names", function()
      local rq = pending(friend)
      local r = hook:post(HOOK, payload("MEDIA_APPROVED", rq.overseerrRequestId))
      assert.equal(200, r.status, r.body)
      assert.equal(1, r.json.changed)
      assert.equal("approved", friend:get("/api/v1/media/requests/" .. ha.id(rq.id)).json.status)
      assert.same({ "pending", "approved" }, { history(rq.id)[1].to_status, history(rq.id)[2].to_status })
      assert.equal("webhook", history(rq.id)[2].source)
    end)

    it("matches by tmdbId and type when the request id is unknown", function()
      local rq = pending(friend, 550)
      local r = hook:post(HOOK, payload("MEDIA_AVAILABLE", 987654, 550, "AVAILABLE"))
      assert.equal(1, r.json.changed)
      assert.equal("available", friend:get("/api/v1/media/requests/" .. ha.id(rq.id)).json.status)
    end)

    it("answers 204 to unknown types and the test notification", function()
      assert.equal(204, hook:post(HOOK, payload("TEST_NOTIFICATION")).status)
      assert.equal(204, hook:post(HOOK, payload("ISSUE_CREATED")).status)
      local p = payload("MEDIA_APPROVED")
      p.media, p.request = json.null, json.null
      p.notification_type = "SOMETHING_NEW"
      assert.equal(204, hook:post(HOOK, p).status)
      assert.equal(400, hook:request("POST", HOOK, { body = "nope", headers = { ["Content-Type"] = "application/json" } }).status)
    end)

    it("changes nothing and notifies nobody twice on a redelivery", function()
      local rq = pending(friend)
      local p = payload("MEDIA_AVAILABLE", rq.overseerrRequestId, 155, "AVAILABLE")
      assert.equal(1, hook:post(HOOK, p).json.changed)
      assert.equal(0, hook:post(HOOK, p).json.changed)
      assert.equal(0, hook:post(HOOK, payload("MEDIA_APPROVED", rq.overseerrRequestId)).json.changed)  -- stale news
      assert.equal(2, #history(rq.id))
      assert.equal(1, #hr.notifications(friend.user.id, ("request:%d:available"):format(rq.id)))
    end)
  end)

  it("carries pending → approved → available from the demo Overseerr to the requester and a follower, live",
    function()
      local rq = pending(friend, 680)
      assert.equal(201, owner:post("/api/v1/media/requests/" .. ha.id(rq.id) .. "/watch", {}).status)
      local ws_friend, ws_owner = hr.ws(env, friend), hr.ws(env, owner)
      hr.control(env, rq.overseerrRequestId, "approved")
      for _, ws in ipairs({ ws_friend, ws_owner }) do
        local d = hr.next_event(ws, "request:update", function(x) return x.id == rq.id end)
        assert.equal("approved", d.status)
      end
      hr.control(env, rq.overseerrRequestId, "available")
      for _, ws in ipairs({ ws_friend, ws_owner }) do
        assert.equal("available", hr.next_event(ws, "request:update", function(x) return x.status == "available" end).status)
        local n = hr.next_event(ws, "notification", function(x) return x.type == "request_available" end)
        assert.matches("Pulp Fiction", n.title)
      end
      assert.equal(1, #hr.notifications(friend.user.id, ("request:%d:available"):format(rq.id)))
      assert.equal(1, #hr.notifications(owner.user.id, ("request:%d:available"):format(rq.id)))
      local d = hr.drained(env, 2)
      for _, x in ipairs(d.deliveries) do assert.equal(200, x.status) end
      local hist = friend:get("/api/v1/media/requests/" .. ha.id(rq.id)).json.history
      assert.same({ "pending", "approved", "available" }, { hist[1].status, hist[2].status, hist[3].status })
      ws_friend:close() ws_owner:close()
    end)

  it("notifies the requester when the request is declined", function()
    local rq = pending(friend, 954)
    hr.control(env, rq.overseerrRequestId, "declined")
    h.wait_until(function() return #hr.notifications(friend.user.id, ("request:%d:declined"):format(rq.id)) == 1 end,
      10, 0.02, "the declined notification")
  end)

  it("catches up through the sync when a webhook was missed", function()
    hr.point_webhook(env, env.app, "wrong-secret")
    local rq = pending(friend, 337401)
    hr.control(env, rq.overseerrRequestId, "approved")
    local d = hr.drained(env, 2)
    assert.equal(401, d.deliveries[#d.deliveries].status)
    assert.equal("pending", friend:get("/api/v1/media/requests/" .. ha.id(rq.id)).json.status)
    local ws = hr.ws(env, friend)
    local r = owner:post("/api/v1/admin/requests/sync", {})
    assert.equal(200, r.status, r.body)
    assert.is_true(r.json.changed >= 1)
    assert.equal("processing", hr.next_event(ws, "request:update", function(x) return x.id == rq.id end).status)
    local hist = history(rq.id)
    assert.equal("sync", hist[#hist].source)
    assert.equal(403, friend:post("/api/v1/admin/requests/sync", {}).status)
    ws:close()
  end)

  it("runs the sync by itself, on one instance", function()
    local app = h.start({ config = hr.config(env.up, { sync_interval = 0.2 }) })
    finally(function() app:stop() end)
    hr.point_webhook(env, app, "wrong-secret")
    local rq = pending(friend, 19913)
    hr.control(env, rq.overseerrRequestId, "declined")
    h.wait_until(function()
      return friend:get("/api/v1/media/requests/" .. ha.id(rq.id)).json.status == "declined"
    end, 10, 0.05, "the sync to catch the decline")
    assert.is_string(db.query("SELECT holder FROM cluster_leases WHERE name = 'requests-sync'")[1].holder)
  end)

  describe("the relay", function()
    it("passes each webhook on to the admin's URLs, JSON and Discord-shaped, without secrets shown", function()
      assert(env.up:client():post("/sink/reset", {}).status == 200)
      local sink = env.up:url("/sink/webhook")
      local a = owner:post("/api/v1/admin/requests/relays", { url = sink .. "?token=s3cret", format = "json" })
      assert.equal(201, a.status, a.body)
      assert.is_nil(a.body:find("s3cret", 1, true))
      assert.equal(201, owner:post("/api/v1/admin/requests/relays", { url = sink, format = "discord" }).status)
      local list = owner:get("/api/v1/admin/requests/relays")
      assert.equal(2, #list.json.results)
      assert.is_nil(list.body:find("s3cret", 1, true))
      assert.equal(403, friend:get("/api/v1/admin/requests/relays").status)
      assert.equal(400, owner:post("/api/v1/admin/requests/relays", { url = "ftp://x" }).status)
      assert.equal(204, hook:post(HOOK, payload("TEST_NOTIFICATION")).status)
      local got = h.wait_until(function()
        local g = env.up:client():get("/sink/webhook").json
        return #g >= 2 and g
      end, 10, 0.02, "two relayed deliveries")
      local bodies = {}
      for _, g in ipairs(got) do bodies[#bodies + 1] = json.decode(g.body) end
      local plain, discord = bodies[1], bodies[2]
      if plain.embeds then plain, discord = discord, plain end
      assert.equal("TEST_NOTIFICATION", plain.notification_type)
      assert.equal("The Dark Knight (2008)", discord.embeds[1].title)
      for _, g in ipairs(got) do assert.is_nil(g.headers.authorization) end
      assert.equal(204, owner:delete("/api/v1/admin/requests/relays/" .. ha.id(a.json.id)).status)
      assert.equal(404, owner:delete("/api/v1/admin/requests/relays/" .. ha.id(a.json.id)).status)
    end)
  end)

  describe("TMDB images", function()
    it("proxies a poster with an ETag and answers 304 to it", function()
      assert.equal(200, friend:get("/api/v1/media/search?q=the%20matrix").status)   -- Overseerr names its poster
      local r = friend:get("/api/v1/images/tmdb/w342/demo-movie-603.jpg")
      assert.equal(200, r.status)
      assert.equal("image/png", r.headers["content-type"])
      assert.equal("\137PNG", r.body:sub(1, 4))
      local etag = r.headers.etag
      assert.is_string(etag)
      local again = friend:get("/api/v1/images/tmdb/w342/demo-movie-603.jpg", { headers = { ["If-None-Match"] = etag } })
      assert.equal(304, again.status)
    end)

    it("refuses sizes outside the set, odd paths and anonymous clients", function()
      assert.equal(404, friend:get("/api/v1/images/tmdb/w999/demo-movie-603.jpg").status)
      assert.equal(404, friend:get("/api/v1/images/tmdb/w342/..%2Fetc%2Fpasswd").status)
      assert.equal(404, friend:get("/api/v1/images/tmdb/w342/x.exe").status)
      assert.equal(404, friend:get("/api/v1/images/tmdb/w342/demo-movie-1.jpg").status)
      -- a real poster, but one no search or details answer has named
      assert.equal(404, friend:get("/api/v1/images/tmdb/w342/demo-movie-900123.jpg").status)
      assert.equal(401, env.app:client():get("/api/v1/images/tmdb/w342/demo-movie-603.jpg").status)
    end)
  end)
end)
