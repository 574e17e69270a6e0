-- spec/plugins/demo_upstreams_services_spec.lua — the demo Overseerr and
-- Uptime Kuma of plugins/demo-upstreams, checked against the reference
-- (the Overseerr answers validate against spec/fixtures/reference/
-- overseerr-api.json, the OpenAPI file of ../shared/reference), and
-- bin/fake-yt-dlp run through nest.proc.
--
-- The app mounts the fakes through plugins/demo-upstreams/init.lua when it
-- exists, through the demo_services fixture (same routes/init/destroy calls)
-- otherwise; the demo_sink fixture receives the webhook.
local h = require "spec.helpers"
local json = require "nest.json"
local proc = require "nest.proc"
local openapi = require "spec.fixtures.reference.openapi"

local FIXTURES = h.root .. "/spec/fixtures/plugins"
local KEY = "demo-overseerr-key"
local O = "/demo/overseerr/api/v1"

local function has_init()
  local f = io.open(h.root .. "/plugins/demo-upstreams/init.lua", "r")
  if f then f:close() return true end
  return false
end

local function start_app()
  local cfg = { plugins = { paths = { FIXTURES } } }
  if has_init() then
    local ok, app = pcall(h.start, { plugins = { "health", "demo-upstreams", "demo_sink" }, config = cfg })
    if ok then return app end
    io.stderr:write("demo_upstreams_services_spec: plugins/demo-upstreams did not start (", tostring(app),
      "); mounting the services through the demo_services fixture\n")
  end
  return h.start({ plugins = { "health", "demo_services", "demo_sink" }, config = cfg })
end

local api = openapi.load()

-- assert that value validates against the schema of path/method/status
local function conforms(path, method, status, value)
  local schema = api:response(path, method, status)
  assert.is_table(schema, "no schema for " .. method .. " " .. path)
  local ok, errs = api:validate(schema, value)
  assert(ok, ("%s %s %d does not match the reference:\n  %s"):format(method, path, status,
    table.concat(errs, "\n  ")))
end

describe("reference validator", function()
  it("accepts a conforming MediaRequest and rejects broken ones", function()
    local s = api:schema("MediaRequest")
    local good = { id = 1, status = 1, createdAt = "x", updatedAt = "y", is4k = false,
                   requestedBy = { id = 1, email = "a@b", createdAt = "x", updatedAt = "y" },
                   modifiedBy = json.null, media = { id = 1, tmdbId = 2, tvdbId = json.null, status = 2 } }
    assert.is_true((api:validate(s, good)))
    local ok, errs = api:validate(s, { status = 1 })
    assert.is_false(ok)
    assert.matches("required property 'id'", errs[1])
    good.requestedBy.id = "1"
    ok, errs = api:validate(s, good)
    assert.is_false(ok)
    assert.matches("requestedBy.id: expected integer", errs[1])
    good.requestedBy.id = 1
    good.media.tmdbId = json.null           -- not nullable
    assert.is_false((api:validate(s, good)))
  end)

  it("checks enum, oneOf and additionalProperties", function()
    local body = api:request_body("/request", "post")
    assert.is_true((api:validate(body, { mediaType = "tv", mediaId = 1, seasons = "all" })))
    assert.is_true((api:validate(body, { mediaType = "tv", mediaId = 1, seasons = { 1, 2 } })))
    assert.is_false((api:validate(body, { mediaType = "tv", mediaId = 1, seasons = "some" })))
    assert.is_false((api:validate(body, { mediaType = "book", mediaId = 1 })))
    local closed = { type = "object", properties = { a = { type = "string" } }, additionalProperties = false }
    assert.is_true((api:validate(closed, { a = "x" })))
    assert.is_false((api:validate(closed, { a = "x", b = 1 })))
    local all = { allOf = { { required = { "a" } }, { properties = { a = { type = "number" } } } } }
    assert.is_true((api:validate(all, { a = 1 })))
    assert.is_false((api:validate(all, { a = "1" })))
  end)
end)

describe("demo Overseerr", function()
  local app
  setup(function() app = start_app() end)
  teardown(function() app:stop() end)
  before_each(function()
    assert.equal(200, app:post("/demo/overseerr/_control/reset", {}).status)
    app:post("/sink/reset", {})
  end)

  local function call(method, path, body, user, key)
    local headers = { ["X-Api-Key"] = key or KEY }
    if user then headers["X-API-User"] = tostring(user) end
    local o = { headers = headers }
    if body ~= nil then o.json = body end
    return app:request(method, O .. path, o)
  end

  it("answers /status without a key, in the documented shape", function()
    local res = app:get(O .. "/status")
    assert.equal(200, res.status)
    conforms("/status", "get", 200, res.json)
    assert.is_nil(res.json.status)
    assert.is_string(res.json.version)
  end)

  it("answers 403 with Overseerr's body on a missing or bad key", function()
    for _, key in ipairs({ false, "wrong" }) do
      local headers = key and { ["X-Api-Key"] = key } or {}
      local res = app:get(O .. "/request", { headers = headers })
      assert.equal(403, res.status)
      assert.same({ status = 403, error = "You do not have permission to access this endpoint" }, res.json)
    end
    assert.equal(403, call("GET", "/request", nil, 99).status)   -- X-API-User naming nobody
  end)

  it("lists its users and answers /auth/me as the X-API-User", function()
    local users = call("GET", "/user")
    assert.equal(200, users.status)
    conforms("/user", "get", 200, users.json)
    local by_name = {}
    for _, u in ipairs(users.json.results) do by_name[u.plexUsername] = u.id end
    assert.same({ owner = 1, friend = 2 }, by_name)
    local me = call("GET", "/auth/me", nil, 2)
    conforms("/auth/me", "get", 200, me.json)
    assert.equal("friend", me.json.plexUsername)
    local one = call("GET", "/user/1")
    conforms("/user/{userId}", "get", 200, one.json)
    assert.equal(404, call("GET", "/user/77").status)
  end)

  it("searches with percent-encoding and refuses a raw '+' or reserved character", function()
    local res = call("GET", "/search?query=the%20matrix&page=1&language=en")
    assert.equal(200, res.status)
    conforms("/search", "get", 200, res.json)
    assert.equal(3, res.json.totalResults)                     -- The Matrix and its two sequels
    assert.same({ "movie", 603, "The Matrix" }, { res.json.results[1].mediaType, res.json.results[1].id,
                                                 res.json.results[1].title })
    assert.equal(5, res.json.results[1].mediaInfo.status)      -- already in Plex

    res = call("GET", "/search?query=%28500%29%20Days")
    assert.equal(200, res.status)
    assert.equal("(500) Days of Summer", res.json.results[1].title)

    for _, raw in ipairs({ "the+matrix", "(500)%20Days", "don't", "a*", "hi!" }) do
      res = call("GET", "/search?query=" .. raw)
      assert.equal(400, res.status, raw)
      assert.matches("Parameter 'query' must be url encoded", res.json.message, 1, true)
    end
    assert.equal(400, call("GET", "/search").status)
  end)

  it("pages search results and includes shows and people", function()
    local res = call("GET", "/search?query=the")
    assert.equal(200, res.status)
    conforms("/search", "get", 200, res.json)
    assert.is_true(res.json.totalResults > 20)
    assert.equal(20, #res.json.results)
    local p2 = call("GET", "/search?query=the&page=2")
    assert.equal(2, p2.json.page)
    assert.are_not.equal(res.json.results[1].id, p2.json.results[1].id)
    local tv = call("GET", "/search?query=breaking%20bad")
    assert.same({ "tv", "Breaking Bad", "2008-01-20" }, { tv.json.results[1].mediaType, tv.json.results[1].name,
                                                         tv.json.results[1].firstAirDate })
    conforms("/search", "get", 200, tv.json)
    local person = call("GET", "/search?query=dicaprio")
    assert.equal("person", person.json.results[1].mediaType)
    conforms("/search", "get", 200, person.json)
  end)

  it("knows the PMS fake's library as available, with its ratingKeys", function()
    local ok, library = pcall(require, "plugins.demo-upstreams.library")
    if not ok then return pending("plugins/demo-upstreams/library.lua is not there") end
    local lib = library.new({ seed = 20240501, movies = 5000, shows = 500, videos = 0 })
    local core = lib:core(100000 + 42)
    local m = call("GET", "/movie/" .. (10000 + 42 * 13))
    assert.equal(200, m.status)
    conforms("/movie/{movieId}", "get", 200, m.json)
    assert.same({ core.title, 5, "100042" }, { m.json.title, m.json.mediaInfo.status, m.json.mediaInfo.ratingKey })
    local s = lib:core(200000 + 7)
    local t = call("GET", "/tv/" .. (50000 + 7 * 17))
    assert.same({ s.title, 5, 70000 + 7 * 11 }, { t.json.name, t.json.mediaInfo.status, t.json.mediaInfo.tvdbId })
    local found = call("GET", "/search?query=" .. require("nest.fetch").encode_uri_component(core.title))
    local hit
    for _, r in ipairs(found.json.results) do if r.id == 10000 + 42 * 13 then hit = r end end
    assert.is_table(hit)
    assert.equal(5, hit.mediaInfo.status)
  end)

  it("serves movie and tv details with mediaInfo", function()
    local m = call("GET", "/movie/27205")
    assert.equal(200, m.status)
    conforms("/movie/{movieId}", "get", 200, m.json)
    assert.equal("Inception", m.json.title)
    assert.equal(5, m.json.mediaInfo.status)
    local t = call("GET", "/tv/1399")
    assert.equal(200, t.status)
    conforms("/tv/{tvId}", "get", 200, t.json)
    assert.equal(9, #t.json.seasons)            -- specials + 8
    assert.is_nil(t.json.mediaInfo)             -- nothing known about it yet
    assert.equal(404, call("GET", "/movie/1").status)
  end)

  it("creates a request attributed to the X-API-User, pending for a plain user", function()
    local res = call("POST", "/request", { mediaType = "movie", mediaId = 157336 }, 2)
    assert.equal(201, res.status)
    conforms("/request", "post", 201, res.json)
    assert.equal(1, res.json.status)                      -- PENDING
    assert.equal(2, res.json.media.status)                -- media PENDING
    assert.equal(2, res.json.requestedBy.id)
    assert.equal("friend", res.json.requestedBy.plexUsername)
    assert.equal(157336, res.json.media.tmdbId)

    local got = call("GET", "/request/" .. res.json.id, nil, 2)
    assert.equal(200, got.status)
    conforms("/request/{requestId}", "get", 200, got.json)

    local dup = call("POST", "/request", { mediaType = "movie", mediaId = 157336 }, 1)
    assert.equal(409, dup.status)
    assert.equal("Request for this media already exists.", dup.json.message)
    local avail = call("POST", "/request", { mediaType = "movie", mediaId = 27205 }, 2)
    assert.equal(409, avail.status)

    local details = call("GET", "/movie/157336")
    assert.equal(2, details.json.mediaInfo.status)
    assert.equal(res.json.id, details.json.mediaInfo.requests[1].id)
    conforms("/movie/{movieId}", "get", 200, details.json)
  end)

  it("auto-approves the admin's requests, and requests seasons of a show", function()
    local res = call("POST", "/request", { mediaType = "tv", mediaId = 66732, seasons = { 1, 2 } })
    assert.equal(201, res.status)
    conforms("/request", "post", 201, res.json)
    assert.equal(2, res.json.status)                      -- APPROVED
    assert.equal(3, res.json.media.status)                -- PROCESSING
    assert.equal(1, res.json.requestedBy.id)
    assert.equal(2, #res.json.seasons)
    local again = call("POST", "/request", { mediaType = "tv", mediaId = 66732, seasons = { 2 } }, 2)
    assert.equal(202, again.status)
    assert.equal("No seasons available to request", again.json.message)
    local rest = call("POST", "/request", { mediaType = "tv", mediaId = 66732, seasons = "all" }, 2)
    assert.equal(201, rest.status)
    assert.same({ 3, 4 }, { rest.json.seasons[1].seasonNumber, rest.json.seasons[2].seasonNumber })
    local tv = call("GET", "/tv/66732")
    conforms("/tv/{tvId}", "get", 200, tv.json)
    assert.equal(2, #tv.json.mediaInfo.requests)
  end)

  it("lists, filters, pages, counts, approves, declines and deletes requests", function()
    local ids = {}
    for i, mid in ipairs({ 155, 680, 550, 329865 }) do
      local r = call("POST", "/request", { mediaType = "movie", mediaId = mid }, 2)
      assert.equal(201, r.status)
      ids[i] = r.json.id
    end
    local approved = call("POST", "/request/" .. ids[1] .. "/approve")
    assert.equal(200, approved.status)
    conforms("/request/{requestId}/{status}", "post", 200, approved.json)
    assert.equal(2, approved.json.status)
    assert.equal(1, approved.json.modifiedBy.id)
    local declined = call("POST", "/request/" .. ids[2] .. "/decline")
    assert.equal(3, declined.json.status)
    assert.equal(403, call("POST", "/request/" .. ids[3] .. "/approve", nil, 2).status)

    local list = call("GET", "/request?take=2&skip=0&filter=all&sort=added")
    assert.equal(200, list.status)
    conforms("/request", "get", 200, list.json)
    assert.same({ pages = 2, pageSize = 2, results = 4, page = 1 }, list.json.pageInfo)
    assert.equal(ids[4], list.json.results[1].id)        -- newest first
    local pending = call("GET", "/request?filter=pending")
    assert.equal(2, pending.json.pageInfo.results)
    local mod = call("GET", "/request?sort=modified&take=1")
    assert.equal(ids[2], mod.json.results[1].id)         -- declined last
    assert.equal(400, call("GET", "/request?filter=bogus").status)

    local count = call("GET", "/request/count")
    assert.equal(200, count.status)
    conforms("/request/count", "get", 200, count.json)
    assert.same({ total = 4, movie = 4, tv = 0, pending = 2, approved = 1, declined = 1, processing = 1,
                  available = 0 }, count.json)

    -- a plain user sees only their own requests; the admin can ask for one user's
    call("POST", "/request", { mediaType = "movie", mediaId = 954 })
    assert.equal(4, call("GET", "/request", nil, 2).json.pageInfo.results)
    assert.equal(1, call("GET", "/request?requestedBy=1").json.pageInfo.results)

    local put = call("PUT", "/request/" .. ids[3], { mediaType = "movie", is4k = false })
    assert.equal(200, put.status)
    conforms("/request/{requestId}", "put", 200, put.json)
    assert.equal(403, call("PUT", "/request/" .. ids[3], { mediaType = "movie" }, 2).status)
    assert.equal(401, call("DELETE", "/request/" .. ids[1], nil, 2).status)   -- not pending any more
    assert.equal(204, call("DELETE", "/request/" .. ids[3], nil, 2).status)
    assert.equal(404, call("GET", "/request/" .. ids[3]).status)
  end)

  it("posts the documented webhook payload on each state change", function()
    local hook = app:url("/sink/webhook")
    assert.equal(200, app:post("/demo/overseerr/_control/webhook",
      { url = hook, authorization = "Bearer spec-secret" }).status)
    local r = call("POST", "/request", { mediaType = "movie", mediaId = 157336 }, 2)   -- Interstellar
    assert.equal(201, r.status)
    local id = r.json.id
    assert.equal(200, app:post("/demo/overseerr/_control/requests/" .. id, { status = "approved" }).status)
    local done = app:post("/demo/overseerr/_control/requests/" .. id, { status = "available" })
    assert.equal(200, done.status)
    assert.equal(5, done.json.media.status)
    assert.equal(2, done.json.status)
    conforms("/request/{requestId}", "get", 200, done.json)

    local got = h.wait_until(function()
      local s = app:get("/sink/webhook")
      return #s.json >= 3 and s.json
    end, 5, 0.02, "three webhook deliveries")
    local kinds = {}
    for i, d in ipairs(got) do
      assert.equal("Bearer spec-secret", d.headers.authorization)
      assert.matches("application/json", d.headers["content-type"], 1, true)
      local p = assert(json.decode(d.body))
      kinds[i] = p.notification_type
      -- the default template: every templated value a string, blocks objects or null
      for _, k in ipairs({ "notification_type", "event", "subject", "message", "image" }) do
        assert.is_string(p[k], k)
      end
      assert.equal(json.null, p.issue)
      assert.equal(json.null, p.comment)
      assert.is_table(p.extra)
      for k, v in pairs(p.media) do assert.is_string(v, "media." .. k) end
      for k, v in pairs(p.request) do assert.is_string(v, "request." .. k) end
      assert.same({ media_type = "movie", tmdbId = "157336", tvdbId = "" },
        { media_type = p.media.media_type, tmdbId = p.media.tmdbId, tvdbId = p.media.tvdbId })
      assert.equal(("%d"):format(id), p.request.request_id)
      assert.equal("friend", p.request.requestedBy_username)
      assert.equal("Interstellar (2014)", p.subject)
    end
    assert.same({ "MEDIA_PENDING", "MEDIA_APPROVED", "MEDIA_AVAILABLE" }, kinds)
    assert.equal("AVAILABLE", json.decode(got[3].body).media.status)
    assert.equal("PENDING", json.decode(got[1].body).media.status)

    -- the admin's own request is auto-approved, and says so
    call("POST", "/request", { mediaType = "movie", mediaId = 680 })
    got = h.wait_until(function()
      local s = app:get("/sink/webhook")
      return #s.json >= 4 and s.json
    end, 5, 0.02, "the auto-approval webhook")
    assert.equal("MEDIA_AUTO_APPROVED", json.decode(got[4].body).notification_type)
    assert.equal(400, app:post("/demo/overseerr/_control/requests/" .. id, { status = "bogus" }).status)
    app:post("/demo/overseerr/_control/webhook", {})
  end)
end)

describe("demo Uptime Kuma", function()
  local app
  setup(function() app = start_app() end)
  teardown(function() app:stop() end)
  before_each(function() assert.equal(200, app:post("/demo/kuma/_control/reset", {}).status) end)

  -- an Authorization: Basic header (standard, padded base64)
  local function basic(user, pass)
    local raw = user .. ":" .. pass
    local b64 = require("nest.crypto").base64url_encode(raw):gsub("%-", "+"):gsub("_", "/")
    return { Authorization = "Basic " .. b64 .. ("="):rep((3 - #raw % 3) % 3) }
  end

  -- the metrics as {name -> {monitor_name -> value}}
  local function parse_metrics(text)
    local out = {}
    for line in text:gmatch("[^\n]+") do
      if not line:match("^#") then
        local name, lbl, value = line:match("^([%w_]+){(.-)} (%S+)$")
        assert(name, "not a Prometheus sample line: " .. line)
        local mon = lbl:match('monitor_name="([^"]*)"')
        if mon then
          out[name] = out[name] or {}
          out[name][mon] = tonumber(value)
          for _, l in ipairs({ "monitor_type", "monitor_url", "monitor_hostname", "monitor_port" }) do
            assert(lbl:find(l .. '="', 1, true), l .. " missing in " .. line)
          end
        end
      end
    end
    return out
  end

  it("serves the status page in Kuma's shape, 404 for an unknown slug", function()
    local res = app:get("/demo/kuma/api/status-page/demo")
    assert.equal(200, res.status)
    local p = res.json
    assert.equal("demo", p.config.slug)
    assert.is_string(p.config.title)
    assert.is_table(p.maintenanceList)
    assert.equal(json.null, p.incident)
    local names = {}
    for _, g in ipairs(p.publicGroupList) do
      assert.is_number(g.id)
      assert.is_string(g.name)
      for _, m in ipairs(g.monitorList) do
        assert.is_number(m.id)
        assert.is_string(m.type)
        names[m.name] = m
      end
    end
    assert.is_table(names.Plex)
    assert.is_table(names.Overseerr)
    assert.is_table(names.MediaNest)
    assert.equal("http", names.Plex.type)
    local missing = app:get("/demo/kuma/api/status-page/nope")
    assert.equal(404, missing.status)
    assert.same({ status = "fail", msg = "Status Page Not Found" }, missing.json)
    assert.equal(404, app:get("/demo/kuma/api/status-page/heartbeat/nope").status)
  end)

  it("serves heartbeats oldest to newest with UTC times and uptime ratios", function()
    local res = app:get("/demo/kuma/api/status-page/heartbeat/demo")
    assert.equal(200, res.status)
    local list = res.json.heartbeatList
    for id, beats in pairs(list) do
      assert.matches("^%d+$", id)
      assert.equal(50, #beats)
      for i, b in ipairs(beats) do
        assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%.%d%d%d$", b.time)
        assert.is_number(b.status)
        assert.is_string(b.msg)
        if i > 1 then assert.is_true(b.time >= beats[i - 1].time) end
      end
      local up = res.json.uptimeList[id .. "_24"]
      assert.is_number(up)
      assert.is_true(up > 0 and up <= 1)
    end
    assert.is_true(res.json.uptimeList["4_24"] < 1)      -- the NAS dropped once
  end)

  it("flips a monitor's state: the status page, heartbeats and metrics follow", function()
    local f = app:post("/demo/kuma/_control/monitors/1", { status = 0, msg = "connect ECONNREFUSED" })
    assert.equal(200, f.status)
    local beats = app:get("/demo/kuma/api/status-page/heartbeat/demo").json.heartbeatList["1"]
    assert.equal(50, #beats)
    assert.same({ 0, "connect ECONNREFUSED" }, { beats[50].status, beats[50].msg })
    assert.equal(json.null, beats[50].ping)
    local m = parse_metrics(app:get("/demo/kuma/metrics", { headers = basic("", "demo-kuma-key") }).body)
    assert.equal(0, m.monitor_status.Plex)
    assert.equal(-1, m.monitor_response_time.Plex)
    assert.equal(1, m.monitor_status.Overseerr)

    app:post("/demo/kuma/_control/monitors/2", { status = 3 })
    app:post("/demo/kuma/_control/monitors/1", { status = 1, ping = 17 })
    m = parse_metrics(app:get("/demo/kuma/metrics", { headers = basic("any", "demo-kuma-key") }).body)
    assert.same({ 1, 17, 3 }, { m.monitor_status.Plex, m.monitor_response_time.Plex, m.monitor_status.Overseerr })
    assert.equal(400, app:post("/demo/kuma/_control/monitors/1", { status = 7 }).status)
    assert.equal(404, app:post("/demo/kuma/_control/monitors/99", { status = 1 }).status)
  end)

  it("guards /metrics with Basic auth, the API key as password", function()
    local none = app:get("/demo/kuma/metrics")
    assert.equal(401, none.status)
    assert.matches("^Basic", none.headers["www-authenticate"])
    assert.equal(401, app:get("/demo/kuma/metrics", { headers = basic("", "wrong") }).status)
    assert.equal(401, app:get("/demo/kuma/metrics", { headers = { Authorization = "Bearer demo-kuma-key" } }).status)
    local ok = app:get("/demo/kuma/metrics", { headers = basic("", "demo-kuma-key") })
    assert.equal(200, ok.status)
    assert.matches("^text/plain", ok.headers["content-type"])
    assert.matches("# TYPE monitor_status gauge", ok.body, 1, true)
    assert.matches('monitor_status{monitor_name="Plex",monitor_type="http",monitor_url="', ok.body, 1, true)
    assert.matches('monitor_hostname="null",monitor_port="null"} 1', ok.body, 1, true)
    local m = parse_metrics(ok.body)
    assert.equal(1, m.monitor_cert_is_valid["plex.tv"])
    assert.is_number(m.monitor_cert_days_remaining["plex.tv"])
  end)

  it("shows an incident set by the control endpoint", function()
    app:post("/demo/kuma/_control/incident", { title = "Disk full", content = "Downloads paused", style = "danger" })
    local p = app:get("/demo/kuma/api/status-page/demo").json
    assert.same({ "Disk full", "Downloads paused", "danger" }, { p.incident.title, p.incident.content, p.incident.style })
    app:post("/demo/kuma/_control/incident", {})
    assert.equal(json.null, app:get("/demo/kuma/api/status-page/demo").json.incident)
  end)
end)

describe("bin/fake-yt-dlp", function()
  local YTDLP = h.root .. "/bin/fake-yt-dlp"
  local napp = require "nest.core.app"
  local dir

  before_each(function()
    dir = h.tmpname("-ytdlp")
    assert(os.execute("mkdir -p '" .. dir .. "'"))
  end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  -- run(args, env) -> {code, out = {lines}, err = stderr text}
  local function run(args, env)
    local e = { PATH = os.getenv("PATH") or "/usr/bin:/bin" }
    for k, v in pairs(env or {}) do e[k] = v end
    local argv = { YTDLP }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local p = assert(proc.spawn(argv, { cwd = dir, env = e }))
    local out = {}
    for line in p:lines() do out[#out + 1] = line end
    local code = p:wait()
    return { code = code, out = out, err = p:stderr() }
  end

  local function file_size(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local n = f:seek("end")
    f:close()
    return n
  end

  local read = h.read_file

  local PL = "https://www.youtube.com/playlist?list=PLdemo3"
  local TEMPLATE = "%(playlist_title)s/%(playlist_index)03d - %(title)s [%(id)s].%(ext)s"
  local function download_args(url, extra)
    local args = { "--newline", "--progress", "--no-colors", "--progress-template", "download:%(progress)j",
                   "--print", "after_move:filepath", "--no-simulate", "--download-archive", dir .. "/archive.txt",
                   "-P", dir .. "/media", "-o", TEMPLATE }
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    args[#args + 1] = url
    return args
  end

  it("prints -J --flat-playlist JSON, the same for the same URL", function()
    local r = run({ "-J", "--flat-playlist", PL })
    assert.equal(0, r.code)
    assert.equal(1, #r.out)
    local doc = assert(json.decode(r.out[1]))
    assert.equal("playlist", doc._type)
    assert.equal("PLdemo3", doc.id)
    assert.is_string(doc.title)
    assert.is_string(doc.channel)
    assert.equal(PL, doc.webpage_url)
    assert.equal(3, doc.playlist_count)
    assert.equal(3, #doc.entries)
    local ids = {}
    for _, e in ipairs(doc.entries) do
      assert.matches("^[%w_%-]+$", e.id)
      assert.equal(11, #e.id)
      assert.equal("https://www.youtube.com/watch?v=" .. e.id, e.url)
      assert.is_string(e.title)
      assert.is_number(e.duration)
      assert.is_nil(ids[e.id])
      ids[e.id] = true
    end
    assert.same(r.out, run({ "-J", "--flat-playlist", PL }).out)
    local other = assert(json.decode(run({ "-J", "--flat-playlist",
      "https://www.youtube.com/playlist?list=PLdemo4" }).out[1]))
    assert.equal(4, #other.entries)
    assert.is_nil(ids[other.entries[1].id])

    local v = assert(json.decode(run({ "-J", "--flat-playlist", "https://youtu.be/dQw4w9WgXcQ" }).out[1]))
    assert.same({ "video", "dQw4w9WgXcQ" }, { v._type, v.id })
    assert.is_table(v.formats)
  end)

  it("refuses bad URLs with an ERROR line and exit 1, bad usage with exit 2", function()
    for _, url in ipairs({ "https://example.com/watch?v=dQw4w9WgXcQ", "not a url",
                           "https://www.youtube.com/watch?v=short", "https://youtu.be/xxUnavail01",
                           "https://www.youtube.com/playlist?list=PLgoneForever" }) do
      local r = run({ "-J", "--flat-playlist", url })
      assert.equal(1, r.code, url)
      assert.matches("^ERROR: ", r.err, nil, false)
      assert.same({}, r.out)
    end
    local r = run({ "--no-such-flag", PL })
    assert.equal(2, r.code)
    assert.matches("yt-dlp: error: no such option: --no-such-flag", r.err, 1, true)
    assert.equal(2, run({ "-J" }).code)
    assert.equal(2, run({ PL, "-o" }).code)
  end)

  it("downloads with progress lines in the template's format, files, archive and final paths", function()
    local r = run(download_args(PL), { FAKE_YTDLP_BYTES = "200000" })
    assert.equal(0, r.code, r.err)
    local paths, progress, finished = {}, 0, 0
    local last_bytes = -1
    for _, line in ipairs(r.out) do
      if line:sub(1, 1) == "{" then
        local p = assert(json.decode(line), line)
        assert.is_string(p.filename)
        if p.status == "downloading" then
          progress = progress + 1
          assert.equal(200000, p.total_bytes)
          assert.is_number(p.speed)
          assert.is_number(p.eta)
          assert.is_true(p.downloaded_bytes > last_bytes or p.downloaded_bytes <= 65536)
          last_bytes = p.downloaded_bytes
        else
          assert.equal("finished", p.status)
          assert.equal(200000, p.downloaded_bytes)
          finished = finished + 1
        end
      else
        assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/media/", line)
        paths[#paths + 1] = line
      end
    end
    assert.equal(3, #paths)
    assert.equal(3, finished)
    assert.is_true(progress >= 3 * 4)          -- 200 000 bytes in 64 KiB pieces
    for i, p in ipairs(paths) do
      assert.matches(("/%03d %%- .+ %%[[%%w_%%-]+%%]%%.%%w+$"):format(i), p)
      assert.equal(200000, file_size(p))
    end
    local archive = read(dir .. "/archive.txt")
    local n = 0
    for line in archive:gmatch("[^\n]+") do
      assert.matches("^youtube [%w_%-]+$", line)
      n = n + 1
    end
    assert.equal(3, n)

    -- again: everything is in the archive, nothing is downloaded
    local again = run(download_args(PL))
    assert.equal(0, again.code)
    assert.same({}, again.out)
    -- and --break-on-existing stops at the first one with 101
    assert.equal(101, run(download_args(PL, { "--break-on-existing" })).code)
  end)

  it("stops with 101 after --max-downloads", function()
    local r = run(download_args("https://www.youtube.com/playlist?list=PLdemo5", { "--max-downloads", "2" }))
    assert.equal(101, r.code)
    local paths = {}
    for _, line in ipairs(r.out) do if line:sub(1, 1) == "/" then paths[#paths + 1] = line end end
    assert.equal(2, #paths)
  end)

  it("fails the named videos with exit 1, keeps going, and leaves the .part behind", function()
    local r = run(download_args(PL), { FAKE_YTDLP_FAIL = "2", FAKE_YTDLP_FAIL_AFTER = "1000",
                                        FAKE_YTDLP_BYTES = "5000" })
    assert.equal(1, r.code)
    assert.matches("ERROR: ", r.err, 1, true)
    local paths = {}
    for _, line in ipairs(r.out) do if line:sub(1, 1) == "/" then paths[#paths + 1] = line end end
    assert.equal(2, #paths)                     -- 1 and 3
    local p = assert(io.popen("find '" .. dir .. "/media' -name '002 - *.part'"))
    local part = p:read("l")
    p:close()
    assert.is_string(part)
    assert.equal(1000, file_size(part))
    assert.equal(1, run(download_args(PL, { "--abort-on-error" }), { FAKE_YTDLP_FAIL = "all" }).code)
  end)

  it("can be killed mid-download: stdout ends promptly and the .part stays", function()
    local p = assert(proc.spawn({ YTDLP, "--newline", "--progress-template", "download:%(progress)j",
                                  "-P", dir, "-o", "%(id)s.%(ext)s", "https://youtu.be/dQw4w9WgXcQ" },
                                { cwd = dir, env = { PATH = os.getenv("PATH"), FAKE_YTDLP_BYTES = "1000000",
                                                     FAKE_YTDLP_RATE = "20000" } }))
    local first
    for line in p:lines() do
      if line:sub(1, 1) == "{" then first = json.decode(line) break end
    end
    assert.equal("downloading", first.status)
    local t0 = napp.hrtime()
    p:kill()
    while p:read_line() do end
    local code, sig = p:wait()
    assert.is_true(napp.hrtime() - t0 < 1, "stdout stayed open after the kill")
    assert.equal("SIGTERM", sig, "exit " .. tostring(code))
    assert.is_number(file_size(first.tmpfilename))
    assert.is_nil(file_size(first.filename))
  end)

  it("writes at the configured rate, with info JSON and thumbnail beside the video", function()
    local t0 = napp.hrtime()
    local r = run({ "--newline", "--progress-template", "download:%(info.id)s %(progress.downloaded_bytes)s",
                    "-q", "--progress", "--write-info-json", "--write-thumbnail", "-f", "18",
                    "-P", dir, "-o", "%(id)s.%(ext)s", "https://www.youtube.com/watch?v=dQw4w9WgXcQ" },
                  { FAKE_YTDLP_BYTES = "40000", FAKE_YTDLP_RATE = "100000" })
    local took = napp.hrtime() - t0
    assert.equal(0, r.code, r.err)
    assert.is_true(took >= 0.35, "took " .. took)
    assert.is_true(#r.out >= 4)
    assert.equal("dQw4w9WgXcQ 40000", r.out[#r.out])
    for _, line in ipairs(r.out) do assert.matches("^dQw4w9WgXcQ %d+$", line) end
    assert.equal(40000, file_size(dir .. "/dQw4w9WgXcQ.mp4"))
    local info = assert(json.decode(read(dir .. "/dQw4w9WgXcQ.info.json")))
    assert.same({ "dQw4w9WgXcQ", "18", "mp4" }, { info.id, info.format_id, info.ext })
    assert.is_number(file_size(dir .. "/dQw4w9WgXcQ.webp"))
  end)
end)
