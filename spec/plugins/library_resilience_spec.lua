-- spec/plugins/library_resilience_spec.lua — the library when Plex fails:
-- stale answers marked stale, 503 PLEX_UNAVAILABLE with nothing cached, and
-- 401 PLEX_REAUTH_REQUIRED when Plex no longer takes the user's token.
-- Short TTLs (1 s) so an answer goes stale within the spec.
local h = require "spec.helpers"
local hl = require "spec.helpers_library"
local db = require "nest.db"
local secrets = require "nest.secrets"

describe("library when Plex fails", function()
  local env, friend

  setup(function()
    env = hl.start({ library = { listing_ttl = 0.5, search_ttl = 0.5, recent_ttl = 0.5, timeout = 1,
                                 breaker_reset = 0.5 } })
    friend = hl.sign_in(env, "friend")
  end)
  teardown(function()
    hl.control(env, { reset = true })
    env:stop()
  end)
  after_each(function() hl.control(env, { reset = true }) end)

  it("serves saved answers marked stale while Plex is down, then fresh ones once it is back", function()
    local path = "/api/v1/plex/libraries/1/items?size=10&sort=rating"
    local fresh = hl.body(friend:get(path))
    assert.is_false(fresh.stale)
    hl.control(env, { failure_rate = 1, failure_status = 503 })
    local stale
    h.wait_until(function()
      local r = friend:get(path)
      assert.are.equal(200, r.status, r.body)
      stale = hl.body(r)
      return stale.stale
    end, 5, 0.1, "the answer to go stale")
    assert.are.equal(fresh.fetchedAt, stale.fetchedAt)
    assert.are.same(fresh.items, stale.items)
    hl.control(env, { reset = true })
    h.wait_until(function() return hl.body(friend:get(path)).stale == false end, 10, 0.2, "a fresh answer")
  end)

  it("answers 503 PLEX_UNAVAILABLE when Plex is down and nothing is saved", function()
    hl.control(env, { failure_rate = 1, failure_status = 500 })
    local r = friend:get("/api/v1/plex/search?q=nothing-saved-" .. os.time())
    assert.are.equal(503, r.status)
    local e = hl.body(r).error
    assert.are.equal("PLEX_UNAVAILABLE", e.code)
    assert.truthy(e.message:find("Plex", 1, true))
  end)

  it("answers 503 too when Plex is too slow", function()
    hl.control(env, { latency_ms = 2000 })
    local r = friend:get("/api/v1/plex/items/100077", { timeout = 10 })
    assert.are.equal(503, r.status)
  end)

  it("asks the user to sign in again when Plex refuses their token", function()
    local other = hl.sign_in(env, "owner")
    -- the owner's stored server token goes bad (expired, revoked on plex.tv)
    assert(db.query("UPDATE users SET server_token_enc = $2 WHERE id = $1", other.user.id,
      secrets.seal("revoked-token", "users.server_token")))
    local r = other:get("/api/v1/plex/libraries/2/collections")
    assert.are.equal(401, r.status)
    local e = hl.body(r).error
    assert.are.equal("PLEX_REAUTH_REQUIRED", e.code)
    assert.truthy(e.message:lower():find("sign in again", 1, true))
    -- signing in again stores a good token: browsing works at once
    other = hl.sign_in(env, "owner")
    h.wait_until(function() return other:get("/api/v1/plex/libraries/2/collections").status == 200 end, 10, 0.2,
      "the new token to be used")
  end)
end)
