-- spec/integration/hardening_input_spec.lua — text PostgreSQL cannot take
-- (invalid UTF-8, NUL) in JSON bodies and query strings is refused with 400
-- INVALID_JSON / VALIDATION_ERROR before it reaches a query, never a 500
-- and a traceback in the log (issue 17). Decided in nest.json.decode (every
-- req:json(), WebSocket message and upstream answer) and in
-- req:query_params() (every query validator).
local h = require "spec.helpers"
local hh = require "spec.helpers_hardening"
local crypto = require "nest.crypto"
local hw = require "spec.helpers_ws"

local TAG = "hin" .. crypto.hex(crypto.random(4))

describe("bad input", function()
  local app, admin, user

  setup(function()
    app = h.start({ plugins = { "health", "auth", "admin", "ws" } })
    admin = hh.bearer(app, TAG .. "-root", "admin")
    user = hh.bearer(app, TAG .. "-plain", "user")
  end)

  teardown(function()
    hh.cleanup(TAG)
    app:stop()
  end)

  -- the access log (the in-process app's log file) records no 500; the
  -- handler's traceback goes with a 500 ("unhandled error"), so none either
  local function no_traceback()
    -- the access log is buffered (flushed within 100 ms): wait for the line
    local log = h.wait_until(function()
      local text = h.read_file(app.log_file) or ""
      return text:find('"status":400', 1, true) and text
    end, 5, 0.02, "the access log line of the 400")
    assert.is_nil(log:find('"status":500', 1, true), "a 500 in the log")
  end

  local function post_raw(c, path, body)
    return assert(c:request("POST", path, { body = body, headers = { ["Content-Type"] = "application/json" } }))
  end

  describe("JSON bodies", function()
    local CASES = {
      { "invalid UTF-8 in a string", '{"name":"caf\xe9"}' },
      { "a lone continuation byte", '{"name":"\x80abc"}' },
      { "an overlong encoding", '{"name":"\xc0\xaf"}' },
      { "a UTF-8 surrogate", '{"name":"\xed\xa0\x80"}' },
      { "\\u0000 in a string", '{"name":"a\\u0000b"}' },
      { "\\u0000 in a key", '{"na\\u0000me":"x"}' },
      { "a raw NUL byte", '{"name":"a\0b"}' },
    }
    for _, case in ipairs(CASES) do
      it("answers 400 INVALID_JSON for " .. case[1], function()
        local r = post_raw(user, "/api/v1/auth/tokens", case[2])
        assert.equal(400, r.status, r.body)
        assert.equal("INVALID_JSON", r.json.error.code)
        no_traceback()
      end)
    end

    it("still takes real UTF-8 and escaped text", function()
      local r = post_raw(user, "/api/v1/auth/tokens", '{"name":"caf\xc3\xa9 \\u00e9 \xf0\x9f\x8e\xac"}')
      assert.equal(201, r.status, r.body)
      assert.equal("café é 🎬", r.json.name)
    end)

    it("refuses the same in a body bound for the admin forms", function()
      local r = assert(admin:request("PUT", "/api/v1/admin/services/plex",
        { body = '{"url":"http://plex.local:32400\\u0000"}', headers = { ["Content-Type"] = "application/json" } }))
      assert.equal(400, r.status, r.body)
      assert.equal("INVALID_JSON", r.json.error.code)
      no_traceback()
    end)
  end)

  describe("query strings", function()
    for _, q in ipairs({ "%00", "a%00b", "%FF", "caf%E9", "%C0%AF" }) do
      it("answers 400 VALIDATION_ERROR for q=" .. q, function()
        local r = admin:get("/api/v1/admin/users?q=" .. q)
        assert.equal(400, r.status, r.body)
        assert.equal("VALIDATION_ERROR", r.json.error.code)
        assert.equal("q", r.json.error.details.field)
        no_traceback()
      end)
    end

    it("names no field when the name itself is not text", function()
      local r = admin:get("/api/v1/admin/users?%FF=1")
      assert.equal(400, r.status)
      assert.equal("query", r.json.error.details.field)
    end)

    it("still searches for real UTF-8", function()
      local r = admin:get("/api/v1/admin/users?q=caf%C3%A9")
      assert.equal(200, r.status, r.body)
    end)
  end)

  describe("WebSocket messages", function()
    it("answers BAD_MESSAGE to \\u0000 and keeps the connection", function()
      local c = assert(hw.connect(app, "/ws", { headers = { Authorization = user.headers.Authorization } }))
      c:send_text('{"event":"ping","data":"a\\u0000b"}')
      local m = assert(c:recv_event(2))
      assert.equal("error", m.event)
      assert.equal("BAD_MESSAGE", m.data.code)
      c:send("ping", { ok = true })
      assert.equal("pong", assert(c:recv_event(2)).event)
      c:close()
      no_traceback()
    end)
  end)
end)
