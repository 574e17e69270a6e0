-- spec/plugins/requests_spec.lua — the requests API over real HTTP against
-- the demo Overseerr: search (awkward characters), details, request
-- (validation, 409s, Overseerr's refusals), my requests, cancel, follow,
-- authorization and user isolation.
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local hr = require "spec.helpers_requests"
local db = require "nest.db"
local crypto = require "nest.crypto"

local TAG = "rq" .. crypto.hex(crypto.random(3))

describe("requests", function()
  local env, owner, friend, local_user, anon

  setup(function()
    env = hr.start()
    owner, friend = env.owner, env.friend
    local_user = hr.local_user(env, TAG .. "-local")
    anon = env.app:client()
  end)
  teardown(function()
    db.query("DELETE FROM users WHERE username LIKE $1", TAG .. "-%")
    hr.stop(env)
  end)
  before_each(function() hr.reset(env) end)

  local function request(c, body)
    return c:post("/api/v1/media/request", body)
  end

  describe("search", function()
    it("finds titles and drops people", function()
      local r = friend:get("/api/v1/media/search?q=matrix")
      assert.equal(200, r.status)
      assert.is_true(#r.json.results >= 1)
      local m = r.json.results[1]
      assert.equal("The Matrix", m.title)
      assert.equal(603, m.tmdbId)
      assert.equal("movie", m.mediaType)
      assert.equal("available", m.availability)
      assert.equal(1, r.json.page)
      local p = friend:get("/api/v1/media/search?q=dicaprio")
      assert.equal(200, p.status)
      for _, x in ipairs(p.json.results) do assert.are_not.equal("person", x.mediaType) end
    end)

    it("passes every awkward character and non-ASCII to Overseerr encoded", function()
      for _, q in ipairs({ "(500) Days", "Don't Look Up", "Mission: Impossible", "a+b", "wow!", "*", "Amélie",
                           "東京", "Crouching Tiger, Hidden Dragon", "50%", "a&b=c", "#1" }) do
        local enc = q:gsub("[^%w%-_%.~]", function(c) return ("%%%02X"):format(c:byte()) end)
        local r = friend:get("/api/v1/media/search?q=" .. enc)
        assert.equal(200, r.status, q .. ": " .. tostring(r.body))
      end
      local r = friend:get("/api/v1/media/search?q=%28500%29%20Days")
      assert.equal("(500) Days of Summer", r.json.results[1].title)
      r = friend:get("/api/v1/media/search?q=Don%27t")
      assert.equal("Don't Look Up", r.json.results[1].title)
    end)

    it("refuses a missing query with 400 and answers the unversioned alias", function()
      assert.equal(400, friend:get("/api/v1/media/search").status)
      assert.equal(200, friend:get("/api/media/search?q=matrix").status)
    end)

    it("marks what is requested, by whom and who follows it", function()
      local made = request(owner, { tmdbId = 157336, mediaType = "movie" })
      assert.equal(201, made.status, made.body)
      local r = friend:get("/api/v1/media/search?q=interstellar")
      local it = r.json.results[1]
      assert.equal(made.json.id, it.requestId)
      assert.is_false(it.requested)
      assert.is_false(it.following)
      assert.equal(201, friend:post("/api/v1/media/requests/" .. ha.id(made.json.id) .. "/watch", {}).status)
      it = friend:get("/api/v1/media/search?q=interstellar").json.results[1]
      assert.is_true(it.following)
      assert.is_true(owner:get("/api/v1/media/search?q=interstellar").json.results[1].requested)
    end)
  end)

  describe("details", function()
    it("gives a show's seasons with their availability", function()
      local r = friend:get("/api/v1/media/tv/1399")
      assert.equal(200, r.status)
      assert.equal("Game of Thrones", r.json.title)
      assert.equal(8, #r.json.seasons)
      assert.equal(1, r.json.seasons[1].seasonNumber)
      assert.equal("none", r.json.seasons[1].availability)
      assert.equal("available", friend:get("/api/v1/media/tv/1396").json.seasons[1].availability)
    end)

    it("answers 404 for a title Overseerr does not know", function()
      assert.equal(404, friend:get("/api/v1/media/movie/99999999").status)
      assert.equal(404, friend:get("/api/v1/media/movie/abc").status)
    end)
  end)

  describe("requesting", function()
    it("accepts the seed's exact body (the id as a string) with 201", function()
      local r = friend:request("POST", "/api/v1/media/request", { body = '{"tmdbId":"157336","mediaType":"movie"}',
        headers = { ["Content-Type"] = "application/json" } })
      assert.equal(201, r.status, r.body)
      assert.equal(157336, r.json.tmdbId)
      assert.equal("pending", r.json.status)
      assert.equal("Interstellar", r.json.title)
      assert.equal(1, #r.json.history)
      -- made in Overseerr as friend (user 2), not as the key's admin
      local o = env.up:client():get("/demo/overseerr/api/v1/request/" .. ha.id(r.json.overseerrRequestId),
        { headers = { ["X-Api-Key"] = "demo-overseerr-key" } })
      assert.equal(2, o.json.requestedBy.id)
    end)

    it("refuses a duplicate with 409, the first request's id and a hint to follow", function()
      local first = request(owner, { tmdbId = 155, mediaType = "movie" })
      assert.equal(201, first.status)
      local again = request(friend, { tmdbId = 155, mediaType = "movie" })
      assert.equal(409, again.status)
      assert.equal("ALREADY_REQUESTED", again.json.error.code)
      assert.equal(first.json.id, again.json.error.details.requestId)
      assert.is_true(again.json.error.details.canFollow)
      assert.matches("follow", again.json.error.message)
    end)

    it("refuses a title already in Plex with 409 ALREADY_AVAILABLE", function()
      local r = request(friend, { tmdbId = 603, mediaType = "movie" })
      assert.equal(409, r.status)
      assert.equal("ALREADY_AVAILABLE", r.json.error.code)
      local show = request(friend, { tmdbId = 1396, mediaType = "tv", seasons = { 1 } })
      assert.equal("ALREADY_AVAILABLE", show.json.error.code)
    end)

    it("names the field of a bad body in a 400", function()
      local cases = {
        { { mediaType = "movie" }, "tmdbId" },
        { { tmdbId = "x1", mediaType = "movie" }, "tmdbId" },
        { { tmdbId = -3, mediaType = "movie" }, "tmdbId" },
        { { tmdbId = 155, mediaType = "book" }, "mediaType" },
        { { tmdbId = 155, mediaType = "movie", seasons = { 1 } }, "seasons" },
        { { tmdbId = 1399, mediaType = "tv", seasons = { 9 } }, "seasons" },
        { { tmdbId = 1399, mediaType = "tv", seasons = { 0 } }, "seasons" },
        { { tmdbId = 1399, mediaType = "tv", seasons = "some" }, "seasons" },
      }
      for _, c in ipairs(cases) do
        local r = request(friend, c[1])
        assert.equal(400, r.status, c[2] .. ": " .. tostring(r.body))
        assert.equal(c[2], r.json.error.details.field)
      end
      assert.equal(400, friend:request("POST", "/api/v1/media/request", { body = "[1,2]",
        headers = { ["Content-Type"] = "application/json" } }).status)
    end)

    it("requests chosen seasons of a show and refuses them a second time", function()
      local r = request(friend, { tmdbId = 1399, mediaType = "tv", seasons = { 2, 1 } })
      assert.equal(201, r.status, r.body)
      assert.same({ 1, 2 }, r.json.seasons)
      local d = owner:get("/api/v1/media/tv/1399").json
      assert.equal("requested", d.seasons[1].availability)
      assert.equal(r.json.id, d.seasons[1].requestId)
      assert.equal("none", d.seasons[3].availability)
      local again = request(owner, { tmdbId = 1399, mediaType = "tv", seasons = { 1 } })
      assert.equal(409, again.status)
      assert.equal(r.json.id, again.json.error.details.requestId)
      assert.equal(201, request(owner, { tmdbId = 1399, mediaType = "tv", seasons = { 3 } }).status)
    end)

    it("turns Overseerr's 'no seasons available' (202) into a clear 409", function()
      -- requested in Overseerr directly: MediaNest does not know it
      local o = env.up:client():post("/demo/overseerr/api/v1/request", { mediaType = "tv", mediaId = 66732, seasons = "all" },
        { headers = { ["X-Api-Key"] = "demo-overseerr-key" } })
      assert.equal(201, o.status)
      local r = request(friend, { tmdbId = 66732, mediaType = "tv", seasons = { 1 } })
      assert.equal(409, r.status)
      assert.equal("NOTHING_TO_REQUEST", r.json.error.code)
    end)

    it("adopts a movie requested in Overseerr directly, so it can be followed", function()
      local o = env.up:client():post("/demo/overseerr/api/v1/request", { mediaType = "movie", mediaId = 680 },
        { headers = { ["X-Api-Key"] = "demo-overseerr-key", ["X-API-User"] = "2" } })
      assert.equal(201, o.status)
      local r = request(owner, { tmdbId = 680, mediaType = "movie" })
      assert.equal(409, r.status)
      assert.equal("ALREADY_REQUESTED", r.json.error.code)
      local id = r.json.error.details.requestId
      assert.is_number(id)
      assert.equal(201, owner:post("/api/v1/media/requests/" .. ha.id(id) .. "/watch", {}).status)
    end)

    it("says so clearly when the user has no Overseerr account", function()
      local r = request(local_user, { tmdbId = 550, mediaType = "movie" })
      assert.equal(403, r.status)
      assert.equal("OVERSEERR_USER_NOT_FOUND", r.json.error.code)
      assert.equal(0, #assert(db.query("SELECT id FROM media_requests WHERE tmdb_id = 550")))
    end)

    it("can make it as the key's user instead, recording who really asked", function()
      local app = h.start({ config = hr.config(env.up, { sync_interval = 0, unmapped_users = "key_user" }) })
      finally(function() app:stop() end)
      local c = hr.local_user({ app = app }, TAG .. "-keyuser")
      local r = c:post("/api/v1/media/request", { tmdbId = 550, mediaType = "movie" })
      assert.equal(201, r.status, r.body)
      assert.equal(c.user.id, r.json.requestedBy.id)
      local row = db.query("SELECT user_id, requested_as FROM media_requests WHERE id = $1", r.json.id)[1]
      assert.equal(c.user.id, row.user_id)
      assert.equal(db.null, row.requested_as)
    end)

    it("applies the media_request limit", function()
      local app = h.start({ config = hr.config(env.up, { sync_interval = 0 }, {
        rate_limits = { auth = { limit = 100000, window = 60, by = "ip" }, media_request = { limit = 2, window = 3600 } } }) })
      finally(function() app:stop() end)
      -- a fresh user whose counter starts at 0: counters live in Redis,
      -- which outlives the spec database (and its user ids)
      local c = hr.local_user({ app = app }, TAG .. "-limited")
      hr.forget_limits("media_request")
      hr.forget_limits("api")
      local codes = {}
      for i = 1, 3 do codes[i] = c:post("/api/v1/media/request", { tmdbId = 603, mediaType = "movie" }).status end
      assert.same({ 409, 409, 429 }, codes)
      local last = c:post("/api/v1/media/request", { tmdbId = 603, mediaType = "movie" })
      assert.equal("RATE_LIMITED", last.json.error.code)
      assert.is_true(tonumber(last.headers["retry-after"]) > 0)
    end)
  end)

  describe("my requests", function()
    it("lists mine newest first, filtered by status, and shows one with its history", function()
      local a = request(friend, { tmdbId = 155, mediaType = "movie" })
      local b = request(friend, { tmdbId = 550, mediaType = "movie" })
      request(owner, { tmdbId = 680, mediaType = "movie" })
      local r = friend:get("/api/v1/media/requests")
      assert.equal(200, r.status)
      assert.equal(2, r.json.totalResults)
      assert.equal(b.json.id, r.json.results[1].id)
      assert.equal(a.json.id, r.json.results[2].id)
      assert.equal(0, friend:get("/api/v1/media/requests?status=approved").json.totalResults)
      assert.equal(400, friend:get("/api/v1/media/requests?status=bogus").status)
      local one = friend:get("/api/v1/media/requests/" .. ha.id(a.json.id))
      assert.equal("pending", one.json.history[1].status)
    end)

    it("answers 404 for another user's request, 401 anonymously", function()
      local mine = request(owner, { tmdbId = 155, mediaType = "movie" })
      local path = "/api/v1/media/requests/" .. ha.id(mine.json.id)
      assert.equal(404, friend:get(path).status)
      assert.equal(404, local_user:get(path).status)
      assert.equal(404, friend:delete(path).status)
      assert.equal(401, anon:get(path).status)
      assert.equal(401, anon:get("/api/v1/media/requests").status)
      assert.equal(401, anon:get("/api/v1/media/search?q=x").status)
      assert.equal(401, anon:post("/api/v1/media/request", { tmdbId = 155, mediaType = "movie" }).status)
      assert.equal(404, friend:get("/api/v1/media/requests/999999999").status)
      -- an admin may look at anyone's
      local theirs = request(friend, { tmdbId = 550, mediaType = "movie" })
      assert.equal(200, owner:get("/api/v1/media/requests/" .. ha.id(theirs.json.id)).status)
      assert.equal(404, owner:delete("/api/v1/media/requests/" .. ha.id(theirs.json.id)).status)
    end)

    it("cancels a pending request, deleting it in Overseerr too", function()
      local r = request(friend, { tmdbId = 550, mediaType = "movie" })
      local oid = ha.id(r.json.overseerrRequestId)
      local del = friend:delete("/api/v1/media/requests/" .. ha.id(r.json.id))
      assert.equal(200, del.status, del.body)
      assert.equal("cancelled", del.json.status)
      local o = env.up:client():get("/demo/overseerr/api/v1/request/" .. oid,
        { headers = { ["X-Api-Key"] = "demo-overseerr-key" } })
      assert.equal(404, o.status)
      -- the title can be requested again
      assert.equal(201, request(owner, { tmdbId = 550, mediaType = "movie" }).status)
    end)

    it("refuses to cancel an approved request with 409", function()
      local r = request(owner, { tmdbId = 329865, mediaType = "movie" })
      assert.equal("approved", r.json.status)
      local del = owner:delete("/api/v1/media/requests/" .. ha.id(r.json.id))
      assert.equal(409, del.status)
      assert.equal("NOT_CANCELLABLE", del.json.error.code)
    end)
  end)

  describe("following", function()
    it("lets anyone follow anyone's request and stop", function()
      local r = request(owner, { tmdbId = 337401, mediaType = "movie" })
      local path = "/api/v1/media/requests/" .. ha.id(r.json.id)
      assert.equal(201, friend:post(path .. "/watch", {}).status)
      assert.equal(200, friend:post(path .. "/watch", {}).status)       -- again: still one follow
      assert.equal(1, friend:get(path).json.followers)
      assert.is_true(friend:get(path).json.following)                  -- a follower sees it
      local list = friend:get("/api/v1/media/following")
      assert.equal(1, list.json.totalResults)
      assert.equal(r.json.id, list.json.results[1].id)
      assert.equal(409, owner:post(path .. "/watch", {}).status)        -- one's own
      assert.equal(200, friend:delete(path .. "/watch").status)
      assert.equal(0, friend:get("/api/v1/media/following").json.totalResults)
      assert.equal(404, friend:get(path).status)                        -- no longer visible
      assert.equal(404, friend:post("/api/v1/media/requests/999999999/watch", {}).status)
      assert.equal(401, anon:post(path .. "/watch", {}).status)
    end)
  end)

  describe("admin", function()
    it("lists everyone's requests and approves and declines through Overseerr", function()
      local a = request(friend, { tmdbId = 155, mediaType = "movie" })
      local b = request(friend, { tmdbId = 550, mediaType = "movie" })
      assert.equal(403, friend:get("/api/v1/admin/requests").status)
      assert.equal(401, anon:get("/api/v1/admin/requests").status)
      assert.equal(403, friend:post("/api/v1/admin/requests/" .. ha.id(a.json.id) .. "/approve", {}).status)
      local all = owner:get("/api/v1/admin/requests?status=pending")
      assert.equal(2, all.json.totalResults)
      local ok = owner:post("/api/v1/admin/requests/" .. ha.id(a.json.id) .. "/approve", {})
      assert.equal(200, ok.status, ok.body)
      assert.equal("approved", ok.json.status)
      -- whichever came first, the admin's answer or Overseerr's webhook about it
      assert.equal("approved", ok.json.history[2].status)
      assert.truthy(({ admin = true, webhook = true })[ok.json.history[2].source])
      local no = owner:post("/api/v1/admin/requests/" .. ha.id(b.json.id) .. "/decline", { reason = "Not in 4K" })
      assert.equal("declined", no.json.status)
      assert.equal("Not in 4K", no.json.statusMessage)
      assert.equal(404, owner:post("/api/v1/admin/requests/999999999/approve", {}).status)
    end)
  end)

  describe("Overseerr down", function()
    it("answers search from the stale cache or 503, and makes no half request", function()
      -- an instance whose cache goes stale after 0.2 s
      local app = h.start({ config = hr.config(env.up, { sync_interval = 0, cache_ttl = 0.2 }) })
      finally(function() app:stop() end)
      local c = ha.sign_in(app, env.up, "friend")
      local q = "/api/v1/media/search?q=arrival"
      local first = c:get(q)
      assert.equal(200, first.status)
      assert.is_nil(first.json.stale)
      env.up:client():post("/demo/overseerr/_control", { failure_rate = 1, failure_status = 503 })
      local cached = h.wait_until(function()
        local r = c:get(q)
        return r.json.stale and r
      end, 5, 0.05, "the search answered from the stale cache")
      assert.equal(200, cached.status)
      assert.equal("Arrival", cached.json.results[1].title)
      local fresh = friend:get("/api/v1/media/search?q=never-searched-before")
      assert.equal(503, fresh.status)
      assert.equal("OVERSEERR_UNAVAILABLE", fresh.json.error.code)
      local r = request(friend, { tmdbId = 646380, mediaType = "movie" })
      assert.equal(503, r.status)
      assert.equal("OVERSEERR_UNAVAILABLE", r.json.error.code)
      assert.equal(0, #assert(db.query("SELECT id FROM media_requests WHERE tmdb_id = 646380")))
    end)
  end)
end)
