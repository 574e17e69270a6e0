-- spec/plugins/library_spec.lua — the library API against the demo Plex:
-- who may call what, libraries, paging, sort and type filter, collections,
-- item details and children, search grouping and its rate limit, recently
-- added, and each user's rights (the friend never sees Home Videos, which
-- the owner does not share with them), plus caching (no Plex call within
-- the TTL). Resilience and images: library_resilience_spec.lua,
-- library_images_spec.lua.
local h = require "spec.helpers"
local hl = require "spec.helpers_library"
local db = require "nest.db"
local invalidate = require "nest.invalidate"
local redis = require "nest.redis"

local HOME = "4"      -- the demo's section not shared with the friend

describe("library API", function()
  local env, owner, friend, anon

  setup(function()
    env = hl.start()
    owner = hl.sign_in(env, "owner")
    friend = hl.sign_in(env, "friend")
    anon = env.app:client()
  end)
  teardown(function() env:stop() end)

  local function get(c, path)
    local r = c:get("/api/v1" .. path)
    r.data = r.status == 200 and hl.body(r) or nil
    return r
  end

  local function titles(list)
    local out = {}
    for i, it in ipairs(list) do out[i] = it.title end
    return out
  end

  local function first_of(c, key, query)
    return get(c, "/plex/libraries/" .. key .. "/items?size=1" .. (query or "")).data.items[1]
  end

  it("answers 401 to anonymous callers on every route", function()
    for _, path in ipairs({ "/plex/libraries", "/plex/libraries/1/items", "/plex/libraries/1/collections",
        "/plex/collections/500001", "/plex/items/100001", "/plex/items/200001/children", "/plex/search?q=a",
        "/plex/recently-added", "/images/plex?path=%2Flibrary%2Fmetadata%2F100001%2Fthumb%2F1&w=300" }) do
      assert.are.equal(401, anon:get("/api/v1" .. path).status, path)
    end
  end)

  it("lists the libraries each user can see, with their item counts", function()
    local mine = get(owner, "/plex/libraries").data.libraries
    local keys = {}
    for _, l in ipairs(mine) do keys[#keys + 1] = l.key end
    assert.are.same({ "1", "2", "3", HOME }, keys)
    assert.are.same({ key = "1", title = "Movies", type = "movie", count = 5000 }, mine[1])
    assert.are.equal("Home Videos", mine[4].title)
    local theirs = get(friend, "/plex/libraries").data.libraries
    assert.are.equal(3, #theirs)
    for _, l in ipairs(theirs) do assert.are_not.equal(HOME, l.key) end
  end)

  it("pages a library with start and size, and caps the size at 200", function()
    local p1 = get(owner, "/plex/libraries/1/items?start=0&size=60").data
    assert.are.equal(60, #p1.items)
    assert.are.same({ 0, 60, 5000 }, { p1.start, p1.size, p1.total })
    local p2 = get(owner, "/plex/libraries/1/items?start=59&size=2").data
    assert.are.equal(p1.items[60].ratingKey, p2.items[1].ratingKey)
    local last = get(owner, "/plex/libraries/1/items?start=4990&size=200").data
    assert.are.equal(10, #last.items)
    assert.are.equal(200, #get(owner, "/plex/libraries/1/items?size=200").data.items)
    local big = owner:get("/api/v1/plex/libraries/1/items?size=201")
    assert.are.equal(400, big.status)
    assert.are.equal(400, owner:get("/api/v1/plex/libraries/1/items?start=-1").status)
  end)

  it("pages by X-Plex-Container-Start/-Size headers too, as Plex does", function()
    local r = owner:get("/api/v1/plex/libraries/1/items", { headers = {
      ["X-Plex-Container-Start"] = "59", ["X-Plex-Container-Size"] = "2" } })
    assert.are.equal(200, r.status)
    local by_header = hl.body(r)
    local by_query = get(owner, "/plex/libraries/1/items?start=59&size=2").data
    assert.are.same({ 59, 2 }, { by_header.start, by_header.size })
    assert.are.same(by_query.items, by_header.items)
    assert.are.equal(400, owner:get("/api/v1/plex/libraries/1/items",
      { headers = { ["X-Plex-Container-Size"] = "500" } }).status)
    assert.are.equal(400, owner:get("/api/v1/plex/libraries/1/items",
      { headers = { ["X-Plex-Container-Start"] = "-3" } }).status)
  end)

  it("gives a grid what it needs and nothing that holds a token", function()
    local it1 = get(owner, "/plex/libraries/1/items?size=1").data.items[1]
    assert.truthy(it1.ratingKey:match("^%d+$"))
    assert.are.equal("movie", it1.type)
    assert.truthy(it1.title ~= "" and it1.year and it1.addedAt)
    assert.truthy(it1.poster:match("^/api/v1/images/plex%?path=%%2Flibrary%%2Fmetadata%%2F%d+%%2Fthumb%%2F%d+&w=300$"))
    local show = get(owner, "/plex/libraries/2/items?size=1").data.items[1]
    assert.are.equal("show", show.type)
    assert.is_true(show.childCount >= 1 and show.leafCount >= 6)
  end)

  it("sorts by title, added date, year and rating, both ways", function()
    local by_title = titles(get(owner, "/plex/libraries/1/items?size=30&sort=title").data.items)
    local function key(t) return (t:gsub("^The ", ""):gsub("^An? ", ""):lower()) end
    for i = 2, #by_title do assert.is_true(key(by_title[i - 1]) <= key(by_title[i])) end
    local function sorted(sort, field, dir)
      local items = get(owner, "/plex/libraries/1/items?size=40&sort=" .. sort .. (dir and "&dir=" .. dir or "")).data.items
      for i = 2, #items do
        if dir == "asc" then assert.is_true(items[i - 1][field] <= items[i][field], sort)
        else assert.is_true(items[i - 1][field] >= items[i][field], sort) end
      end
    end
    sorted("added", "addedAt")
    sorted("year", "year")
    sorted("rating", "rating")
    sorted("year", "year", "asc")
    local bad = owner:get("/api/v1/plex/libraries/1/items?sort=colour")
    assert.are.equal(400, bad.status)
    assert.are.equal("VALIDATION_ERROR", hl.body(bad).error.code)
  end)

  it("filters a library by type", function()
    local eps = get(owner, "/plex/libraries/2/items?type=episode&size=5").data
    assert.is_true(eps.total > 1000)
    for _, e in ipairs(eps.items) do
      assert.are.equal("episode", e.type)
      assert.truthy(e.grandparentTitle and e.index and e.parentIndex)
      -- an episode's card shows its show's 2:3 poster, not its 16:9 still
      assert.truthy(e.poster:find("%2Flibrary%2Fmetadata%2F" .. e.grandparentRatingKey .. "%2Fthumb", 1, true))
    end
    assert.are.equal("season", first_of(owner, "2", "&type=season").type)
    assert.are.equal(0, get(owner, "/plex/libraries/2/items?type=movie").data.total)
    assert.are.equal(400, owner:get("/api/v1/plex/libraries/2/items?type=track").status)
  end)

  it("lists a section's collections and pages a collection's items", function()
    local cols = get(owner, "/plex/libraries/1/collections").data.collections
    assert.are.equal(1, #cols)
    assert.are.equal("Staff Picks", cols[1].title)
    assert.are.equal(12, cols[1].childCount)
    local col = get(friend, "/plex/collections/" .. cols[1].ratingKey .. "?size=5").data
    assert.are.equal("Staff Picks", col.collection.title)
    assert.are.same({ 0, 5, 12 }, { col.start, col.size, col.total })
    local rest = get(friend, "/plex/collections/" .. cols[1].ratingKey .. "?start=10&size=5").data
    assert.are.equal(2, #rest.items)
    assert.are.equal(404, friend:get("/api/v1/plex/collections/100001").status)   -- a movie, not a collection
    assert.are.equal(404, friend:get("/api/v1/plex/collections/599999").status)
  end)

  it("shows an item's details with an Open in Plex link, a show's seasons and a season's episodes", function()
    local m = get(friend, "/plex/items/" .. first_of(friend, "1").ratingKey).data.item
    assert.truthy(m.summary ~= "" and #m.genres >= 1 and m.duration > 0 and m.rating)
    assert.truthy(m.art:match("^/api/v1/images/plex%?path=.*art.*&w=1200$"))
    assert.are.equal("https://app.plex.tv/desktop/#!/server/demo-pms-machine-0001/details?key=%2Flibrary%2Fmetadata%2F"
      .. m.ratingKey, m.plexUrl)
    local show = get(friend, "/plex/items/" .. first_of(friend, "2").ratingKey).data.item
    assert.are.equal(show.childCount, #show.children)
    assert.are.equal("season", show.children[1].type)
    local eps = get(friend, "/plex/items/" .. show.children[1].ratingKey .. "/children").data
    assert.is_true(eps.total >= 6)
    assert.are.equal("episode", eps.items[1].type)
    assert.are.equal(1, eps.items[1].index)
    assert.are.equal(404, friend:get("/api/v1/plex/items/999999999999").status)
    assert.are.equal(404, friend:get("/api/v1/plex/items/abc").status)
  end)

  it("searches across the user's libraries, grouped by type, under the search rate limit", function()
    local word = first_of(owner, "2").title:match("(%a%a%a%a+)")
    local r = friend:get("/api/v1/plex/search?q=" .. word)
    assert.are.equal(200, r.status)
    assert.are.equal(tostring(hl.SEARCH_LIMIT), r.headers["x-ratelimit-limit"])
    local groups = hl.body(r).groups
    assert.is_true(#groups >= 1)
    local types = {}
    for _, g in ipairs(groups) do
      assert.is_nil(types[g.type])
      types[g.type] = true
      for _, it in ipairs(g.items) do
        assert.are.equal(g.type, it.type)
        local hay = (it.title .. " " .. (it.grandparentTitle or "")):lower()
        assert.truthy(hay:find(word:lower(), 1, true), it.title)
      end
    end
    assert.is_true(types.show)
    assert.are.equal(400, friend:get("/api/v1/plex/search").status)
    assert.are.equal(400, friend:get("/api/v1/plex/search?q=%20%20").status)
    assert.are.equal(400, friend:get("/api/v1/plex/search?q=" .. ("x"):rep(101)).status)
  end)

  it("lists recently added items, newest first", function()
    local items = get(friend, "/plex/recently-added").data.items
    assert.is_true(#items >= 10)
    for i = 2, #items do assert.is_true(items[i - 1].addedAt >= items[i].addedAt) end
  end)

  describe("each user's rights", function()
    it("shows the owner Home Videos everywhere", function()
      local home = first_of(owner, HOME)
      assert.are.equal(4, home.librarySectionID)
      assert.are.equal(200, owner:get("/api/v1/plex/items/" .. home.ratingKey).status)
      assert.are.equal(4, get(owner, "/plex/recently-added").data.items[1].librarySectionID)
      local found = false
      for _, g in ipairs(get(owner, "/plex/search?q=" .. home.title:match("^(%a+)")).data.groups) do
        for _, it in ipairs(g.items) do found = found or it.librarySectionID == 4 end
      end
      assert.is_true(found)
    end)

    it("never shows the friend Home Videos: listings, collections, items, search, recently added", function()
      local home = first_of(owner, HOME)
      for _, path in ipairs({ "/plex/libraries/4/items", "/plex/libraries/4/collections",
          "/plex/items/" .. home.ratingKey, "/plex/items/" .. home.ratingKey .. "/children" }) do
        local r = friend:get("/api/v1" .. path)
        assert.are.equal(404, r.status, path)
        assert.are.equal("NOT_FOUND", hl.body(r).error.code)
      end
      for _, it in ipairs(get(friend, "/plex/recently-added").data.items) do
        assert.are_not.equal(4, it.librarySectionID)
      end
      for _, g in ipairs(get(friend, "/plex/search?q=" .. home.title:match("^(%a+)")).data.groups) do
        for _, it in ipairs(g.items) do assert.are_not.equal(4, it.librarySectionID) end
      end
    end)

    it("keeps the owner's cached answers from the friend (another user's cache never answers)", function()
      local home = first_of(owner, HOME)
      assert.are.equal(200, owner:get("/api/v1/plex/items/" .. home.ratingKey).status)   -- now cached for the owner
      assert.are.equal(404, friend:get("/api/v1/plex/items/" .. home.ratingKey).status)
      assert.are.equal(200, owner:get("/api/v1/plex/libraries/4/items?size=3").status)
      assert.are.equal(404, friend:get("/api/v1/plex/libraries/4/items?size=3").status)
    end)

    it("asks Plex with the user's own server token, never the owner's", function()
      local row = db.query("SELECT server_token_enc IS NOT NULL AS has FROM users WHERE id = $1", friend.user.id)[1]
      assert.is_true(row.has)
      -- the demo PMS gives the owner's token section 4: an answer without it proves the friend's token was used
      local libs = get(friend, "/plex/libraries").data.libraries
      assert.are.equal(3, #libs)
    end)
  end)

  describe("caching", function()
    it("answers a listing again within its TTL without calling Plex", function()
      local path = "/api/v1/plex/libraries/1/items?start=120&size=30&sort=year"
      local first = hl.plex_calls(env, function() assert.are.equal(200, friend:get(path).status) end)
      assert.is_true(first >= 1)
      local again = hl.plex_calls(env, function()
        for _ = 1, 3 do assert.are.equal(200, friend:get(path).status) end
        assert.are.equal(200, friend:get("/api/v1/plex/libraries").status)
        assert.are.equal(200, friend:get("/api/v1/plex/recently-added").status)
      end)
      assert.are.equal(0, again)
    end)

    it("caches only aligned pages: any other start and size is cut from the 200-item pages", function()
      if not redis.configured() then pending("looks at the keys in Redis") return end
      local function stored(k) return redis.call("EXISTS", require("nest.cache").PREFIX .. k) == 1 end
      local uid = ("%d"):format(friend.user.id)
      local odd = get(friend, "/plex/libraries/1/items?sort=rating&start=190&size=17").data
      assert.are.same({ 190, 17, 5000 }, { odd.start, odd.size, odd.total })
      local whole = get(friend, "/plex/libraries/1/items?sort=rating&start=200&size=200").data
      assert.are.equal(whole.items[7].ratingKey, odd.items[17].ratingKey)
      local prefix = "plex:section:1:u" .. uid .. ":items:rating:desc::"
      assert.is_false(stored(prefix .. "190:17"))
      assert.is_true(stored(prefix .. "0:200"))
      assert.is_true(stored(prefix .. "200:200"))
      assert.are.equal(0, hl.plex_calls(env, function()
        get(friend, "/plex/libraries/1/items?sort=rating&start=3&size=150")
      end))
    end)

    it("answers a search again within its TTL without calling Plex", function()
      local path = "/api/v1/plex/search?q=harbor"
      assert.are.equal(200, friend:get(path).status)
      assert.are.equal(0, hl.plex_calls(env, function() assert.are.equal(200, friend:get(path).status) end))
      -- another user's first search is theirs: it calls Plex
      assert.is_true(hl.plex_calls(env, function() assert.are.equal(200, owner:get(path).status) end) >= 1)
    end)

    -- what a finished YouTube download emits (the youtube plugin, on another
    -- instance here: this spec process), through Redis pub/sub
    it("drops a section's pages on every instance when MediaNest changes that library", function()
      if not redis.configured() then pending("needs Redis: invalidation crosses instances over pub/sub") return end
      invalidate.register("library", require("plugins.library").invalidations)
      local path = "/api/v1/plex/libraries/3/items?size=5"
      local other = "/api/v1/plex/libraries/2/items?size=5"
      assert.are.equal(200, friend:get(path).status)
      assert.are.equal(200, friend:get(other).status)
      assert.are.equal(0, hl.plex_calls(env, function() friend:get(path) friend:get(other) end))
      invalidate.emit("plex_section_changed", { sectionKey = "3" })
      h.wait_until(function()
        return hl.plex_calls(env, function() friend:get(path) end) > 0
      end, 5, 0.05, "section 3's page to be asked of Plex again")
      assert.are.equal(0, hl.plex_calls(env, function() friend:get(other) end))   -- another section stays cached
    end)
  end)
end)
