-- spec/plugins/errors_spec.lua — client error reports (plugins/errors):
-- POST /api/v1/errors checks and bounds its input, scrubs query strings and
-- secrets before storing, groups repeats by message + top frame (count,
-- pages, browsers), is rate-limited per IP and per user; GET and DELETE
-- /api/v1/admin/errors are admins' only.
local h = require "spec.helpers"
local ha = require "spec.helpers_admin"
local db = require "nest.db"

local PATH = "/api/v1/errors"
local UA_FF = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
local UA_CR = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

describe("plugins/errors", function()
  local app, tag, admin, user, as_admin, as_user, anon

  local function rows_like(msg)
    return assert(db.query([[SELECT count, message, stack, url, user_agent, release, pages::text AS pages,
                                    browsers::text AS browsers, user_id
                             FROM error_reports WHERE message LIKE $1]], msg))
  end

  local function report(c, body, headers)
    return assert(c:post(PATH, body, { headers = headers }))
  end

  setup(function()
    -- rate limits in process (no Redis): the window is this app's alone
    app = h.start({ config = { redis = { url = "" }, plugins = {
      enabled = { "health", "auth", "errors" },
      settings = { errors = { rate_limit = 30, rate_window = 3600 } } } } })
    tag = ha.tag("err")
    admin = ha.make_user(tag, "admin", "admin")
    user = ha.make_user(tag, "user")
    as_admin, as_user, anon = ha.bearer(app, admin), ha.bearer(app, user), app:client()
    db.query("DELETE FROM error_reports WHERE message LIKE 'spec-%'")
  end)
  teardown(function()
    db.query("DELETE FROM error_reports WHERE message LIKE 'spec-%'")
    ha.drop_users(tag)
    app:stop()
  end)

  it("stores a report, groups a repeat by message and top frame, and keeps pages and browsers", function()
    local body = { message = "spec-TypeError: x is undefined", release = "1.2.3",
      url = "http://nest.example/library/12?token=abc#frag",
      stack = "TypeError: x is undefined\n    at draw (http://nest.example/assets/library-ABC.js?v=1:10:20)\n    at go (http://nest.example/assets/app.js:1:2)",
      line = 10, column = 20 }
    assert.equal(204, report(as_user, body, { ["User-Agent"] = UA_FF }).status)
    body.url = "http://nest.example/requests"
    assert.equal(204, report(anon, body, { ["User-Agent"] = UA_CR }).status)
    assert.equal(204, report(anon, body, { ["User-Agent"] = UA_CR }).status)
    local rows = rows_like("spec-TypeError%")
    assert.equal(1, #rows)
    assert.equal(3, rows[1].count)
    assert.equal('{/library/12,/requests}', rows[1].pages)
    assert.equal('{"Firefox 121","Chrome 120"}', rows[1].browsers)
    assert.equal(user, rows[1].user_id)   -- anonymous repeats keep the last known user
    -- another top frame is another bug
    body.stack = "TypeError: x is undefined\n    at other (http://nest.example/assets/app.js:99:1)"
    assert.equal(204, report(anon, body).status)
    assert.equal(2, #rows_like("spec-TypeError%"))
  end)

  it("scrubs query strings, fragments, bearer tokens and key=value secrets", function()
    local r = report(anon, { message = "spec-leak Bearer abc.DEF-123 token=s3cr3t apiKey: \"k3y\"",
      url = "https://nest.example/settings?code=xyz#access_token=t0k",
      stack = "Error\n at f (https://nest.example/a.js?session=zzz:1:2) password=hunter2",
      userAgent = UA_FF, release = "dev" })
    assert.equal(204, r.status, r.body)
    local row = rows_like("spec-leak%")[1]
    local all = row.message .. row.stack .. row.url
    for _, secret in ipairs({ "abc.DEF-123", "s3cr3t", "k3y", "xyz", "t0k", "zzz", "hunter2" }) do
      assert.is_nil(all:find(secret, 1, true), secret .. " was stored: " .. all)
    end
    assert.equal("https://nest.example/settings", row.url)
    assert.matches("Bearer %[scrubbed%]", row.message)
    assert.equal(UA_FF, row.user_agent)
  end)

  it("scrubs in time linear in the input, whatever it holds", function()
    local report_mod = require "plugins.errors.report"
    local napp = require "nest.core.app"
    for _, s in ipairs({ ("s"):rep(16000), ("token"):rep(3200), ("/a"):rep(8000), ("a=b:"):rep(4000),
                         ("http://"):rep(2200), ("bearer "):rep(2200) }) do
      local t0 = napp.now()
      report_mod.scrub(s)
      -- a quadratic scrubber took minutes on these 16 KB; a linear one takes
      -- milliseconds (tens under the sanitizers): the bound tells them apart
      assert.is_true(napp.now() - t0 < 0.5, "slow scrub of " .. s:sub(1, 12))
    end
    assert.equal("a:token=[scrubbed] x", report_mod.scrub("a:token=c x"))
    assert.equal("go /library/12 now", report_mod.scrub("go /library/12?q=1#top now"))
  end)

  it("refuses bad reports with the field, and cuts overlong strings", function()
    local cases = {
      { {}, "message" },
      { { message = "spec-x", url = "/", release = 1 }, "release" },
      { { message = "spec-x", url = "/", release = "1", line = -1 }, "line" },
      { { message = "spec-x", url = "/", release = "1", line = 1.5 }, "line" },
      { { message = "spec-x", url = "/", release = "1", cookie = "a" }, "cookie" },
      { { message = "  ", url = "/", release = "1" }, "message" },
    }
    for _, c in ipairs(cases) do
      local r = report(anon, c[1])
      assert.equal(400, r.status, r.body)
      assert.equal("VALIDATION_ERROR", r.json.error.code)
      assert.equal(c[2], r.json.error.details.field)
    end
    local bad = assert(anon:post(PATH, nil, { body = "{nope", headers = { ["Content-Type"] = "application/json" } }))
    assert.equal(400, bad.status)
    assert.equal("INVALID_JSON", bad.json.error.code)
    local big = assert(anon:post(PATH, nil, { body = ('{"message":"%s"}'):format(("x"):rep(17000)),
      headers = { ["Content-Type"] = "application/json" } }))
    assert.equal(413, big.status)
    local long = report(anon, { message = "spec-long " .. ("é"):rep(1500), url = "/", release = "1",
                                stack = ("s"):rep(12000) })
    assert.equal(204, long.status, long.body)
    local row = rows_like("spec-long%")[1]
    assert.is_true(#row.message <= 2000)
    assert.truthy(utf8.len(row.message))   -- cut on a character boundary
  end)

  it("lists the groups to admins only, newest first, and deletes one", function()
    ha.assert_guarded({ { "GET", "/api/v1/admin/errors" }, { "DELETE", "/api/v1/admin/errors/1" } }, anon, as_user)
    local r = as_admin:get("/api/v1/admin/errors?perPage=100")
    assert.equal(200, r.status)
    local found
    for _, e in ipairs(r.json.errors) do if e.message == "spec-TypeError: x is undefined" then found = e end end
    assert.truthy(found)
    assert.equal(64, #found.fingerprint)
    assert.same({ "/library/12", "/requests" }, found.pages)
    assert.matches("^%d%d%d%d%-", found.firstSeenAt)
    assert.is_true(r.json.totalResults >= 3)
    local one = ("/api/v1/admin/errors/%d"):format(found.id)
    assert.equal(204, as_admin:delete(one).status)
    assert.equal(404, as_admin:delete(one).status)
    assert.equal(400, as_admin:get("/api/v1/admin/errors?perPage=101").status)
  end)

  it("limits reports per IP, and per user wherever they come from", function()
    -- earlier tests spent some of this IP's 30; the limit is reached within 30 more
    local seen429
    for i = 1, 31 do
      local r = report(anon, { message = "spec-flood " .. i, url = "/", release = "1" })
      if r.status == 429 then seen429 = r; break end
      assert.equal(204, r.status)
    end
    assert.truthy(seen429, "no 429 within the limit")
    assert.equal("RATE_LIMITED", seen429.json.error.code)
    assert.truthy(tonumber(seen429.headers["retry-after"]) >= 1)
    -- nothing past the limit was stored
    local n = #rows_like("spec-flood%")
    assert.is_true(n < 31)
  end)
end)
