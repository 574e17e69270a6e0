-- spec/plugins/hardening_fetch_spec.lua — outbound fetches an admin can
-- steer (issue 17): link-local and metadata addresses are refused always,
-- before a connection is made; loopback and private networks only when the
-- service's own URL is on them; the check is on the resolved address (a
-- name is judged by what it resolves to) and again on a reused connection;
-- a saved secret never goes to another origin than the one it was saved
-- for; the admin form refuses oversized and key-heavy bodies at once.
local h = require "spec.helpers"
local hh = require "spec.helpers_hardening"
local db = require "nest.db"
local json = require "nest.json"
local crypto = require "nest.crypto"
local fetch = require "nest.fetch"
local services = require "nest.services"
local napp = require "nest.core.app"
local tcp = require "nest.core.tcp"

local TAG = "hft" .. crypto.hex(crypto.random(4))

describe("outbound fetch addresses", function()
  local up
  setup(function() up = h.start_fixtures({ "upstream" }) end)
  teardown(function() up:stop() end)

  local FORBIDDEN = {
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1:8080/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[fe80::1]/",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1/",
  }
  for _, url in ipairs(FORBIDDEN) do
    it("refuses " .. url .. " before connecting, whatever the policy", function()
      for _, policy in ipairs({ "lan", "public" }) do
        local t0 = napp.hrtime()
        local res, err = fetch(url, { addresses = policy, timeout = { connect = 5, total = 5 } })
        assert.is_nil(res)
        assert.matches("^address not allowed: .*%(link%-local, metadata or reserved%)$", err)
        assert.is_true(napp.hrtime() - t0 < 1, "it waited for a connection")
      end
    end)
  end

  it("reaches loopback by default and refuses it with addresses = public", function()
    assert.equal(200, assert(fetch(up:url("/up/echo"))).status)
    local res, err = fetch(up:url("/up/echo"), { addresses = "public" })
    assert.is_nil(res)
    assert.matches("^address not allowed: 127%.0%.0%.1 %(loopback or private network%)$", err)
  end)

  it("judges a name by the address it resolves to (localhost is loopback)", function()
    local url = ("http://localhost:%d/up/echo"):format(up.port)
    local res, err = fetch(url, { addresses = "public" })
    assert.is_nil(res)
    assert.matches("^address not allowed: ", err)
  end)

  it("checks a kept-alive connection again before reusing it", function()
    local first = assert(fetch(up:url("/up/echo"), { addresses = "lan" }))
    assert.equal(200, first.status)
    local res, err = fetch(up:url("/up/echo"), { addresses = "public" })
    assert.is_nil(res)
    assert.matches("^address not allowed: 127%.0%.0%.1", err)
  end)

  it("follows a redirect to another origin without the caller's headers", function()
    local other = ("http://localhost:%d/up/echo"):format(up.port)       -- same server, another origin
    local hdr = { ["X-Api-Key"] = "secret-" .. TAG, Accept = "application/json" }
    local res = assert(fetch(up:url("/up/redirect?to=" .. fetch.encode_uri_component(other)),
                             { headers = hdr, follow = true }))
    assert.equal(200, res.status)
    assert.equal(1, res.redirects)
    assert.is_nil(res:json().headers["x-api-key"])
    -- on the same origin they go along
    res = assert(fetch(up:url("/up/redirect?to=/up/echo"), { headers = hdr, follow = true }))
    assert.equal("secret-" .. TAG, res:json().headers["x-api-key"])
    -- and a redirect into link-local is refused like a direct request
    local r2, err = fetch(up:url("/up/redirect?to=http://169.254.169.254/"), { follow = true })
    assert.is_nil(r2)
    assert.matches("^address not allowed: 169%.254%.169%.254", err)
  end)

  it("resolves names and says what each address is", function()
    local list = assert(fetch.resolve("localhost"))
    assert.is_true(#list >= 1)
    for _, a in ipairs(list) do assert.equal("private", a.class) end
    assert.same({ { address = "169.254.169.254", class = "forbidden" } }, fetch.resolve("169.254.169.254"))
    assert.same({ { address = "192.0.2.10", class = "public" } }, fetch.resolve("192.0.2.10"))
  end)

  it("gives a service its URL's class: lan only when the URL is on loopback/private", function()
    assert.equal("lan", services.addresses("http://127.0.0.1:32400/"))
    assert.equal("lan", services.addresses("http://10.1.2.3:32400"))
    assert.equal("lan", services.addresses("http://[::1]:5055"))
    assert.equal("lan", services.addresses("http://localhost:3001"))
    assert.equal("public", services.addresses("https://192.0.2.10/"))
    assert.equal("public", services.addresses("http://169.254.169.254/"))
    assert.equal("public", services.addresses("http://no-such-host.invalid/"))
  end)

  it("sends a service's request only to its own origin, never following a redirect", function()
    local s = { url = up:url("/") }
    assert.equal(200, assert(services.fetch(s, up:url("/up/echo"))).status)
    local res, err = services.fetch(s, ("http://localhost:%d/up/echo"):format(up.port))
    assert.is_nil(res)
    assert.matches("not the service's address", err)
    res = assert(services.fetch(s, up:url("/up/hops/2"), { follow = true }))
    assert.equal(302, res.status)
  end)
end)

describe("admin services and secrets", function()
  local app, admin

  setup(function()
    db.query("DELETE FROM service_config")
    services.forget()
    app = h.start({ plugins = { "health", "auth", "admin" },
                    config = { plugins = { settings = { admin = { test_timeout = 3 } } } } })
    admin = hh.bearer(app, TAG .. "-root", "admin")
  end)

  teardown(function()
    db.query("DELETE FROM service_config")
    services.forget()
    hh.cleanup(TAG)
    app:stop()
  end)

  it("tests a service pointed at the metadata address with a refusal, not a timeout", function()
    assert.equal(200, admin:put("/api/v1/admin/services/overseerr",
      { url = "http://169.254.169.254/latest", apiKey = "k-" .. TAG }).status)
    local t0 = napp.hrtime()
    local r = admin:post("/api/v1/admin/services/overseerr/test", {})
    assert.equal(200, r.status)
    assert.is_true(napp.hrtime() - t0 < 1)
    assert.is_false(r.json.ok)
    assert.matches("address not allowed: 169%.254%.169%.254", r.json.checks[1].message)
  end)

  it("forgets the saved secrets when the URL moves to another origin", function()
    assert.equal(200, admin:put("/api/v1/admin/services/overseerr",
      { url = "http://overseerr.lan:5055", apiKey = "k-" .. TAG, webhookSecret = "w-" .. TAG }).status)
    -- another path on the same origin keeps them
    local r = admin:put("/api/v1/admin/services/overseerr", { url = "http://overseerr.lan:5055/os" })
    assert.same({ set = true, source = "saved" }, r.json.apiKey)
    -- another host: gone, unless given again in the same save
    r = admin:put("/api/v1/admin/services/overseerr", { url = "http://evil.example:5055" })
    assert.equal(200, r.status)
    assert.same({ set = false, source = json.null }, r.json.apiKey)
    assert.same({ set = false, source = json.null }, r.json.webhookSecret)
    services.forget()
    assert.is_nil(services.get("overseerr").api_key)
    r = admin:put("/api/v1/admin/services/overseerr", { url = "https://overseerr.lan", apiKey = "k2-" .. TAG })
    assert.same({ set = true, source = "saved" }, r.json.apiKey)
    -- the scheme or the port is another origin too
    r = admin:put("/api/v1/admin/services/overseerr", { url = "https://overseerr.lan:8443" })
    assert.same({ set = false, source = json.null }, r.json.apiKey)
  end)

  it("refuses a form with thousands of unknown keys at once", function()
    -- 800,000 keys (~10 MB): refused on its Content-Length, before a byte of it is read
    local size = 800000 * 10
    local c = assert(tcp.connect(app.host, app.port, 2))
    local t0 = napp.hrtime()
    assert(c:write(("PUT /api/v1/admin/services/plex HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
      .. "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"):format(admin.headers.Authorization, size)))
    local head = assert(c:read(2))
    c:close()
    assert.matches("^HTTP/1%.1 413 ", head)
    assert.is_true(napp.hrtime() - t0 < 1)
    local parts, r
    -- under the byte limit, too many fields is refused before any is looked at
    parts = {}
    for i = 1, 1500 do parts[i] = ('"k%d":1'):format(i) end
    t0 = napp.hrtime()
    r = assert(admin:request("PUT", "/api/v1/admin/services/plex",
      { body = "{" .. table.concat(parts, ",") .. "}", headers = { ["Content-Type"] = "application/json" } }))
    assert.equal(400, r.status)
    assert.equal("VALIDATION_ERROR", r.json.error.code)
    assert.matches("more than 32 fields", r.json.error.message)
    assert.is_true(napp.hrtime() - t0 < 0.5)
    -- and the server answers others meanwhile
    assert.equal(200, app:get("/health").status)
  end)
end)
