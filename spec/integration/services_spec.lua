-- spec/integration/services_spec.lua — nest.services: config.lua's
-- services.<name>, overridden by an admin's saved row (secrets decrypted).
local h = require "spec.helpers"
local db = require "nest.db"
local json = require "nest.json"
local secrets = require "nest.secrets"
local services = require "nest.services"
local config = require "nest.config"

describe("nest.services", function()
  local name = "overseerr"
  local saved
  setup(function()
    saved = config.get()
    assert(config.load({ root = h.root }))    -- config.lua's defaults, whatever ran before
  end)
  teardown(function() config.use(saved) end)
  before_each(function()
    db.query("DELETE FROM service_config WHERE name = $1", name)
    services.forget()
  end)
  after_each(function()
    db.query("DELETE FROM service_config WHERE name = $1", name)
    services.forget()
  end)

  it("answers nil for an unknown service", function()
    assert.is_nil(services.get("nope"))
  end)

  it("resolves config.lua's settings when nothing was saved", function()
    local s = services.get("plextv")
    assert.equal("https://plex.tv", s.url)
    assert.equal("https://app.plex.tv/auth", s.options.app_url)
    assert.is_true(s.enabled)
  end)

  it("prefers the saved row and decrypts its secrets", function()
    db.query([[INSERT INTO service_config (name, enabled, url, api_key_enc, secrets_enc, settings)
               VALUES ($1, false, $2, $3, $4, $5)]], name, "http://overseerr.test:5055",
      secrets.seal("k-123", services.purpose(name, "api_key")),
      secrets.seal(json.encode({ token = "t-9" }), services.purpose(name, "secrets")),
      { timeout = 4 })
    local s = services.get(name)
    assert.equal("http://overseerr.test:5055", s.url)
    assert.is_false(s.enabled)
    assert.equal("k-123", s.api_key)
    assert.equal("t-9", s.token)
    assert.equal(4, s.options.timeout)
    assert.is_true(s.saved)
  end)

  it("ignores a secret sealed for another field", function()
    db.query([[INSERT INTO service_config (name, api_key_enc) VALUES ($1, $2)]], name,
      secrets.seal("wrong-purpose", services.purpose(name, "webhook_secret")))
    local cfg = config.get()
    local before = cfg.services.overseerr.api_key
    assert.equal(before, services.get(name).api_key)
  end)

  it("serve --demo points every integration at the demo upstreams", function()
    local cfg = assert(config.load({ demo = true, demo_public = true, root = "/srv/mn",
      overrides_json = '{"listen":"0.0.0.0:9999","services":{"overseerr":{"url":"http://real:5055"}}}' }))
    assert.equal("http://127.0.0.1:9999/demo/plex", cfg.services.plex.url)
    assert.equal("demo-token-owner", cfg.services.plex.token)
    assert.equal("http://127.0.0.1:9999/demo/plextv/auth", cfg.services.plextv.app_url)
    assert.equal("http://real:5055", cfg.services.overseerr.url)       -- the operator's stays
    assert.equal("/srv/mn/bin/fake-yt-dlp", cfg.services.youtube.ytdlp)
    local seen = false
    for _, n in ipairs(cfg.plugins.enabled) do seen = seen or n == "demo-upstreams" end
    assert.is_true(seen)
    assert(config.load({ root = h.root }))
  end)

  it("save() seals secrets, keeps omitted fields and clears on null", function()
    assert(services.save(name, { url = "http://o.test:5055", api_key = "k-1", webhook_secret = "w-1",
                                 enabled = true, options = { timeout = 3 } }))
    local row = db.query("SELECT * FROM service_config WHERE name = $1", name)[1]
    assert.is_nil(row.api_key_enc:find("k-1", 1, true))
    assert.is_nil(row.webhook_secret_enc:find("w-1", 1, true))
    assert.equal("k-1", services.get(name).api_key)               -- save() forgot the memo
    assert(services.save(name, { url = "http://o.test:5055/overseerr" }))   -- same origin
    local s = services.get(name)
    assert.equal("http://o.test:5055/overseerr", s.url)
    assert.equal("k-1", s.api_key)
    assert.equal("w-1", s.webhook_secret)
    assert.equal(3, s.options.timeout)
    assert(services.save(name, { api_key = json.null, options = json.null }))
    s = services.get(name)
    assert.equal(config.get().services.overseerr.api_key, s.api_key)
    assert.equal("w-1", s.webhook_secret)
    assert.is_nil(s.options.timeout)
  end)

  it("save() keeps secrets_enc fields apart (the Plex token)", function()
    db.query("DELETE FROM service_config WHERE name = 'plex'")
    assert(services.save("plex", { token = "pt-1" }))
    local row = db.query("SELECT secrets_enc FROM service_config WHERE name = 'plex'")[1]
    assert.is_nil(row.secrets_enc:find("pt-1", 1, true))
    services.forget()
    assert.equal("pt-1", services.get("plex").token)
    assert.same({ set = true, source = "saved" }, services.public_view("plex").secrets.token)
    assert(services.save("plex", { token = json.null }))
    assert.equal(json.null, db.query("SELECT secrets_enc FROM service_config WHERE name = 'plex'")[1].secrets_enc)
    db.query("DELETE FROM service_config WHERE name = 'plex'")
    services.forget()
  end)

  it("public_view() shows settings and where each secret comes from, never its value", function()
    local v = services.public_view(name)
    assert.is_false(v.saved)
    assert(services.save(name, { api_key = "k-view" }, nil))
    v = services.public_view(name)
    assert.is_true(v.saved)
    assert.same({ set = true, source = "saved" }, v.secrets.api_key)
    assert.is_nil(json.encode(v):find("k-view", 1, true))
    assert.is_nil(services.public_view("nope"))
    assert.is_nil(services.save("nope", {}))
  end)

  it("a first save() keeps config.lua's enabled = false", function()
    local cfg = config.get()
    local was = cfg.services.overseerr.enabled
    cfg.services.overseerr.enabled = false
    local ok, err = pcall(function()
      assert(services.save(name, { url = "http://o.test:5055" }))
      assert.is_false(services.get(name).enabled)
      assert(services.save(name, { enabled = true }))
      assert.is_true(services.get(name).enabled)
    end)
    cfg.services.overseerr.enabled = was
    assert(ok, err)
  end)
end)
