-- spec/plugins/demo_upstreams_plex_spec.lua — the plex.tv and Plex Media
-- Server fakes reproduce the quirks of shared/reference/external-apis.md:
-- PIN flow (400 without a client id, 404 unknown/expired/other client,
-- token after approval), user and resources per demo user, XML unless
-- Accept JSON, paging by header or query with totalSize, percent-encoded
-- collection uris, refresh by GET and POST, real PNG posters, and the
-- latency / failure controls.
local h = require "spec.helpers"
local napp = require "nest.core.app"
local cjson = require "cjson"
local json = require "nest.json"   -- keeps integers integers (the helpers' cjson gives floats)

local OWNER, FRIEND_SERVER, STRANGER = "demo-token-owner", "demo-server-token-friend", "demo-token-stranger"
local MACHINE = "demo-pms-machine-0001"
local JSON = { Accept = "application/json" }

local function hdrs(t)
  local out = { Accept = "application/json" }
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function uri_for(ids)
  return enc("server://" .. MACHINE .. "/com.plexapp.plugins.library/library/metadata/" .. table.concat(ids, ","))
end

local app
local function the_app()
  if not app then
    app = h.start({ plugins = { "health", "demo-upstreams" }, config = { plugins = { settings = {
      ["demo-upstreams"] = { scan_seconds = 0.05 } } } } })
  end
  return app
end

local function pms(path, token, extra)
  local headers = hdrs(extra)
  headers["X-Plex-Token"] = token or OWNER
  return the_app():get("/demo/plex" .. path, { headers = headers })
end

local function control(prefix, body)
  local res = the_app():post(prefix .. "/_control", body)
  assert.are.equal(200, res.status, res.body)
  return res.json
end

local function new_pin(cid, strong)
  local res = the_app():post("/demo/plextv/api/v2/pins" .. (strong == false and "" or "?strong=true"), nil,
    { headers = hdrs({ ["X-Plex-Client-Identifier"] = cid or "spec-client", ["X-Plex-Product"] = "MediaNest" }) })
  assert.are.equal(201, res.status, res.body)
  return json.decode(res.body)
end

teardown(function() if app then app:stop() app = nil end end)

describe("demo plex.tv", function()
  it("answers 400 to a PIN request without X-Plex-Client-Identifier", function()
    local res = the_app():post("/demo/plextv/api/v2/pins?strong=true", nil, { headers = JSON })
    assert.are.equal(400, res.status)
    assert.are.equal(1000, res.json.errors[1].code)
    assert.are.equal("X-Plex-Client-Identifier is missing", res.json.errors[1].message)
  end)

  it("creates strong PINs shaped like the reference, and short ones without strong", function()
    local pin = new_pin("spec-shape")
    assert.are.equal("integer", math.type(pin.id))
    assert.are.equal(25, #pin.code)
    assert.are.equal(1800, pin.expiresIn)
    assert.are.equal(cjson.null, pin.authToken)
    assert.are.equal("spec-shape", pin.clientIdentifier)
    assert.are.equal("MediaNest", pin.product)
    assert.is_false(pin.trusted)
    assert.truthy(pin.expiresAt:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
    assert.are.equal(4, #new_pin("spec-shape", false).code)
  end)

  it("answers XML without Accept: application/json", function()
    local res = the_app():post("/demo/plextv/api/v2/pins?strong=true", nil,
      { headers = { ["X-Plex-Client-Identifier"] = "spec-xml" } })
    assert.are.equal(201, res.status)
    assert.truthy(res.headers["content-type"]:find("xml", 1, true))
    assert.truthy(res.body:find("<pin ", 1, true))
    assert.truthy(res.body:find('clientIdentifier="spec-xml"', 1, true))
  end)

  it("shows the token once approved, only to the client that made the PIN", function()
    local pin = new_pin("spec-poll")
    local path = "/demo/plextv/api/v2/pins/" .. pin.id
    local mine = { headers = hdrs({ ["X-Plex-Client-Identifier"] = "spec-poll" }) }
    local res = the_app():get(path, mine)
    assert.are.equal(200, res.status)
    assert.are.equal(cjson.null, res.json.authToken)
    assert.are.equal(400, the_app():get(path, { headers = JSON }).status)
    assert.are.equal(404, the_app():get(path, { headers = hdrs({ ["X-Plex-Client-Identifier"] = "other" }) }).status)
    res = the_app():post(path .. "/approve", { user = "owner" })
    assert.are.equal(204, res.status)
    res = the_app():get(path, mine)
    assert.are.equal("demo-token-owner", res.json.authToken)
  end)

  it("answers 404 to unknown and expired PINs", function()
    local res = the_app():get("/demo/plextv/api/v2/pins/12345", { headers = hdrs({ ["X-Plex-Client-Identifier"] = "x" }) })
    assert.are.equal(404, res.status)
    assert.are.equal(404, res.json.errors[1].status)
    local pin = new_pin("spec-expire")
    control("/demo/plextv", { expire_pins = true })
    res = the_app():get("/demo/plextv/api/v2/pins/" .. pin.id,
      { headers = hdrs({ ["X-Plex-Client-Identifier"] = "spec-expire" }) })
    assert.are.equal(404, res.status)
    assert.are.equal(404, the_app():post("/demo/plextv/api/v2/pins/" .. pin.id .. "/approve", { user = "owner" }).status)
    -- a shorter lifetime shows in new PINs
    control("/demo/plextv", { pin_ttl = 5 })
    assert.are.equal(5, new_pin("spec-expire").expiresIn)
    control("/demo/plextv", { reset = true })
    assert.are.equal(1800, new_pin("spec-expire").expiresIn)
  end)

  it("serves an approve page without inline script or style, which approves by code", function()
    local res = the_app():get("/demo/plextv/auth")
    assert.are.equal(200, res.status)
    assert.truthy(res.headers["content-type"]:find("text/html", 1, true))
    assert.truthy(res.body:find('<script src="/demo/plextv/auth.js"', 1, true))
    assert.truthy(res.body:find('value="owner" checked', 1, true))
    assert.truthy(res.body:find("Allow", 1, true))
    assert.falsy(res.body:find("<script>", 1, true))
    assert.falsy(res.body:find("style=", 1, true))
    assert.falsy(res.body:find(" on%a+="))
    local js = the_app():get("/demo/plextv/auth.js")
    assert.are.equal(200, js.status)
    assert.truthy(js.headers["content-type"]:find("javascript", 1, true))
    assert.truthy(js.body:find("context[device][product]", 1, true))
    assert.truthy(js.body:find("window.close", 1, true))
    assert.truthy(the_app():get("/demo/plextv/auth.css").headers["content-type"]:find("text/css", 1, true))

    local pin = new_pin("spec-page")
    res = the_app():get("/demo/plextv/auth/pin?code=" .. pin.code)
    assert.are.equal("MediaNest", res.json.product)
    res = the_app():post("/demo/plextv/auth/approve", { code = pin.code, clientID = "someone-else", user = "friend" })
    assert.are.equal(404, res.status)
    res = the_app():post("/demo/plextv/auth/approve", { code = pin.code, clientID = "spec-page", user = "friend" })
    assert.are.equal(204, res.status)
    res = the_app():get("/demo/plextv/api/v2/pins/" .. pin.id, { headers = hdrs({ ["X-Plex-Client-Identifier"] = "spec-page" }) })
    assert.are.equal("demo-token-friend", res.json.authToken)
  end)

  it("answers /api/v2/user for a good token (header or query) and 401 for a bad one", function()
    local res = the_app():get("/demo/plextv/api/v2/user", { headers = hdrs({ ["X-Plex-Token"] = "nope" }) })
    assert.are.equal(401, res.status)
    assert.are.equal(1001, res.json.errors[1].code)
    assert.are.equal("User could not be authenticated", res.json.errors[1].message)
    res = the_app():get("/demo/plextv/api/v2/user", { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    assert.are.equal(200, res.status)
    assert.are.equal("owner", res.json.username)
    assert.are.equal("integer", math.type(json.decode(res.body).id))
    assert.are.equal(OWNER, res.json.authToken)
    assert.truthy(res.json.uuid and res.json.email and res.json.thumb)
    res = the_app():get("/demo/plextv/api/v2/user?X-Plex-Token=" .. STRANGER, { headers = JSON })
    assert.are.equal("stranger", res.json.username)
    res = the_app():get("/demo/plextv/api/v2/user", { headers = { ["X-Plex-Token"] = OWNER } })
    assert.truthy(res.body:find("<user ", 1, true))
    -- the avatar is a real picture
    local thumb = the_app():get(res.body:match('thumb="http://[^/]+([^"]+)"'))
    assert.are.equal("\137PNG\r\n\26\n", thumb.body:sub(1, 8))
  end)

  it("lists resources per user: owned server, shared server with its own token, nothing", function()
    local function servers(token)
      local res = the_app():get("/demo/plextv/api/v2/resources?includeHttps=1&includeRelay=1",
        { headers = hdrs({ ["X-Plex-Token"] = token }) })
      assert.are.equal(200, res.status)
      local out = {}
      for _, d in ipairs(res.json) do
        if d.provides:find("server", 1, true) then out[#out + 1] = d end
      end
      return out, res.json
    end
    local own, all = servers(OWNER)
    assert.are.equal(1, #own)
    assert.is_true(#all > 1)                      -- a player too
    assert.are.equal(MACHINE, own[1].clientIdentifier)
    assert.is_true(own[1].owned)
    assert.are.equal(OWNER, own[1].accessToken)
    assert.truthy(own[1].connections[1].uri:find("/demo/plex$"))
    assert.are.equal("127.0.0.1", own[1].connections[1].address)
    assert.are.equal(the_app().port, own[1].connections[1].port)
    assert.is_false(own[1].connections[1].IPv6)
    local shared = servers("demo-token-friend")
    assert.are.equal(1, #shared)
    assert.is_false(shared[1].owned)
    assert.are.equal(FRIEND_SERVER, shared[1].accessToken)
    assert.are.equal(MACHINE, shared[1].clientIdentifier)
    local _, none = servers(STRANGER)
    assert.are.equal(0, #none)
    assert.are.equal("[]", the_app():get("/demo/plextv/api/v2/resources",
      { headers = hdrs({ ["X-Plex-Token"] = STRANGER }) }).body)
    assert.are.equal(401, the_app():get("/demo/plextv/api/v2/resources",
      { headers = hdrs({ ["X-Plex-Token"] = "bad" }) }).status)
    local xml = the_app():get("/demo/plextv/api/v2/resources", { headers = { ["X-Plex-Token"] = OWNER } })
    assert.truthy(xml.body:find("<resources size=\"2\">", 1, true))
    assert.truthy(xml.body:find("<connections size=\"1\"><connection ", 1, true))
  end)
end)

describe("demo Plex Media Server", function()
  it("answers /identity without a token and 401 elsewhere without a good one", function()
    local res = the_app():get("/demo/plex/identity", { headers = JSON })
    assert.are.equal(200, res.status)
    assert.are.equal(MACHINE, res.json.MediaContainer.machineIdentifier)
    assert.is_true(res.json.MediaContainer.claimed)
    assert.are.equal(401, the_app():get("/demo/plex/library/sections", { headers = JSON }).status)
    assert.are.equal(401, pms("/library/sections", "demo-token-friend").status)   -- plex.tv token, not the server's
    assert.are.equal(200, pms("/library/sections", FRIEND_SERVER).status)
    assert.are.equal(200, the_app():get("/demo/plex/library/sections?X-Plex-Token=" .. OWNER).status)
  end)

  it("hides the section not shared with the friend, as Plex does for a shared user", function()
    local function keys(token)
      local out = {}
      for _, d in ipairs(pms("/library/sections", token).json.MediaContainer.Directory) do out[#out + 1] = d.key end
      return table.concat(out, ",")
    end
    assert.are.equal("1,2,3,4", keys(OWNER))
    assert.are.equal("1,2,3", keys(FRIEND_SERVER))
    local home = pms("/library/sections/4/all?X-Plex-Container-Size=1").json.MediaContainer.Metadata[1]
    assert.are.equal(4, home.librarySectionID)
    for _, path in ipairs({ "/library/sections/4/all", "/library/sections/4/recentlyAdded",
        "/library/sections/4/collections", "/library/metadata/" .. home.ratingKey,
        home.thumb, "/photo/:/transcode?width=150&url=" .. enc(home.thumb) }) do
      assert.are.equal(401, pms(path, FRIEND_SERVER).status, path)
      assert.are.equal(200, pms(path, OWNER).status, path)
    end
    local word = home.title:match("^(%a+)")
    local function hub_sections(token)
      local seen = {}
      for _, hub in ipairs(pms("/hubs/search?query=" .. enc(word), token).json.MediaContainer.Hub) do
        for _, m in ipairs(hub.Metadata or {}) do seen[("%d"):format(m.librarySectionID)] = true end
      end
      return seen
    end
    assert.is_true(hub_sections(OWNER)["4"])
    assert.is_nil(hub_sections(FRIEND_SERVER)["4"])
    assert.are.equal(4, pms("/library/recentlyAdded?X-Plex-Container-Size=1", OWNER).json.MediaContainer.Metadata[1].librarySectionID)
    for _, m in ipairs(pms("/library/recentlyAdded", FRIEND_SERVER).json.MediaContainer.Metadata) do
      assert.are_not.equal(4, m.librarySectionID)
    end
  end)

  it("answers XML by default and JSON with Accept: application/json", function()
    local xml = the_app():get("/demo/plex/library/sections", { headers = { ["X-Plex-Token"] = OWNER } })
    assert.truthy(xml.headers["content-type"]:find("xml", 1, true))
    assert.truthy(xml.body:find('<MediaContainer ', 1, true))
    assert.truthy(xml.body:find('<Directory [^>]*type="movie"'))
    assert.truthy(xml.body:find('<Location id="1" path="/data/movies"/>', 1, true))
    local js = pms("/library/sections")
    local dirs = js.json.MediaContainer.Directory
    assert.are.equal(4, #dirs)
    local types = {}
    for _, d in ipairs(dirs) do types[d.key] = d.type assert.are.equal("string", type(d.key)) end
    assert.are.same({ ["1"] = "movie", ["2"] = "show", ["3"] = "movie", ["4"] = "movie" }, types)
    assert.are.equal("tv.plex.agents.none", dirs[3].agent)
    local item = pms("/library/sections/1/all?X-Plex-Container-Size=1", OWNER, { Accept = "" })
    assert.truthy(item.body:find("<Video ", 1, true))
  end)

  it("pages by headers or query parameters, with totalSize, and size 0 gives only the total", function()
    local by_header = pms("/library/sections/1/all", OWNER,
      { ["X-Plex-Container-Start"] = "40", ["X-Plex-Container-Size"] = "5" }).json.MediaContainer
    local by_query = pms("/library/sections/1/all?X-Plex-Container-Start=40&X-Plex-Container-Size=5").json.MediaContainer
    assert.are.equal(5, by_header.size)
    assert.are.equal(40, by_header.offset)
    assert.is_true(by_header.totalSize >= 5000)
    assert.are.equal(by_header.totalSize, by_query.totalSize)
    for i = 1, 5 do assert.are.equal(by_header.Metadata[i].ratingKey, by_query.Metadata[i].ratingKey) end
    local zero = pms("/library/sections/1/all?X-Plex-Container-Size=0").json.MediaContainer
    assert.are.equal(0, zero.size)
    assert.are.equal(by_header.totalSize, zero.totalSize)
    assert.is_nil(zero.Metadata)
    assert.are.equal(400, pms("/library/sections/1/all?X-Plex-Container-Start=x").status)
    assert.are.equal(404, pms("/library/sections/99/all").status)
  end)

  it("sorts and filters by type; items carry the reference's fields", function()
    local page = json.decode(pms("/library/sections/1/all?sort=titleSort&X-Plex-Container-Size=50").body).MediaContainer.Metadata
    for i = 2, #page do assert.is_true(page[i - 1].titleSort:lower() <= page[i].titleSort:lower()) end
    local m = page[1]
    assert.are.equal("string", type(m.ratingKey))
    assert.are.equal("/library/metadata/" .. m.ratingKey, m.key)
    assert.truthy(m.guid:match("^plex://movie/"))
    assert.truthy(m.thumb:match("^/library/metadata/%d+/thumb/%d+$"))
    assert.truthy(m.Guid[1].id and m.Genre[1].tag)
    assert.are.equal("integer", math.type(m.addedAt))
    local newest = pms("/library/sections/1/all?sort=addedAt:desc&X-Plex-Container-Size=3").json.MediaContainer.Metadata
    assert.is_true(newest[1].addedAt >= newest[2].addedAt and newest[2].addedAt >= newest[3].addedAt)
    local shows = pms("/library/sections/2/all?X-Plex-Container-Size=1").json.MediaContainer
    assert.are.equal(500, shows.totalSize)
    assert.are.equal("show", shows.Metadata[1].type)
    assert.is_true(shows.Metadata[1].leafCount >= shows.Metadata[1].childCount)
    local eps = pms("/library/sections/2/all?type=4&X-Plex-Container-Size=2").json.MediaContainer
    assert.is_true(eps.totalSize >= 500 * 6)
    assert.are.equal("episode", eps.Metadata[1].type)
    assert.are.equal(0, pms("/library/sections/2/all?type=1").json.MediaContainer.totalSize)
    local yt = pms("/library/sections/3/all?X-Plex-Container-Size=1").json.MediaContainer
    assert.is_true(yt.totalSize > 0)
  end)

  it("searches hubs (400 without a query) and lists recently added, newest first", function()
    assert.are.equal(400, pms("/hubs/search").status)
    local first = pms("/library/sections/1/all?X-Plex-Container-Size=1").json.MediaContainer.Metadata[1]
    local word = first.title:match("(%a%a%a%a+)%s*%a*$") or first.title
    local hubs = pms("/hubs/search?query=" .. enc(word) .. "&limit=5").json.MediaContainer.Hub
    local movies
    for _, hub in ipairs(hubs) do if hub.hubIdentifier == "movie" then movies = hub end end
    assert.is_true(movies.size >= 1 and movies.size <= 5)
    for _, m in ipairs(movies.Metadata) do assert.truthy(m.title:lower():find(word:lower(), 1, true)) end
    local recent = pms("/library/recentlyAdded?X-Plex-Container-Size=10").json.MediaContainer.Metadata
    assert.are.equal(10, #recent)
    for i = 2, #recent do assert.is_true(recent[i - 1].addedAt >= recent[i].addedAt) end
    local sec = pms("/library/sections/2/recentlyAdded?X-Plex-Container-Size=3").json.MediaContainer.Metadata
    assert.are.equal("episode", sec[1].type)
  end)

  it("answers metadata and children (show, season), 404 for unknown", function()
    local show = pms("/library/sections/2/all?X-Plex-Container-Size=1").json.MediaContainer.Metadata[1]
    local one = pms("/library/metadata/" .. show.ratingKey).json.MediaContainer.Metadata[1]
    assert.are.equal(show.title, one.title)
    local seasons = pms("/library/metadata/" .. show.ratingKey .. "/children").json.MediaContainer.Metadata
    assert.are.equal(show.childCount, #seasons)
    assert.are.equal("season", seasons[1].type)
    local eps = pms("/library/metadata/" .. seasons[1].ratingKey .. "/children").json.MediaContainer.Metadata
    assert.are.equal(seasons[1].leafCount, #eps)
    assert.are.equal(show.title, eps[1].grandparentTitle)
    assert.are.equal(404, pms("/library/metadata/999").status)
    assert.are.equal(404, pms("/library/metadata/999/children").status)
  end)

  it("creates collections and adds items through a fully percent-encoded uri", function()
    local movies = pms("/library/sections/1/all?X-Plex-Container-Size=4").json.MediaContainer.Metadata
    local a, b, c = movies[1].ratingKey, movies[2].ratingKey, movies[3].ratingKey
    local path = "/demo/plex/library/collections?type=1&title=" .. enc("Spec Picks") .. "&smart=0&sectionId=1&uri="
    local res = the_app():post(path .. uri_for({ a, b }), nil, { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    assert.are.equal(200, res.status, res.body)
    local col = res.json.MediaContainer.Metadata[1]
    assert.are.equal("collection", col.type)
    assert.are.equal("Spec Picks", col.title)
    assert.are.equal("2", col.childCount)
    -- a raw (unencoded) uri is refused
    local raw = "server://" .. MACHINE .. "/com.plexapp.plugins.library/library/metadata/" .. c
    res = the_app():put("/demo/plex/library/collections/" .. col.ratingKey .. "/items?uri=" .. raw, nil,
      { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    assert.are.equal(400, res.status)
    res = the_app():put("/demo/plex/library/collections/" .. col.ratingKey .. "/items?uri=" .. uri_for({ c }), nil,
      { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    assert.are.equal(200, res.status)
    assert.are.equal("3", res.json.MediaContainer.Metadata[1].childCount)
    local kids = pms("/library/collections/" .. col.ratingKey .. "/children").json.MediaContainer
    assert.are.equal(3, kids.totalSize)
    assert.are.equal(c, kids.Metadata[3].ratingKey)
    local listed = pms("/library/sections/1/collections").json.MediaContainer.Metadata
    local found = false
    for _, x in ipairs(listed) do if x.ratingKey == col.ratingKey then found = true end end
    assert.is_true(found)
    -- mixed types and other servers are refused; the friend may not write
    local ep = pms("/library/sections/2/all?type=4&X-Plex-Container-Size=1").json.MediaContainer.Metadata[1]
    res = the_app():put("/demo/plex/library/collections/" .. col.ratingKey .. "/items?uri=" .. uri_for({ ep.ratingKey }),
      nil, { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    assert.are.equal(400, res.status)
    res = the_app():post(path .. enc("server://other-machine/com.plexapp.plugins.library/library/metadata/" .. a),
      nil, { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    assert.are.equal(400, res.status)
    res = the_app():post(path .. uri_for({ a }), nil, { headers = hdrs({ ["X-Plex-Token"] = FRIEND_SERVER }) })
    assert.are.equal(403, res.status)
  end)

  it("refreshes a section by GET and by POST, with a path, and ends the scan", function()
    local folder = "/data/movies/Some Movie (2001)"
    assert.are.equal(200, pms("/library/sections/1/refresh").status)
    local res = the_app():post("/demo/plex/library/sections/1/refresh?force=1&path=" .. enc(folder), nil,
      { headers = { ["X-Plex-Token"] = OWNER } })
    assert.are.equal(200, res.status)
    local log = control("/demo/plex", {}).refreshes
    local methods, paths = {}, {}
    for _, e in ipairs(log) do
      if e.event == "start" then methods[e.method] = true; if e.path then paths[e.path] = e.force end end
    end
    assert.is_true(methods.GET and methods.POST)
    assert.is_true(paths[folder])
    h.wait_until(function()
      local dirs = pms("/library/sections").json.MediaContainer.Directory
      return dirs[1].refreshing == false
    end, 5, 0.02, "the scan to end")
    assert.are.equal(404, pms("/library/sections/42/refresh").status)
    assert.are.equal(403, pms("/library/sections/1/refresh", FRIEND_SERVER).status)
  end)

  it("scans video files of the YouTube folder into the YouTube section", function()
    local dir = h.tmpname("-yt")
    os.execute("mkdir -p '" .. dir .. "/Playlist'")
    local f = assert(io.open(dir .. "/Playlist/Spec Zebra Video [abc123].mp4", "wb"))
    f:write("x") f:close()
    local yt = h.start({ plugins = { "demo-upstreams" }, config = { plugins = { settings = {
      ["demo-upstreams"] = { scan_seconds = 0.01, youtube_root = dir, videos = 3, movies = 10, shows = 2 } } } } })
    local function get(path)
      return yt:get("/demo/plex" .. path, { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    end
    local sec = get("/library/sections").json.MediaContainer.Directory[3]
    assert.are.equal(dir, sec.Location[1].path)
    assert.are.equal(3, get("/library/sections/3/all").json.MediaContainer.totalSize)
    assert.are.equal(200, yt:post("/demo/plex/library/sections/3/refresh?path=" .. enc(dir .. "/Playlist"), nil,
      { headers = { ["X-Plex-Token"] = OWNER } }).status)
    h.wait_until(function() return get("/library/sections/3/all").json.MediaContainer.totalSize == 4 end, 5, 0.02)
    local hub = get("/hubs/search?query=zebra").json.MediaContainer.Hub[1]
    assert.are.equal(1, hub.size)
    assert.are.equal("Spec Zebra Video", hub.Metadata[1].title)
    assert.are.equal(dir .. "/Playlist/Spec Zebra Video [abc123].mp4", hub.Metadata[1].Media[1].Part[1].file)
    yt:stop()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("draws posters as valid PNGs of the asked size (within limits)", function()
    local m = pms("/library/sections/1/all?X-Plex-Container-Size=1").json.MediaContainer.Metadata[1]
    local function transcode(q)
      return the_app():get("/demo/plex/photo/:/transcode?url=" .. enc(m.thumb) .. q,
        { headers = { ["X-Plex-Token"] = OWNER } })
    end
    local function ihdr(body)
      assert.are.equal("\137PNG\r\n\26\n", body:sub(1, 8))
      assert.are.equal("IHDR", body:sub(13, 16))
      return string.unpack(">I4I4", body, 17)
    end
    local res = transcode("&width=120&height=180&minSize=1&upscale=1&format=jpg")
    assert.are.equal(200, res.status)
    assert.are.equal("image/png", res.headers["content-type"])
    local w, hh = ihdr(res.body)
    assert.are.equal(120, w)
    assert.are.equal(180, hh)
    assert.truthy(res.body:find("IEND", #res.body - 12, true))
    assert.are.equal(res.body, transcode("&width=120&height=180").body)        -- deterministic (and cached)
    w, hh = ihdr(transcode("&width=5000&height=9000").body)
    assert.are.equal(2000, w)
    assert.are.equal(2000, hh)
    w, hh = ihdr(transcode("&width=200").body)
    assert.are.equal(200, w)
    assert.are.equal(300, hh)
    local other = pms("/library/sections/1/all?X-Plex-Container-Start=1&X-Plex-Container-Size=1").json.MediaContainer.Metadata[1]
    local res2 = the_app():get("/demo/plex/photo/:/transcode?width=120&height=180&url=" .. enc(other.thumb),
      { headers = { ["X-Plex-Token"] = OWNER } })
    assert.are_not.equal(res.body, res2.body)
    assert.are.equal(404, the_app():get("/demo/plex/photo/:/transcode?url=" .. enc("/library/metadata/1/thumb/1"),
      { headers = { ["X-Plex-Token"] = OWNER } }).status)
    assert.are.equal(401, the_app():get("/demo/plex/photo/:/transcode?url=" .. enc(m.thumb)).status)
  end)

  it("injects latency and failures on demand, and resets", function()
    control("/demo/plex", { fail_next = 2 })
    assert.are.equal(500, pms("/library/sections").status)
    assert.are.equal(500, pms("/identity").status)
    assert.are.equal(200, pms("/library/sections").status)
    control("/demo/plex", { failure_rate = 1, failure_status = 503 })
    assert.are.equal(503, pms("/library/sections").status)
    control("/demo/plex", { reset = true })
    assert.are.equal(200, pms("/library/sections").status)
    control("/demo/plex", { latency_ms = 150 })
    local t = napp.hrtime()
    assert.are.equal(200, pms("/identity").status)
    assert.is_true(napp.hrtime() - t >= 0.15)
    control("/demo/plex", { reset = true })
    assert.are.equal(400, the_app():post("/demo/plex/_control", { failure_rate = 2 }).status)
    -- plex.tv has its own
    control("/demo/plextv", { fail_next = 1 })
    assert.are.equal(500, the_app():get("/demo/plextv/api/v2/user", { headers = hdrs({ ["X-Plex-Token"] = OWNER }) }).status)
    assert.are.equal(200, the_app():get("/demo/plextv/api/v2/user", { headers = hdrs({ ["X-Plex-Token"] = OWNER }) }).status)
  end)

  it("starts fast: the first listing answers quickly on a fresh instance", function()
    local fresh = h.start({ plugins = { "demo-upstreams" } })
    local t = napp.hrtime()
    local res = fresh:get("/demo/plex/library/sections/1/all?X-Plex-Container-Size=50",
      { headers = hdrs({ ["X-Plex-Token"] = OWNER }) })
    local took = napp.hrtime() - t
    fresh:stop()
    assert.are.equal(200, res.status)
    assert.are.equal(50, res.json.MediaContainer.size)
    assert.is_true(took < 1.0, "first answer took " .. took .. " s")
  end)
end)
