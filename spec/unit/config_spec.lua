-- spec/unit/config_spec.lua — defaults, config file, environment, overrides, errors.
local config = require "nest.config"
local h = require "spec.helpers"

local function write(text)
  local path = h.tmpname(".lua")
  local f = assert(io.open(path, "w")); f:write(text); f:close()
  return path
end

describe("config", function()
  -- every load below becomes the generation's config: put the spec run's back
  local saved
  setup(function() saved = config.get() end)
  teardown(function() config.use(saved) end)

  it("has documented defaults", function()
    local cfg = assert(config.load({ root = h.root }))
    assert.equal(16384, cfg.http.max_header_bytes)
    assert.equal(10 * 1024 * 1024, cfg.http.max_body_bytes)
    assert.equal(20, cfg.database.pool_max)
  end)

  it("merges a config file over the defaults", function()
    local cfg = assert(config.load({ root = h.root, config_path = write('return { http = { idle_timeout = 5 } }') }))
    assert.equal(5, cfg.http.idle_timeout)
    assert.equal(10, cfg.http.header_timeout)
  end)

  it("refuses an unknown top-level setting, naming it", function()
    local cfg, err = config.load({ root = h.root, config_path = write('return { lisen = "x" }') })
    assert.is_nil(cfg)
    assert.matches("unknown setting 'lisen'", err)
  end)

  it("accepts the settings whose default is nil (public_url, secret_key)", function()
    local cfg = assert(config.load({ root = h.root, config_path = write(
      'return { public_url = "https://media.example", secret_key = "' .. string.rep("0f", 32) .. '" }') }))
    assert.equal("https://media.example", cfg.public_url)
    assert(config.load({ root = h.root }))
  end)

  it("refuses a malformed listen address", function()
    local cfg, err = config.load({ root = h.root, overrides_json = '{"listen":"nope"}' })
    assert.is_nil(cfg)
    assert.matches("listen: expected host:port", err)
  end)

  it("takes overrides last and parses host and port", function()
    local cfg = assert(config.load({ root = h.root, overrides_json = '{"listen":"127.0.0.2:9999"}' }))
    assert.equal("127.0.0.2", cfg.listen_host)
    assert.equal(9999, cfg.listen_port)
  end)

  it("lets the environment override addresses and secrets", function()
    -- the test command exports DATABASE_URL; the config must carry it
    local url = os.getenv("DATABASE_URL")
    local cfg = assert(config.load({ root = h.root }))
    assert.equal(url, cfg.database.url)
  end)

  it("turns the bench plugin on in demo mode", function()
    local cfg = assert(config.load({ root = h.root, demo = true }))
    local found = false
    for _, n in ipairs(cfg.plugins.enabled) do if n == "bench" then found = true end end
    assert.is_true(found)
  end)
end)
