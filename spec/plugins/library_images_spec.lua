-- spec/plugins/library_images_spec.lua — the Plex image proxy: allowed and
-- refused paths, width rounding through Plex's transcoder, ETag and 304,
-- the disk cache across a restart, a placeholder when Plex fails, each
-- user's rights (no Home Videos posters for the friend), and no Plex token
-- in any header or body of a whole browsing session.
local h = require "spec.helpers"
local hl = require "spec.helpers_library"
local fetch = require "nest.fetch"
local db = require "nest.db"
local avatars = require "plugins.library.avatars"

local function image_url(path, w)
  return "/api/v1/images/plex?path=" .. fetch.encode_uri_component(path) .. (w and "&w=" .. w or "")
end

describe("library image proxy", function()
  local env, owner, friend, data_dir

  setup(function()
    data_dir = h.tmpname("-data")
    env = hl.start({ config = { data_dir = data_dir } })
    owner = hl.recorder(hl.sign_in(env, "owner"))
    friend = hl.recorder(hl.sign_in(env, "friend"))
  end)
  teardown(function()
    env:stop()
    os.execute("rm -rf '" .. data_dir .. "'")
  end)

  local function first(c, key, query)
    return hl.body(c:get("/api/v1/plex/libraries/" .. key .. "/items?size=1" .. (query or ""))).items[1]
  end

  it("serves a poster listed to the user, resized by Plex to the next allowed width", function()
    local movie = first(friend, "1")
    local before = hl.pms(env).transcodes
    local r = friend:get(movie.poster)
    assert.are.equal(200, r.status)
    assert.are.equal("image/png", r.headers["content-type"])
    assert.are.same({ 300, 450 }, { hl.png_size(r.body) })
    assert.are.equal(before + 1, hl.pms(env).transcodes)
    local path = movie.poster:match("path=([^&]+)"):gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)
    for w, want in pairs({ [1] = 150, [151] = 300, [301] = 600, [600] = 600, [4000] = 1200 }) do
      local img = friend:get(image_url(path, w))
      assert.are.equal(200, img.status)
      assert.are.equal(want, (hl.png_size(img.body)), "w=" .. w)
    end
  end)

  it("answers with a strong ETag, a year's immutable max-age, and 304 to If-None-Match", function()
    local movie = first(friend, "1", "&start=7")
    local r = friend:get(movie.poster)
    local etag = r.headers.etag
    assert.truthy(etag:match('^"%x+"$'))
    assert.are.equal("private, max-age=31536000, immutable", r.headers["cache-control"])
    local before = hl.pms(env).requests
    local again = friend:get(movie.poster, { headers = { ["If-None-Match"] = etag } })
    assert.are.equal(304, again.status)
    assert.are.equal("", again.body)
    assert.are.equal(etag, again.headers.etag)
    assert.are.equal(200, friend:get(movie.poster, { headers = { ["If-None-Match"] = '"other"' } }).status)
    assert.are.equal(before, hl.pms(env).requests)   -- from memory, no Plex call
  end)

  it("refuses anything but a Plex metadata image path with 400", function()
    for _, p in ipairs({ "/etc/passwd", "http://169.254.169.254/latest", "//evil.example/x.png",
        "/library/sections/1/all", "/library/metadata/100001/thumb/1?X-Plex-Token=x",
        "/library/metadata/100001/../../../identity", "/library/metadata/100001/file/1",
        "/photo/:/transcode?url=/library/metadata/1/thumb/1", "" }) do
      local r = friend:get(image_url(p, 300))
      assert.are.equal(400, r.status, p)
    end
    assert.are.equal(400, friend:get("/api/v1/images/plex?w=300").status)
    assert.are.equal(400, friend:get(image_url("/library/metadata/100001/thumb/1", "wide")).status)
  end)

  it("shows the friend no Home Videos poster, even one the owner has loaded", function()
    local home = first(owner, "4")
    assert.are.equal(200, owner:get(home.poster).status)
    local r = friend:get(home.poster)
    assert.are.equal(404, r.status)
    -- a path never listed to the friend, of an item they may see, is checked with Plex and served
    local movie = "/library/metadata/100123/thumb/1"
    assert.are.equal(200, friend:get(image_url(movie, 150)).status)
  end)

  it("keeps posters on disk: after a restart they are served without asking Plex", function()
    local movie = first(friend, "1", "&start=21")
    assert.are.equal(200, friend:get(movie.poster).status)
    env:restart()
    friend = hl.recorder(hl.sign_in(env, "friend"))
    owner = hl.recorder(hl.sign_in(env, "owner"))
    local item = first(friend, "1", "&start=21")        -- listed again: the user may see it
    local before = hl.pms(env).transcodes
    local r = friend:get(item.poster)
    assert.are.equal(200, r.status)
    assert.are.same({ 300, 450 }, { hl.png_size(r.body) })
    assert.are.equal(before, hl.pms(env).transcodes)
  end)

  it("gives a neutral placeholder, not a broken image, when Plex fails", function()
    local movie = first(friend, "1", "&start=33")
    hl.control(env, { fail_next = 1, failure_status = 500 })
    local r = friend:get(movie.poster)
    hl.control(env, { reset = true })
    assert.are.equal(200, r.status)
    assert.are.equal("image/svg+xml", r.headers["content-type"])
    assert.are.equal("no-store", r.headers["cache-control"])
    assert.is_nil(r.headers.etag)
    assert.are.equal("image/png", friend:get(movie.poster).headers["content-type"])
  end)

  it("never lets a Plex token reach the browser in a whole browsing session", function()
    for _, c in ipairs({ owner, friend }) do
      c:get("/api/v1/plex/libraries")
      local recent = hl.body(c:get("/api/v1/plex/recently-added")).items
      local item = hl.body(c:get("/api/v1/plex/items/" .. recent[1].ratingKey)).item
      c:get(item.poster)
      c:get(item.art)
      c:get("/api/v1/plex/search?q=storm")
      c:get("/api/v1/plex/libraries/1/collections")
      c:get("/api/v1/plex/collections/500001")
      c:get("/api/v1/plex/items/200001/children")
    end
    local scanned = 0
    for _, c in ipairs({ owner, friend }) do
      for _, s in ipairs(c.seen) do
        scanned = scanned + 1
        for _, token in ipairs(hl.TOKENS) do
          assert.is_nil(s.res.body:find(token, 1, true), s.path)
          for _, kv in ipairs(s.res.raw_headers) do assert.is_nil(kv[2]:find(token, 1, true), s.path) end
        end
        assert.is_nil(s.res.body:find("X-Plex-Token", 1, true), s.path)
      end
    end
    assert.is_true(scanned > 20)
  end)
  describe("avatars", function()
    it("serves a user's plex.tv avatar from our origin, with an ETag and 304", function()
      local r = owner:get("/api/v1/images/avatar/" .. ("%d"):format(friend.user.id))
      assert.are.equal(200, r.status)
      assert.are.equal("image/png", r.headers["content-type"])
      assert.are.equal("private, max-age=86400", r.headers["cache-control"])
      assert.truthy(hl.png_size(r.body))
      local again = owner:get("/api/v1/images/avatar/" .. ("%d"):format(friend.user.id),
        { headers = { ["If-None-Match"] = r.headers.etag } })
      assert.are.equal(304, again.status)
      assert.are.equal(401, env.app:client():get("/api/v1/images/avatar/" .. ("%d"):format(friend.user.id)).status)
      assert.are.equal(404, owner:get("/api/v1/images/avatar/999999").status)
    end)

    -- (the configured plex.tv origin, here the demo's, is proved by the first avatar spec)
    it("fetches avatars only from https plex.tv and its subdomains and Gravatar", function()
      for url, ok in pairs({
        ["https://plex.tv/users/abc/avatar?c=1"] = true, ["https://assets.plex.tv/a.png"] = true,
        ["https://secure.gravatar.com/avatar/x"] = true,
        ["http://plex.tv/users/abc/avatar"] = false, ["https://plex.tv.evil.example/a.png"] = false,
        ["https://evilplex.tv/a.png"] = false, ["https://user@plex.tv/a.png"] = false,
        ["http://169.254.169.254/latest/meta-data"] = false, ["file:///etc/passwd"] = false,
        [env.up:url("/demo/plextv/users/u/avatar")] = false,     -- not this process' plex.tv
      }) do
        assert.are.equal(ok, avatars.allowed(url), url)
      end
    end)

    it("gives the placeholder for an avatar on a host that is not allowed, and fetches nothing", function()
      local name = "lib-avatar-" .. os.time()
      local id = db.query("INSERT INTO users (username, thumb) VALUES ($1, $2) RETURNING id", name,
        "http://127.0.0.1:9/evil.png")[1].id
      local r = owner:get("/api/v1/images/avatar/" .. ("%d"):format(id))
      db.query("DELETE FROM users WHERE id = $1", id)
      assert.are.equal(200, r.status)
      assert.are.equal("image/svg+xml", r.headers["content-type"])
      assert.are.equal("no-store", r.headers["cache-control"])
    end)
  end)
end)

describe("library image disk cache", function()
  local env, friend, data_dir

  setup(function()
    data_dir = h.tmpname("-data")
    env = hl.start({ config = { data_dir = data_dir }, library = { image_cache_files = 4, image_cache_bytes = 1024 * 1024 } })
    friend = hl.sign_in(env, "friend")
  end)
  teardown(function()
    env:stop()
    os.execute("rm -rf '" .. data_dir .. "'")
  end)

  local function files_on_disk()
    local p = io.popen("find '" .. data_dir .. "/images/plex' -type f 2>/dev/null | wc -l")
    local n = tonumber(p:read("a"))
    p:close()
    return n
  end

  it("stays within its bound in files, evicting the least recently used", function()
    local items = hl.body(friend:get("/api/v1/plex/libraries/1/items?size=60")).items
    for i = 1, 8 do assert.are.equal(200, friend:get(items[i].poster).status) end
    h.wait_until(function() return files_on_disk() <= 4 end, 5, 0.05, "the disk cache to be evicted")
    assert.is_true(files_on_disk() >= 1)
    -- evicted posters are fetched again, not broken
    local r = friend:get(items[1].poster)
    assert.are.equal(200, r.status)
    assert.are.equal("image/png", r.headers["content-type"])
  end)
end)
