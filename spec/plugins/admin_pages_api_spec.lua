-- spec/plugins/admin_pages_api_spec.lua — the admin endpoints the admin
-- pages added (issue 15) beside errors and RUM (their own specs):
-- GET /api/v1/admin/server — enabled plugins with versions, and this
-- instance's figures read from its metrics. Anonymous 401, user 403, admin
-- 200. And the users list's live session count (the Users section's column).
local h = require "spec.helpers"
local ha = require "spec.helpers_admin"
local figures = require "plugins.serverinfo.figures"

describe("GET /admin/server (plugins/serverinfo)", function()
  local app, tag, as_admin, as_user

  setup(function()
    app = h.start({ plugins = { "health", "auth", "admin", "runtime", "rum", "serverinfo" } })
    tag = ha.tag("srv")
    as_admin = ha.bearer(app, ha.make_user(tag, "admin", "admin"))
    as_user = ha.bearer(app, ha.make_user(tag, "user"))
  end)
  teardown(function() ha.drop_users(tag); app:stop() end)

  it("answers 401 to nobody and 403 to a user", function()
    ha.assert_guarded({ { "GET", "/api/v1/admin/server" } }, app:client(), as_user)
  end)

  it("lists the enabled plugins with their versions, in load order", function()
    local r = as_admin:get("/api/v1/admin/server")
    assert.equal(200, r.status, r.body)
    assert.equal("no-store", r.headers["cache-control"])
    local names, by = {}, {}
    for i, p in ipairs(r.json.plugins) do names[i] = p.name; by[p.name] = p end
    assert.same({ "admin", "auth", "health", "rum", "runtime", "serverinfo" }, (function()
      local s = { table.unpack(names) }; table.sort(s); return s end)())
    assert.equal("auth", names[1])   -- priority 2000 loads first
    assert.equal("1.1.0", by.rum.version)
    assert.equal("1.0.0", by.serverinfo.version)
  end)

  it("reports requests, their rate and p95, uptime and memory from the metrics", function()
    local before = as_admin:get("/api/v1/admin/server").json.figures
    for _ = 1, 20 do assert.equal(200, app:get("/health").status) end
    local f = as_admin:get("/api/v1/admin/server").json.figures
    assert.is_true(f.requests >= before.requests + 20, ("%d then %d"):format(before.requests, f.requests))
    assert.is_true(f.p95Ms > 0 and f.p95Ms < 5000)
    assert.is_true(f.uptimeSeconds >= 0)
    assert.is_true(f.rssBytes > 1024 * 1024)
    assert.is_true(f.requestsPerSecond > 0)
    local pools = as_admin:get("/api/v1/admin/server").json.pools
    assert.is_boolean(pools.redis.configured)
    assert.is_true(pools.fetch.maxHostConnections >= 1)
  end)

  it("takes quantiles of cumulative buckets like histogram_quantile", function()
    local b = { [0.1] = 50, [0.2] = 90, [0.4] = 100, [math.huge] = 100 }
    assert.near(0.2 + 0.2 * (95 - 90) / 10, figures.quantile(b, 100, 0.95), 1e-9)
    assert.near(0.05, figures.quantile(b, 100, 0.25), 1e-9)
    assert.is_nil(figures.quantile({}, 0, 0.95))
  end)

  it("lists each user's live sessions and tokens in GET /admin/users", function()
    local r = as_admin:get("/api/v1/admin/users?perPage=100&q=" .. tag)
    assert.equal(200, r.status)
    local by = {}
    for _, u in ipairs(r.json.users) do by[u.username] = u.activeSessions end
    assert.equal(1, by[tag .. "-admin"])
    assert.equal(1, by[tag .. "-user"])
    ha.bearer(app, r.json.users[2].id)   -- a second token for the user (ordered by id)
    assert.equal(2, as_admin:get("/api/v1/admin/users?q=" .. tag .. "-user").json.users[1].activeSessions)
  end)
end)
