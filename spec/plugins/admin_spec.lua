-- spec/plugins/admin_spec.lua — the admin API: users (list, get, role,
-- disable, delete, the self-change rule) and service configuration (view,
-- save with validation, secrets sealed and never shown, the test endpoint).
-- Runs with the real auth plugin (Bearer API tokens inserted here) and the
-- demo upstreams; yt-dlp is spec/fixtures/admin/yt-dlp.
local h = require "spec.helpers"
local db = require "nest.db"
local json = require "nest.json"
local crypto = require "nest.crypto"
local services = require "nest.services"

local TAG = "adm" .. crypto.hex(crypto.random(4))       -- unique names: the database is shared
local SERVICES = { "plex", "plextv", "overseerr", "uptime_kuma", "youtube" }

local function make_user(name, role)
  local rows = assert(db.query(
    "INSERT INTO users (username, email, role) VALUES ($1, $2, $3) RETURNING id",
    TAG .. "-" .. name, TAG .. "-" .. name .. "@example.invalid", role or "user"))
  return rows[1].id
end

local function make_token(user_id, kind)
  local token = crypto.token(32)
  assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, csrf_token, expires_at)
                    VALUES ($1, $2, $3, $4, $5, now() + interval '1 day')]],
    user_id, crypto.sha256(token), kind, kind == "api" and "spec" or db.null,
    kind == "session" and crypto.token(16) or db.null))
  return token
end

local function live_tokens(user_id)
  return assert(db.query(
    "SELECT count(*) AS n FROM session_tokens WHERE user_id = $1 AND revoked_at IS NULL", user_id))[1].n
end

local function clean_services()
  for _, n in ipairs(SERVICES) do db.query("DELETE FROM service_config WHERE name = $1", n) end
  services.forget()
end

describe("admin plugin", function()
  local app, admin, other_admin, plain, as_admin, as_user, anon

  -- A client authenticated the way the real auth plugin checks it: a personal
  -- API token (session_tokens kind 'api', sha256 of the token) as Bearer.
  local function bearer(user_id)
    local c = app:client()
    c.headers.Authorization = "Bearer " .. make_token(user_id, "api")
    return c
  end

  setup(function()
    clean_services()
    app = h.start({ config = {
      plugins = {
        enabled = { "health", "auth", "admin", "demo-upstreams" },
        settings = { ["demo-upstreams"] = { movies = 20, shows = 3, videos = 3 },
                     admin = { test_timeout = 0.5 } },
      },
      services = { youtube = { ytdlp = h.root .. "/spec/fixtures/admin/yt-dlp" } },
    } })
    admin = make_user("root", "admin")
    other_admin = make_user("root2", "admin")
    plain = make_user("plain", "user")
    as_admin = bearer(admin)
    as_user = bearer(plain)
    anon = app:client()
  end)

  teardown(function()
    clean_services()
    db.query("DELETE FROM users WHERE username LIKE $1", TAG .. "-%")
    app:stop()
  end)

  describe("route guards", function()
    local ROUTES = {
      { "GET", "/api/v1/admin/users" },
      { "GET", "/api/v1/admin/users/1" },
      { "PATCH", "/api/v1/admin/users/1", { role = "admin" } },
      { "DELETE", "/api/v1/admin/users/1" },
      { "GET", "/api/v1/admin/services" },
      { "GET", "/api/v1/admin/services/plex" },
      { "PUT", "/api/v1/admin/services/plex", { enabled = true } },
      { "POST", "/api/v1/admin/services/plex/test", {} },
    }
    it("every admin route answers 401 to nobody and 403 to a plain user", function()
      for _, rt in ipairs(ROUTES) do
        local opts = { json = rt[3] }
        local r1 = assert(anon:request(rt[1], rt[2], opts))
        assert.equal(401, r1.status, rt[1] .. " " .. rt[2])
        assert.equal("UNAUTHENTICATED", r1.json.error.code)
        local r2 = assert(as_user:request(rt[1], rt[2], opts))
        assert.equal(403, r2.status, rt[1] .. " " .. rt[2])
        assert.equal("FORBIDDEN", r2.json.error.code)
      end
    end)

    it("lets an admin in", function()
      assert.equal(200, as_admin:get("/api/v1/admin/users").status)
      assert.equal(200, as_admin:get("/api/v1/admin/services").status)
    end)
  end)

  describe("users", function()
    it("lists users, paged, with the documented fields", function()
      local r = as_admin:get("/api/v1/admin/users?perPage=2&q=" .. TAG)
      assert.equal(200, r.status)
      assert.equal(2, #r.json.users)
      assert.equal(1, r.json.page)
      assert.equal(2, r.json.perPage)
      assert.is_true(r.json.totalResults >= 3)
      assert.equal(math.ceil(r.json.totalResults / 2), r.json.totalPages)
      local u = r.json.users[1]
      assert.equal(admin, u.id)
      assert.equal(TAG .. "-root", u.username)
      assert.equal(TAG .. "-root@example.invalid", u.email)
      assert.equal("admin", u.role)
      assert.is_false(u.disabled)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", u.createdAt)
      assert.equal(json.null, u.lastLoginAt)
      assert.equal(json.null, u.thumb)
      local p2 = as_admin:get("/api/v1/admin/users?perPage=2&page=2&q=" .. TAG)
      assert.equal(plain, p2.json.users[1].id)
    end)

    it("validates paging parameters", function()
      local r = as_admin:get("/api/v1/admin/users?perPage=1000")
      assert.equal(400, r.status)
      assert.equal("VALIDATION_ERROR", r.json.error.code)
      assert.equal("perPage", r.json.error.details.field)
    end)

    it("shows one user, and 404 for an unknown or malformed id", function()
      local r = as_admin:get("/api/v1/admin/users/" .. plain)
      assert.equal(200, r.status)
      assert.equal(TAG .. "-plain", r.json.username)
      assert.equal(1, r.json.activeSessions)                        -- as_user's token
      assert.equal(404, as_admin:get("/api/v1/admin/users/999999999").status)
      assert.equal(404, as_admin:get("/api/v1/admin/users/abc").status)
      assert.equal(404, as_admin:patch("/api/v1/admin/users/999999999", { role = "admin" }).status)
      assert.equal(404, as_admin:delete("/api/v1/admin/users/999999999").status)
    end)

    it("changes a role", function()
      local id = make_user("promote")
      local r = as_admin:patch("/api/v1/admin/users/" .. id, { role = "admin" })
      assert.equal(200, r.status)
      assert.equal("admin", r.json.role)
      assert.equal("admin", db.query("SELECT role FROM users WHERE id = $1", id)[1].role)
      r = as_admin:patch("/api/v1/admin/users/" .. id, { role = "user" })
      assert.equal("user", r.json.role)
    end)

    it("refuses bad PATCH bodies with 400 and the field", function()
      local r = as_admin:patch("/api/v1/admin/users/" .. plain, { role = "root" })
      assert.equal(400, r.status)
      assert.equal("VALIDATION_ERROR", r.json.error.code)
      assert.equal("role", r.json.error.details.field)
      r = as_admin:patch("/api/v1/admin/users/" .. plain, { disabled = "yes" })
      assert.equal("disabled", r.json.error.details.field)
      r = as_admin:patch("/api/v1/admin/users/" .. plain, { name = "x" })
      assert.equal(400, r.status)
      assert.equal("name", r.json.error.details.field)
      r = as_admin:patch("/api/v1/admin/users/" .. plain, {})
      assert.equal(400, r.status)
      r = as_admin:request("PATCH", "/api/v1/admin/users/" .. plain,
        { body = "{nope", headers = { ["Content-Type"] = "application/json" } })
      assert.equal(400, r.status)
      assert.equal("INVALID_JSON", r.json.error.code)
    end)

    it("refuses to let an admin demote, disable or delete themself", function()
      local me = "/api/v1/admin/users/" .. admin
      for _, attempt in ipairs({
        function() return as_admin:patch(me, { role = "user" }) end,
        function() return as_admin:patch(me, { disabled = true }) end,
        function() return as_admin:delete(me) end,
      }) do
        local r = attempt()
        assert.equal(409, r.status)
        assert.equal("SELF_CHANGE_REFUSED", r.json.error.code)
      end
      local row = db.query("SELECT role, disabled_at FROM users WHERE id = $1", admin)[1]
      assert.equal("admin", row.role)
      assert.equal(db.null, row.disabled_at)
      -- harmless self-changes are fine
      assert.equal(200, as_admin:patch(me, { role = "admin", disabled = false }).status)
    end)

    it("disabling a user revokes every session and token at once; their next request is refused", function()
      local id = make_user("victim")
      make_token(id, "session")
      make_token(id, "api")
      local victim = bearer(id)
      assert.equal(3, live_tokens(id))
      assert.equal(403, victim:get("/api/v1/admin/users").status)     -- signed in, not an admin
      local r = as_admin:patch("/api/v1/admin/users/" .. id, { disabled = true })
      assert.equal(200, r.status)
      assert.is_true(r.json.disabled)
      assert.matches("Z$", r.json.disabledAt)
      assert.equal(0, live_tokens(id))
      assert.equal(0, as_admin:get("/api/v1/admin/users/" .. id).json.activeSessions)
      -- their very next request is anonymous
      local r401 = victim:get("/api/v1/admin/users")
      assert.equal(401, r401.status)
      assert.equal("UNAUTHENTICATED", r401.json.error.code)
      -- enabling again does not bring the sessions back
      r = as_admin:patch("/api/v1/admin/users/" .. id, { disabled = false })
      assert.is_false(r.json.disabled)
      assert.equal(0, live_tokens(id))
    end)

    it("deletes a user and their sessions", function()
      local id = make_user("gone")
      make_token(id, "session")
      assert.equal(204, as_admin:delete("/api/v1/admin/users/" .. id).status)
      assert.equal(0, #db.query("SELECT 1 FROM users WHERE id = $1", id))
      assert.equal(0, live_tokens(id))
      assert.equal(404, as_admin:get("/api/v1/admin/users/" .. id).status)
    end)

    it("another admin may demote a fellow admin", function()
      local r = as_admin:patch("/api/v1/admin/users/" .. other_admin, { role = "user" })
      assert.equal(200, r.status)
      assert.equal("user", r.json.role)
    end)
  end)

  describe("services", function()
    before_each(clean_services)

    it("lists the five services with url, enabled, options and secret presence only", function()
      local r = as_admin:get("/api/v1/admin/services")
      assert.equal(200, r.status)
      local names = {}
      for _, s in ipairs(r.json.services) do names[#names + 1] = s.name end
      assert.same(SERVICES, names)
      local byname = {}
      for _, s in ipairs(r.json.services) do byname[s.name] = s end
      assert.equal("https://plex.tv", byname.plextv.url)
      assert.equal("https://app.plex.tv/auth", byname.plextv.options.appUrl)
      assert.same({ set = false, source = json.null }, byname.overseerr.apiKey)
      assert.same({ set = false, source = json.null }, byname.plex.token)
      assert.is_nil(byname.youtube.url)
      assert.equal(2, byname.youtube.options.concurrency)
      assert.is_false(byname.plex.saved)
    end)

    it("answers 404 for an unknown service", function()
      assert.equal(404, as_admin:get("/api/v1/admin/services/nope").status)
      assert.equal(404, as_admin:put("/api/v1/admin/services/nope", { enabled = true }).status)
      local r = as_admin:post("/api/v1/admin/services/nope/test", {})
      assert.equal(404, r.status)
      assert.equal("UNKNOWN_SERVICE", r.json.error.code)
    end)

    it("saves settings; secrets are sealed in the row and never answered", function()
      local key, hook = "ovr-key-" .. TAG .. "-SECRET", "ovr-hook-" .. TAG .. "-SECRET"
      local bodies = {}
      local r = as_admin:put("/api/v1/admin/services/overseerr",
        { url = "http://overseerr.test:5055", apiKey = key, webhookSecret = hook,
          enabled = false, options = { timeout = 7 } })
      bodies[#bodies + 1] = r.body
      assert.equal(200, r.status)
      assert.equal("http://overseerr.test:5055", r.json.url)
      assert.is_false(r.json.enabled)
      assert.equal(7, r.json.options.timeout)
      assert.same({ set = true, source = "saved" }, r.json.apiKey)
      assert.same({ set = true, source = "saved" }, r.json.webhookSecret)
      assert.is_true(r.json.saved)
      assert.equal(admin, r.json.updatedBy)
      for _, path in ipairs({ "/api/v1/admin/services", "/api/v1/admin/services/overseerr" }) do
        bodies[#bodies + 1] = as_admin:get(path).body
      end
      bodies[#bodies + 1] = as_admin:post("/api/v1/admin/services/overseerr/test", {}).body
      for _, b in ipairs(bodies) do
        assert.is_nil(b:find(key, 1, true), "API key in an answer")
        assert.is_nil(b:find(hook, 1, true), "webhook secret in an answer")
        assert.is_nil(b:find("SECRET", 1, true))
      end
      -- the row: every column, as text, holds neither secret
      local row = db.query("SELECT * FROM service_config WHERE name = 'overseerr'")[1]
      local text = db.query("SELECT row_to_json(s)::text AS t FROM service_config s WHERE name = 'overseerr'")[1].t
      for _, v in pairs(row) do
        if type(v) == "string" then
          assert.is_nil(v:find(key, 1, true))
          assert.is_nil(v:find(hook, 1, true))
        end
      end
      assert.is_nil(text:find(key, 1, true))
      assert.is_nil(text:find(hook, 1, true))
      assert.is_true(#row.api_key_enc > #key)                -- sealed: nonce + ciphertext + tag
      -- and what plugins resolve is the plaintext
      services.forget()
      local s = services.get("overseerr")
      assert.equal(key, s.api_key)
      assert.equal(hook, s.webhook_secret)
      assert.equal(7, s.options.timeout)
    end)

    it("keeps an omitted secret, clears it on an explicit null", function()
      local key = "kuma-" .. TAG
      assert.equal(200, as_admin:put("/api/v1/admin/services/uptime_kuma",
        { url = "http://kuma.test:3001", apiKey = key, options = { slug = "home" } }).status)
      -- the same origin (another path): the secret stays
      local r = as_admin:put("/api/v1/admin/services/uptime_kuma", { url = "http://KUMA.test:3001/kuma" })
      assert.equal(200, r.status)
      assert.equal("http://KUMA.test:3001/kuma", r.json.url)
      assert.same({ set = true, source = "saved" }, r.json.apiKey)
      assert.equal("home", r.json.options.slug)
      services.forget()
      assert.equal(key, services.get("uptime_kuma").api_key)
      r = as_admin:put("/api/v1/admin/services/uptime_kuma", { apiKey = json.null })
      assert.same({ set = false, source = json.null }, r.json.apiKey)
      assert.equal(db.null, db.query("SELECT api_key_enc FROM service_config WHERE name = 'uptime_kuma'")[1].api_key_enc)
      services.forget()
      assert.is_nil(services.get("uptime_kuma").api_key)
    end)

    it("stores the Plex token sealed in secrets_enc", function()
      local token = "plex-token-" .. TAG
      local r = as_admin:put("/api/v1/admin/services/plex", { url = "http://pms.test:32400", token = token })
      assert.equal(200, r.status)
      assert.same({ set = true, source = "saved" }, r.json.token)
      assert.is_nil(r.body:find(token, 1, true))
      local row = db.query("SELECT secrets_enc FROM service_config WHERE name = 'plex'")[1]
      assert.is_nil(row.secrets_enc:find(token, 1, true))
      services.forget()
      assert.equal(token, services.get("plex").token)
      -- apiKey is the same secret's generic name; giving both is refused
      r = as_admin:put("/api/v1/admin/services/plex", { token = "a", apiKey = "b" })
      assert.equal(400, r.status)
    end)

    it("refuses invalid settings with 400 and every bad field", function()
      local cases = {
        { "plex", { url = "ftp://pms.test" }, "url" },
        { "plex", { url = "pms.test:32400" }, "url" },
        { "plex", { url = "http://user:pw@pms.test" }, "url" },
        { "plex", { url = "http://pms.test:99999" }, "url" },
        { "plex", { url = "http://" .. ("a"):rep(2100) }, "url" },
        { "plex", { url = 5 }, "url" },
        { "plex", { enabled = "yes" }, "enabled" },
        { "plex", { token = "" }, "token" },
        { "plex", { token = 12 }, "token" },
        { "plex", { webhookSecret = "x" }, "webhookSecret" },
        { "plex", { bogus = 1 }, "bogus" },
        { "plex", { options = { timeout = 0 } }, "options.timeout" },
        { "plex", { options = { nope = 1 } }, "options.nope" },
        { "plex", { options = { 1, 2 } }, "options" },
        { "uptime_kuma", { options = { slug = "../x" } }, "options.slug" },
        { "youtube", { url = "http://x.test" }, "url" },
        { "youtube", { options = { concurrency = 1.5 } }, "options.concurrency" },
        { "youtube", { options = { quotaBytes = -1 } }, "options.quotaBytes" },
        { "youtube", { options = { allowedHosts = { "ok.com", "bad host" } } }, "options.allowedHosts" },
        { "plextv", { options = { appUrl = "javascript:alert(1)" } }, "options.appUrl" },
        { "overseerr", { apiKey = ("k"):rep(5000) }, "apiKey" },
      }
      for _, c in ipairs(cases) do
        local r = as_admin:put("/api/v1/admin/services/" .. c[1], c[2])
        assert.equal(400, r.status, c[1] .. " " .. json.encode(c[2]))
        assert.equal("VALIDATION_ERROR", r.json.error.code)
        local fields = {}
        for _, e in ipairs(r.json.error.details.errors) do fields[#fields + 1] = e.field end
        assert.same({ c[3] }, fields, json.encode(c[2]))
      end
      -- several at once, all reported
      local r = as_admin:put("/api/v1/admin/services/overseerr", { url = "x", enabled = 1, apiKey = false })
      assert.equal(3, #r.json.error.details.errors)
      r = as_admin:request("PUT", "/api/v1/admin/services/plex",
        { body = "[1]", headers = { ["Content-Type"] = "application/json" } })
      assert.equal(400, r.status)
      -- nothing was saved by any of these
      assert.equal(0, #assert(db.query(
        "SELECT 1 FROM service_config WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))", SERVICES)))
    end)

    it("a saved change is what the next request resolves", function()
      assert.equal(200, as_admin:put("/api/v1/admin/services/youtube",
        { options = { concurrency = 3, allowedHosts = { "youtube.com", "youtu.be" } } }).status)
      local r = as_admin:get("/api/v1/admin/services/youtube")
      assert.equal(3, r.json.options.concurrency)
      assert.same({ "youtube.com", "youtu.be" }, r.json.options.allowedHosts)
      -- options given replace the saved ones; null drops them all (config applies again)
      r = as_admin:put("/api/v1/admin/services/youtube", { options = json.null })
      assert.equal(2, r.json.options.concurrency)
      assert.is_nil(r.json.options.allowedHosts)
    end)
  end)

  describe("service test", function()
    before_each(clean_services)

    local function test(name)
      local r = as_admin:post("/api/v1/admin/services/" .. name .. "/test", {})
      assert.equal(200, r.status, r.body)
      return r.json
    end
    local function check(res, name)
      for _, c in ipairs(res.checks) do
        if c.name == name then return c end
      end
      error("no check " .. name .. " in " .. json.encode(res))
    end

    it("reports a working Plex server and a refused token", function()
      as_admin:put("/api/v1/admin/services/plex", { url = app:url("/demo/plex"), token = "demo-token-owner" })
      local res = test("plex")
      assert.is_true(res.ok, json.encode(res))
      assert.equal("demo-pms-machine-0001", res.info.machineIdentifier)
      assert.matches("demo%-pms%-machine%-0001", check(res, "identity").message)
      assert.is_true(check(res, "token").ok)
      assert.is_number(check(res, "identity").ms)
      as_admin:put("/api/v1/admin/services/plex", { token = "wrong" })
      res = test("plex")
      assert.is_false(res.ok)
      assert.is_true(check(res, "identity").ok)
      assert.is_false(check(res, "token").ok)
      assert.matches("Token refused", check(res, "token").message)
    end)

    it("reports a wrong URL as unreachable, fast and without a 500", function()
      -- a port nothing listens on: connect refused
      local probe = require("nest.core.tcp")
      local dead = "http://127.0.0.1:9/plex"
      assert.is_nil(probe.connect("127.0.0.1", 9, 1))
      as_admin:put("/api/v1/admin/services/plex", { url = dead, token = "demo-token-owner" })
      local res = test("plex")
      assert.is_false(res.ok)
      assert.matches("unreachable", check(res, "identity").message)
      -- reachable, but not a Plex server
      as_admin:put("/api/v1/admin/services/plex", { url = app:url("/nothing-here") })
      res = test("plex")
      assert.is_false(res.ok)
      assert.matches("not a Plex Media Server", check(res, "identity").message)
    end)

    it("gives up on a service that does not answer in time", function()
      as_admin:put("/api/v1/admin/services/plex", { url = app:url("/demo/plex"), token = "demo-token-owner" })
      assert.equal(200, app:post("/demo/plex/_control", { latency_ms = 3000 }).status)
      local ok, err = pcall(function()
        local res = test("plex")
        assert.is_false(res.ok)
        local c = check(res, "identity")
        assert.matches("no answer within 0%.5 s", c.message)
        assert.is_true(c.ms >= 400 and c.ms < 2500, tostring(c.ms))
      end)
      app:post("/demo/plex/_control", { reset = true })
      assert(ok, err)
    end)

    it("reports plex.tv reachable", function()
      as_admin:put("/api/v1/admin/services/plextv", { url = app:url("/demo/plextv") })
      local res = test("plextv")
      assert.is_true(res.ok, json.encode(res))
    end)

    it("reports Overseerr's version, and a wrong API key", function()
      as_admin:put("/api/v1/admin/services/overseerr",
        { url = app:url("/demo/overseerr"), apiKey = "demo-overseerr-key", webhookSecret = "s3" })
      local res = test("overseerr")
      assert.is_true(res.ok, json.encode(res))
      assert.matches("1%.33%.2", check(res, "status").message)
      as_admin:put("/api/v1/admin/services/overseerr", { apiKey = "wrong-key" })
      res = test("overseerr")
      assert.is_false(res.ok)
      assert.is_true(check(res, "status").ok)
      assert.matches("API key refused %(HTTP 403%)", check(res, "apiKey").message)
      assert.is_nil(json.encode(res):find("wrong-key", 1, true))
    end)

    it("reports an Uptime Kuma status page, an unknown slug and a wrong key", function()
      as_admin:put("/api/v1/admin/services/uptime_kuma",
        { url = app:url("/demo/kuma"), apiKey = "demo-kuma-key", options = { slug = "demo" } })
      local res = test("uptime_kuma")
      assert.is_true(res.ok, json.encode(res))
      assert.matches("%d+ monitors", check(res, "statusPage").message)
      as_admin:put("/api/v1/admin/services/uptime_kuma", { apiKey = "nope", options = { slug = "missing" } })
      res = test("uptime_kuma")
      assert.is_false(res.ok)
      assert.matches("not found", check(res, "statusPage").message)
      assert.is_false(check(res, "metrics").ok)
    end)

    it("reports yt-dlp's version and whether the download folder is writable", function()
      local root = h.tmpname("-yt")
      as_admin:put("/api/v1/admin/services/youtube", { options = { root = root } })
      local res = test("youtube")
      assert.is_true(res.ok, json.encode(res))
      assert.equal("yt-dlp 2099.01.01-fixture", check(res, "ytdlp").message)
      assert.matches("is writable", check(res, "root").message)
      os.remove(root)
      as_admin:put("/api/v1/admin/services/youtube", { options = { root = "/proc/medianest-nope" } })
      res = test("youtube")
      assert.is_false(res.ok)
      assert.is_false(check(res, "root").ok)
    end)

    it("reports a service with no URL as not configured", function()
      -- through the API, so the app's own memo of the settings is dropped too
      assert.equal(200, as_admin:put("/api/v1/admin/services/overseerr", { url = json.null }).status)
      local res = test("overseerr")
      assert.is_false(res.ok)
      assert.equal("configured", res.checks[1].name)
    end)
  end)
end)
