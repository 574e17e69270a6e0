-- spec/plugins/notifications_spec.lua — nest.notify and the notifications
-- routes: stored once per event key, pushed live to that user's
-- connections only, listed newest first in pages with the unread count,
-- marked read by ids (all-or-nothing, another user's id is 404) or all,
-- every route's authorization.
local h = require "spec.helpers"
local hs = require "spec.helpers_status"
local notify = require "nest.notify"
local db = require "nest.db"

local LIST, READ = "/api/v1/notifications", "/api/v1/notifications/read"

describe("notifications", function()
  local up, app, alice, bob, as_alice, as_bob, anon

  setup(function()
    up = hs.upstreams()
    app = hs.start(up, { interval = 60 }, { plugins = { "health", "auth", "ws", "notifications" } })
    alice, bob = hs.user("nalice"), hs.user("nbob")
    as_alice, as_bob, anon = alice:client(app), bob:client(app), app:client()
  end)

  teardown(function()
    if app then app:stop() end
    if up then up:stop() end
  end)

  before_each(function()
    db.query("DELETE FROM notifications WHERE user_id IN ($1, $2)", alice.id, bob.id)
  end)

  local function seed(user, n)
    local ids = {}
    for i = 1, n do
      ids[i] = assert(notify.user(user.id, { type = "spec_note", title = "Note " .. i, body = "body " .. i,
                                             link = "/requests/" .. i, data = { n = i } })).id
    end
    return ids
  end

  it("refuses anonymous callers with 401", function()
    assert.equal(401, anon:get(LIST).status)
    assert.equal(401, anon:post(READ, { all = true }).status)
  end)

  it("stores a notification once per event key", function()
    local first = notify.user(alice.id, { type = "request_available", title = "Interstellar is available",
                                          key = "request:7:available" })
    assert.truthy(first and first.id)
    assert.is_false(notify.user(alice.id, { type = "request_available", title = "again", key = "request:7:available" }))
    -- the same key for another user is that user's own event
    assert.truthy(notify.user(bob.id, { type = "request_available", title = "for bob", key = "request:7:available" }))
    local r = as_alice:get(LIST)
    assert.equal(1, #r.json.notifications)
    assert.equal("Interstellar is available", r.json.notifications[1].title)
  end)

  it("lists the user's own notifications newest first, in pages, with the unread count", function()
    local ids = seed(alice, 25)
    seed(bob, 3)
    local r = as_alice:get(LIST .. "?limit=10")
    assert.equal(200, r.status)
    assert.equal(10, #r.json.notifications)
    assert.equal(25, r.json.unread)
    local n = r.json.notifications[1]
    assert.equal(ids[25], n.id)
    assert.same({ id = ids[25], type = "spec_note", title = "Note 25", body = "body 25", link = "/requests/25",
                  data = { n = 25 }, read = false, createdAt = n.createdAt }, n)
    assert.equal(ids[16], r.json.nextBefore)
    local seen = #r.json.notifications
    local before = r.json.nextBefore
    while before ~= require("cjson").null do
      r = as_alice:get(LIST .. "?limit=10&before=" .. math.tointeger(before))
      assert.equal(200, r.status)
      for _, x in ipairs(r.json.notifications) do
        assert.truthy(x.id < before)
        assert.truthy(x.title:match("^Note %d+$"))
      end
      seen = seen + #r.json.notifications
      before = r.json.nextBefore
    end
    assert.equal(25, seen)
    assert.equal(20, #as_alice:get(LIST).json.notifications)   -- the default page
  end)

  it("validates the query", function()
    assert.equal(400, as_alice:get(LIST .. "?limit=0").status)
    assert.equal(400, as_alice:get(LIST .. "?limit=51").status)
    assert.equal(400, as_alice:get(LIST .. "?before=abc").status)
  end)

  it("marks chosen ones read and answers the unread count", function()
    local ids = seed(alice, 3)
    local r = as_alice:post(READ, { ids = { ids[1], ids[2] } })
    assert.equal(200, r.status)
    assert.same({ unread = 1 }, r.json)
    local list = as_alice:get(LIST).json
    assert.is_false(list.notifications[1].read)
    assert.is_true(list.notifications[2].read)
    assert.is_string(list.notifications[2].readAt)
    -- marking again is harmless
    assert.same({ unread = 1 }, as_alice:post(READ, { ids = { ids[1] } }).json)
  end)

  it("answers 404 for another user's notification and marks nothing", function()
    local mine, theirs = seed(alice, 1), seed(bob, 1)
    local r = as_alice:post(READ, { ids = { mine[1], theirs[1] } })
    assert.equal(404, r.status)
    assert.equal("NOT_FOUND", r.json.error.code)
    assert.equal(1, as_alice:get(LIST).json.unread)
    assert.equal(1, as_bob:get(LIST).json.unread)
  end)

  it("marks all read", function()
    seed(alice, 4)
    seed(bob, 2)
    assert.same({ unread = 0 }, as_alice:post(READ, { all = true }).json)
    assert.equal(0, as_alice:get(LIST).json.unread)
    assert.equal(2, as_bob:get(LIST).json.unread)
  end)

  it("refuses a malformed read request with 400", function()
    assert.equal(400, as_alice:post(READ, {}).status)
    assert.equal(400, as_alice:post(READ, { ids = {} }).status)
    assert.equal(400, as_alice:post(READ, { ids = { "x" } }).status)
    assert.equal(400, as_alice:post(READ, { ids = { -1 } }).status)
    local many = {}
    for i = 1, 101 do many[i] = i end
    assert.equal(400, as_alice:post(READ, { ids = many }).status)
  end)

  it("pushes a new notification to the user's connections only", function()
    local wa, wb = hs.ws(app, alice), hs.ws(app, bob)
    local n
    h.wait_until(function()
      -- the relay of the app may not be subscribed yet: notify again until it is
      n = notify.user(alice.id, { type = "spec_live", title = "Live one" })
      local m = wa:recv_event(0.3)
      return m and m.event == "notification" and m.data.title == "Live one" and m
    end, 10)
    for _, m in ipairs(hs.drain(wb, 0.5)) do assert.not_equal("notification", m.event) end
    assert.equal("spec_live", n.type)
    wa:close() wb:close()
  end)
end)
