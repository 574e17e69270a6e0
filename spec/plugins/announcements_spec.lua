-- spec/plugins/announcements_spec.lua — admins' banners: authorization,
-- validation, plain text kept verbatim, scheduled ones, the cap, and the
-- live push to every signed-in connection without subscribing.
local h = require "spec.helpers"
local hs = require "spec.helpers_status"
local db = require "nest.db"

local LIST, ADMIN = "/api/v1/announcements", "/api/v1/admin/announcements"

local function iso(offset)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + offset)
end

describe("announcements", function()
  local up, app, alice, root, as_alice, as_root, anon

  setup(function()
    up = hs.upstreams()
    app = hs.start(up, { interval = 60 })
    alice, root = hs.user("aalice"), hs.user("aroot", "admin")
    as_alice, as_root, anon = alice:client(app), root:client(app), app:client()
  end)

  teardown(function()
    if app then app:stop() end
    if up then up:stop() end
  end)

  before_each(function() assert(db.query("DELETE FROM announcements")) end)

  it("are read by users, written and deleted by admins only", function()
    assert.equal(401, anon:get(LIST).status)
    assert.equal(401, anon:post(ADMIN, { message = "x" }).status)
    assert.equal(403, as_alice:post(ADMIN, { message = "x" }).status)
    local r = as_root:post(ADMIN, { message = "Plex restarts at 22:00", level = "warning" })
    assert.equal(201, r.status)
    local a = r.json.announcement
    assert.equal("Plex restarts at 22:00", a.message)
    assert.equal("warning", a.level)
    assert.equal(require("cjson").null, a.startsAt)
    assert.is_string(a.createdAt)
    local id = math.tointeger(a.id)
    assert.same({ a }, as_alice:get(LIST).json.announcements)
    assert.equal(403, as_alice:delete(ADMIN .. "/" .. id).status)
    assert.equal(401, anon:delete(ADMIN .. "/" .. id).status)
    assert.equal(204, as_root:delete(ADMIN .. "/" .. id).status)
    assert.equal(404, as_root:delete(ADMIN .. "/" .. id).status)
    assert.equal(404, as_root:delete(ADMIN .. "/abc").status)
    assert.equal(0, #as_alice:get(LIST).json.announcements)
  end)

  it("keep the message as plain text, verbatim", function()
    local html = '<img src=x onerror="alert(1)"> & <b>bold</b>'
    local r = as_root:post(ADMIN, { message = html })
    assert.equal(201, r.status)
    assert.equal(html, as_alice:get(LIST).json.announcements[1].message)
    assert.equal("info", r.json.announcement.level)
  end)

  it("refuse bad input with 400 naming the field", function()
    local function refused(body, field)
      local r = as_root:post(ADMIN, body)
      assert.equal(400, r.status, r.body)
      assert.equal("VALIDATION_ERROR", r.json.error.code)
      if field then assert.equal(field, r.json.error.details.field) end
    end
    refused({}, "message")
    refused({ message = "   " }, "message")
    refused({ message = ("x"):rep(1001) }, "message")
    refused({ message = "bell\7" }, "message")
    refused({ message = "hi", level = "panic" }, "level")
    refused({ message = "hi", startsAt = "tomorrow" }, "startsAt")
    refused({ message = "hi", endsAt = iso(-60) }, "endsAt")
    refused({ message = "hi", startsAt = iso(7200), endsAt = iso(3600) }, "endsAt")
    refused({ message = "hi", colour = "red" }, "colour")
    assert.equal(0, #as_alice:get(LIST).json.announcements)
  end)

  it("list scheduled ones with their window, not ended ones", function()
    local r = as_root:post(ADMIN, { message = "Maintenance tonight", level = "critical",
                                     startsAt = iso(3600), endsAt = iso(7200) })
    assert.equal(201, r.status)
    assert.truthy(r.json.announcement.startsAt:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
    assert(db.query("INSERT INTO announcements (message, ends_at, created_at) VALUES ('old', now() - interval '1 minute', now() - interval '1 hour')"))
    local list = as_alice:get(LIST).json.announcements
    assert.equal(1, #list)
    assert.equal("Maintenance tonight", list[1].message)
  end)

  it("are bounded: beyond 20 current or scheduled ones, 409", function()
    for i = 1, 20 do assert.equal(201, as_root:post(ADMIN, { message = "n" .. i }).status) end
    local r = as_root:post(ADMIN, { message = "one too many" })
    assert.equal(409, r.status)
    assert.equal("TOO_MANY_ANNOUNCEMENTS", r.json.error.code)
  end)

  it("reach every signed-in connection live, without subscribing", function()
    local wu, wa = hs.ws(app, alice), hs.ws(app, root)
    local r = as_root:post(ADMIN, { message = "Live news", level = "info", endsAt = iso(600) })
    assert.equal(201, r.status)
    local id = r.json.announcement.id
    for _, w in ipairs({ wu, wa }) do
      local m = h.wait_until(function()
        local e = w:recv_event(0.5)
        return e and e.event == "announcement:new" and e
      end, 5)
      assert.same(r.json.announcement, m.data.announcement)
    end
    assert.equal(204, as_root:delete(ADMIN .. "/" .. math.tointeger(id)).status)
    for _, w in ipairs({ wu, wa }) do
      local m = h.wait_until(function()
        local e = w:recv_event(0.5)
        return e and e.event == "announcement:removed" and e
      end, 5)
      assert.equal(id, m.data.id)
    end
    wu:close() wa:close()
  end)
end)
