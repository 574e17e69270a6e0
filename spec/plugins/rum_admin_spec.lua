-- spec/plugins/rum_admin_spec.lua — the stored web-vitals aggregates
-- (plugins/rum/store.lua) and GET /api/v1/admin/rum: reports land in
-- rum_histograms, are the same for another instance and after a restart,
-- and read back as per-page p75, counts and good / needs improvement / poor
-- shares by web-vitals' thresholds; admins only.
local h = require "spec.helpers"
local ha = require "spec.helpers_admin"
local db = require "nest.db"
local summary = require "plugins.rum.summary"

local PATH = "/api/v1/analytics/rum"

local function start()
  return h.start({ plugins = { "health", "auth", "rum" }, config = { redis = { url = "" } } })
end

local function beacon(app, metrics)
  local r = assert(app:post(PATH, { metrics = metrics }))
  assert.equal(204, r.status, r.body)
end

local function page_of(body, page)
  for _, p in ipairs(body.pages) do if p.page == page then return p end end
end

describe("plugins/rum stored aggregates and GET /admin/rum", function()
  local app, other, tag, as_admin

  setup(function()
    assert(db.query("DELETE FROM rum_histograms"))
    app, other = start(), start()
    tag = ha.tag("rum")
    as_admin = ha.bearer(app, ha.make_user(tag, "admin", "admin"))
  end)
  teardown(function()
    ha.drop_users(tag)
    app:stop(); if other then other:stop() end
  end)

  it("answers 401 to nobody, 403 to a user, and refuses an unknown range", function()
    local user = ha.bearer(app, ha.make_user(tag, "user"))
    ha.assert_guarded({ { "GET", "/api/v1/admin/rum" }, { "GET", "/api/v1/admin/rum?range=7d" } }, app:client(), user)
    local r = as_admin:get("/api/v1/admin/rum?range=1y")
    assert.equal(400, r.status)
    assert.equal("range", r.json.error.details.field)
  end)

  it("adds reports from every instance and reads p75 and the good / poor shares", function()
    -- LCP on /library: 2 good (<= 2500), 1 needs improvement, 1 poor (> 4000)
    beacon(app, { { name = "LCP", value = 900, page = "/library" }, { name = "LCP", value = 2400, page = "/library/7" } })
    beacon(other, { { name = "LCP", value = 3500, page = "/library" }, { name = "LCP", value = 9000, page = "/library" },
                    { name = "CLS", value = 0.02, page = "/settings" } })
    local r = as_admin:get("/api/v1/admin/rum?range=24h")
    assert.equal(200, r.status, r.body)
    assert.equal("hour", r.json.unit)
    local lib = page_of(r.json, "/library").metrics.LCP
    assert.equal(4, lib.count)
    assert.equal(0.5, lib.good)
    assert.equal(0.25, lib.needsImprovement)
    assert.equal(0.25, lib.poor)
    -- the 3rd of 4 samples is in the (3000, 4000] bucket: p75 is inside it
    assert.is_true(lib.p75 > 3000 and lib.p75 <= 4000, tostring(lib.p75))
    assert.equal((900 + 2400 + 3500 + 9000) / 4, lib.mean)
    local all = page_of(r.json, "*")
    assert.equal(4, all.metrics.LCP.count)
    assert.equal(1, all.metrics.CLS.count)
    assert.equal(1, page_of(r.json, "/settings").metrics.CLS.good)
    assert.equal(0, all.metrics.INP.count)
    assert.equal(1, #r.json.series)
    assert.equal(r.json.series[1].LCP, lib.p75)
    -- the other instance answers the same
    local again = ha.bearer(other, ha.make_user(tag, "admin2", "admin")):get("/api/v1/admin/rum")
    assert.same(r.json.pages, again.json.pages)
  end)

  it("keeps the aggregates across a restart", function()
    other:stop(); other = nil
    app:stop()
    app = start()
    as_admin = ha.bearer(app, ha.make_user(tag, "admin3", "admin"))
    local r = as_admin:get("/api/v1/admin/rum?range=7d")
    assert.equal(200, r.status)
    assert.equal("day", r.json.unit)
    assert.equal(4, page_of(r.json, "/library").metrics.LCP.count)
  end)

  it("accepts exactly the web UI's page keys (static/src/page-keys.json, which routes.js exports)", function()
    local ui = {}
    for _, k in ipairs(require("nest.json").decode(h.read_file(h.root .. "/static/src/page-keys.json"))) do
      ui[k] = true
    end
    assert.same(ui, require("plugins.rum.pages"))
    assert.truthy(h.read_file(h.root .. "/static/src/routes.js"):find("from './page-keys.json'", 1, true))
  end)

  it("takes p75 within the bucket, and the lower bound in the last one", function()
    -- (50, 100]: 3 of 4 samples is 3/4 of the way through it
    assert.equal(87.5, summary.quantile("LCP", { [100] = 4 }, 4, 0.75))
    assert.equal(20000, summary.quantile("LCP", { [math.huge] = 4 }, 4, 0.75))
    assert.is_nil(summary.quantile("LCP", {}, 0, 0.75))
  end)
end)
