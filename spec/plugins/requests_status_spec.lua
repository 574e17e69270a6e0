-- spec/plugins/requests_status_spec.lua — how Overseerr's numbers and
-- webhook types become MediaNest's statuses, and which changes apply
-- (plugins/requests/status.lua); the body validation of POST /media/request
-- (plugins/requests/submit.lua). Pure functions: no server.
local status = require "plugins.requests.status"
local submit = require "plugins.requests.submit"
local errors = require "nest.errors"

local function movie(st, ms) return { status = st, media = { mediaType = "movie", status = ms } } end
local function show(st, ms, seasons)
  local list = {}
  for n, s in pairs(seasons) do list[#list + 1] = { seasonNumber = n, status = s } end
  return { status = st, media = { mediaType = "tv", status = ms, seasons = list } }
end

describe("requests status", function()
  it("reads Overseerr's request and media statuses", function()
    assert.equal("pending", status.from_overseerr(movie(1, 2)))
    assert.equal("approved", status.from_overseerr(movie(2, 2)))
    assert.equal("processing", status.from_overseerr(movie(2, 3)))
    assert.equal("approved", status.from_overseerr(movie(2, 3), nil, true))   -- the approval's own answer
    assert.equal("available", status.from_overseerr(movie(2, 5)))
    assert.equal("available", status.from_overseerr(movie(5, 5)))
    assert.equal("declined", status.from_overseerr(movie(3, 1)))
    assert.equal("failed", status.from_overseerr(movie(4, 3)))
  end)

  it("judges a show by the seasons this request asked for", function()
    local o = show(2, 4, { [1] = 5, [2] = 5, [3] = 3 })
    assert.equal("available", status.from_overseerr(o, { 1, 2 }))
    assert.equal("partially_available", status.from_overseerr(o, { 2, 3 }))
    assert.equal("partially_available", status.from_overseerr(o, nil))
  end)

  it("reads the webhook's notification types", function()
    assert.equal("approved", status.from_webhook("MEDIA_AUTO_APPROVED"))
    assert.equal("available", status.from_webhook("MEDIA_AVAILABLE", "AVAILABLE"))
    assert.equal("partially_available", status.from_webhook("MEDIA_AVAILABLE", "PARTIALLY_AVAILABLE"))
    assert.is_nil(status.from_webhook("TEST_NOTIFICATION"))
    assert.is_nil(status.from_webhook("ISSUE_CREATED"))
  end)

  it("ignores steps back along the path, applies leaving and coming back to it", function()
    assert.is_true(status.allowed("pending", "approved"))
    assert.is_false(status.allowed("processing", "approved"))
    assert.is_false(status.allowed("available", "processing"))
    assert.is_false(status.allowed("approved", "approved"))
    assert.is_true(status.allowed("processing", "failed"))
    assert.is_true(status.allowed("failed", "approved"))
    assert.is_false(status.allowed("cancelled", "approved"))
  end)
end)

describe("POST /media/request body", function()
  local function field(body)
    local ok, e = pcall(submit.parse, body)
    assert.is_false(ok)
    assert.is_true(errors.is(e))
    assert.equal(400, e.status)
    return e.details.field
  end

  it("accepts the id as a number or a string of digits, and seasons in any order, once each", function()
    assert.same({ tmdb_id = 603, media_type = "movie" }, submit.parse({ tmdbId = "603", mediaType = "movie" }))
    assert.same({ tmdb_id = 1399, media_type = "tv", seasons = { 1, 3 } },
      submit.parse({ tmdbId = 1399, mediaType = "tv", seasons = { 3, 1, 3 } }))
    assert.is_nil(submit.parse({ tmdbId = 1399, mediaType = "tv", seasons = "all" }).seasons)
  end)

  it("names the field it refuses", function()
    assert.equal("tmdbId", field({ mediaType = "movie" }))
    assert.equal("tmdbId", field({ tmdbId = "60 3", mediaType = "movie" }))
    assert.equal("tmdbId", field({ tmdbId = 1.5, mediaType = "movie" }))
    assert.equal("tmdbId", field({ tmdbId = "99999999999", mediaType = "movie" }))
    assert.equal("mediaType", field({ tmdbId = 1, mediaType = "person" }))
    assert.equal("seasons", field({ tmdbId = 1, mediaType = "movie", seasons = { 1 } }))
    assert.equal("seasons", field({ tmdbId = 1, mediaType = "tv", seasons = {} }))
    assert.equal("seasons", field({ tmdbId = 1, mediaType = "tv", seasons = { "1" } }))
    assert.equal("body", field({ 1, 2 }))
  end)
end)
