-- spec/plugins/hardening_ratelimit_spec.lua — anonymous callers are behind
-- limits too (issue 17): the `api` limit covers public /api routes (per IP
-- for anonymous callers, per user once signed in), sign-in polling has its
-- own limit instead, and credentials that match no session (each one a
-- database lookup, on any route) are bounded per IP. Limits are small
-- here and counted in process (no Redis), so each app starts from zero.
local h = require "spec.helpers"
local hh = require "spec.helpers_hardening"
local crypto = require "nest.crypto"
local config = require "nest.config"
local napp = require "nest.core.app"
local timer = require "nest.timer"

local TAG = "hrl" .. crypto.hex(crypto.random(4))

local LIMITS = {
  api = { limit = 5, window = 60 },
  auth = { limit = 100, window = 60, by = "ip" },
  auth_poll = { limit = 8, window = 60, by = "ip" },
  auth_lookup = { limit = 4, window = 60, by = "ip" },
}

local function start(plugins)
  return h.start({ plugins = plugins or { "health", "auth", "ratelimit" },
                   config = { redis = { url = "" }, rate_limits = LIMITS } })
end

describe("anonymous rate limits", function()
  local app
  after_each(function() if app then app:stop() end app = nil end)
  teardown(function() hh.cleanup(TAG) end)

  it("counts anonymous calls to public /api routes against api, per IP", function()
    app = start()
    local anon = app:client()
    for i = 1, 5 do
      local r = anon:get(i % 2 == 0 and "/api/v1/setup" or "/api/v1/auth/session")
      assert.is_true(r.status == 200 or r.status == 401, r.status)
      assert.equal("5", r.headers["x-ratelimit-limit"])
    end
    local r = anon:get("/api/v1/setup")
    assert.equal(429, r.status)
    assert.equal("api", r.json.error.details.limit)
    assert.truthy(r.headers["retry-after"])
    -- a signed-in caller from the same address has a budget of its own
    local user = hh.bearer(app, TAG .. "-u")
    assert.equal(200, user:get("/api/v1/auth/session").status)
    -- routes outside /api are not counted
    assert.equal(200, anon:get("/health").status)
  end)

  it("limits sign-in polls with auth_poll instead of api", function()
    app = start()
    local anon = app:client()
    for i = 1, 8 do
      local r = anon:get("/api/v1/auth/plex/pin/999999999")
      assert.equal(404, r.status, "poll " .. i)
      assert.equal("8", r.headers["x-ratelimit-limit"])
    end
    local r = anon:get("/api/v1/auth/plex/pin/999999999")
    assert.equal(429, r.status)
    assert.equal("auth_poll", r.json.error.details.limit)
    -- the polls took nothing from the api budget
    r = anon:get("/api/v1/setup")
    assert.equal(200, r.status)
    assert.equal("4", r.headers["x-ratelimit-remaining"])
  end)

  it("stops looking up unknown credentials from an address past auth_lookup", function()
    app = start()
    local function guess(path)
      local c = app:client()
      c.headers.Authorization = "Bearer " .. crypto.token(32)
      return c:get(path)
    end
    for i = 1, 4 do assert.equal(200, guess("/health").status, "guess " .. i) end
    local r = guess("/health")
    assert.equal(429, r.status)
    assert.equal("auth_lookup", r.json.error.details.limit)
    assert.truthy(tonumber(r.headers["retry-after"]) >= 1)
    -- a session cookie that matches nothing is the same guess
    local c = app:client()
    r = c:get("/health", { headers = { Cookie = "mn_session=" .. crypto.token(32) } })
    assert.equal(429, r.status)
    -- without credentials nothing is looked up: still served
    assert.equal(200, app:client():get("/health").status)
  end)

  it("looks a stale credential up once: sent again, it is anonymous without a query", function()
    app = start()
    -- a browser holding a revoked cookie that keeps polling: one lookup,
    -- then remembered; it never reaches auth_lookup's 4
    local stale = "mn_session=" .. crypto.token(32)
    for i = 1, 20 do
      local r = app:client():get("/api/v1/auth/session", { headers = { Cookie = stale } })
      if i <= 5 then
        assert.equal(401, r.status, "request " .. i)
      else                                  -- api's 5 a minute, never auth_lookup's 4
        assert.equal(429, r.status, "request " .. i)
        assert.equal("api", r.json.error.details.limit)
      end
    end
    -- the address may still present new credentials
    local r = app:client():get("/health", { headers = { Authorization = "Bearer " .. crypto.token(32) } })
    assert.equal(200, r.status)
  end)

  it("gives an anonymous flood a bounded number of queries while a signed-in user is served", function()
    -- default limits; four anonymous keep-alive connections hammer what an
    -- anonymous caller can make the database do, for 3 s
    app = h.start({ plugins = { "health", "auth", "ratelimit", "metrics" }, config = { redis = { url = "" } } })
    local user = hh.bearer(app, TAG .. "-v")
    assert.equal(200, user:get("/api/v1/auth/session").status)      -- signed in before the flood
    local function queries()
      return tonumber(app:get("/metrics").body:match("\ndb_query_duration_seconds_count (%d+)")) or 0
    end
    local q0, rss0, t0 = queries(), hh.rss(), napp.hrtime()
    local sent, done = 0, 0
    for _ = 1, 4 do
      timer.at(0, function()
        local c, i = app:client(), 0
        while napp.hrtime() - t0 < 3 do
          i = i + 1
          if i % 3 == 0 then c:get("/api/v1/setup")
          elseif i % 3 == 1 then c:get("/api/v1/auth/plex/pin/" .. i)
          else c:get("/health", { headers = { Authorization = "Bearer " .. crypto.token(32) } }) end
          sent = sent + 1
        end
        done = done + 1
      end)
    end
    local worst, rounds = 0, 0
    while done < 4 do
      local s = napp.hrtime()
      local r = user:get("/api/v1/auth/session")
      assert.equal(200, r.status, r.body)
      worst = math.max(worst, napp.hrtime() - s)
      rounds = rounds + 1
      timer.sleep(0.05)
    end
    local q, grown = queries() - q0, hh.rss() - rss0
    print(("  anonymous flood: %d requests in 3 s, %d queries (user: %d, worst %.0f ms), RSS %+.1f MiB")
      :format(sent, q, rounds, worst * 1000, grown / 1048576))
    assert.is_true(sent > 600, "the flood was too small to mean anything: " .. sent)
    -- api 100 + auth_poll 120 + auth_lookup 30 for the flood; the user's
    -- lookups (one each, and a session refresh) on top
    assert.is_true(q <= 100 + 120 + 30 + 2 * rounds + 10, ("%d queries"):format(q))
    assert.is_true(worst < 0.5, ("the signed-in user waited %.0f ms"):format(worst * 1000))
    -- under ASan freed memory stays resident (quarantine, allocator caches:
    -- +111 to +378 MiB seen), so the bound holds for the plain build only,
    -- as in the WebSocket flood spec
    if not hh.sanitized() then
      assert.is_true(grown < 32 * 1048576, ("RSS grew %.0f MiB"):format(grown / 1048576))
    end
  end)

  it("puts every public /api route of the default plugins behind a limit", function()
    local saved = config.get()
    app = h.start({ plugins = config.defaults().plugins.enabled,
                    config = { redis = { url = "" }, rate_limits = LIMITS } })
    config.use(saved)
    local anon = app:client()
    local ROUTES = {
      { "GET", "/api/v1/health" }, { "GET", "/api/v1/setup" }, { "GET", "/api/v1/auth/session" },
      { "POST", "/api/v1/auth/logout" }, { "POST", "/api/v1/analytics/rum", { name = "LCP", value = 1 } },
    }
    for _, rt in ipairs(ROUTES) do
      local r = assert(anon:request(rt[1], rt[2], { json = rt[3] }))
      assert.truthy(r.headers["x-ratelimit-limit"], rt[1] .. " " .. rt[2] .. " answered without a limit")
    end
  end)
end)
