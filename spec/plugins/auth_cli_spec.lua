-- spec/plugins/auth_cli_spec.lua — `medianest user ...` and `medianest token
-- create`, run as child processes on the suite's database (unique names).
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local proc = require "nest.proc"
local crypto = require "nest.crypto"
local db = require "nest.db"

local function medianest(...)
  local p = assert(proc.spawn({ h.bin(), ... }, { env = {
    DATABASE_URL = os.getenv("DATABASE_URL"), REDIS_URL = os.getenv("REDIS_URL"), MEDIANEST_ROOT = h.root,
    PATH = os.getenv("PATH") } }))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  local code = p:wait()
  return code, out, p:stderr()
end

describe("medianest user / token", function()
  local app
  local name = "cli-" .. crypto.hex(crypto.random(4))

  setup(function()
    app = h.start({ plugins = { "health", "auth" } })
  end)

  teardown(function()
    if app then app:stop() end
  end)

  it("--help on each command, usage errors exit 2", function()
    local code, out = medianest("user", "--help")
    assert.equal(0, code)
    assert.truthy(table.concat(out, "\n"):find("set-role NAME admin|user", 1, true))
    code, out = medianest("token", "--help")
    assert.equal(0, code)
    assert.truthy(out[1]:find("usage: medianest token create NAME", 1, true))
    local err
    code, _, err = medianest("user")
    assert.equal(2, code)
    assert.truthy(err:find("usage", 1, true))
    code, _, err = medianest("user", "set-role", name, "king")
    assert.equal(2, code)
    assert.truthy(err:find("admin|user", 1, true))
    code = medianest("token")
    assert.equal(2, code)
    code, _, err = medianest("user", "frobnicate")
    assert.equal(2, code)
    assert.truthy(err:find("unknown command", 1, true))
  end)

  it("adds, lists, changes the role of, disables and enables a user", function()
    local code, out = medianest("user", "add", name)
    assert.equal(0, code)
    assert.truthy(out[1]:find("added user " .. name, 1, true))
    local err
    code, _, err = medianest("user", "add", name)
    assert.equal(1, code)
    assert.truthy(err:find("already exists", 1, true))

    code, out = medianest("user", "list")
    assert.equal(0, code)
    local line
    for _, l in ipairs(out) do if l:find(" " .. name .. " ", 1, true) then line = l end end
    assert.truthy(line and line:find("user", 1, true) and line:find("active", 1, true))

    assert.equal(0, (medianest("user", "set-role", name, "admin")))
    assert.equal("admin", db.query("SELECT role FROM users WHERE username = $1", name)[1].role)
    code, _, err = medianest("user", "set-role", name .. "-nobody", "admin")
    assert.equal(1, code)
    assert.truthy(err:find("no user named", 1, true))

    assert.equal(0, (medianest("user", "disable", name)))
    assert.is_string(db.query("SELECT disabled_at::text AS d FROM users WHERE username = $1", name)[1].d)
    code, out = medianest("user", "list")
    for _, l in ipairs(out) do if l:find(" " .. name .. " ", 1, true) then line = l end end
    assert.truthy(line:find("disabled", 1, true))
    assert.equal(0, (medianest("user", "enable", name)))
  end)

  it("token create prints a token alone on stdout, which authenticates Bearer requests", function()
    local tname = name .. "-tok"
    assert.equal(0, (medianest("user", "add", tname, "--admin")))
    local code, out, err = medianest("token", "create", tname)
    assert.equal(0, code, err)
    assert.equal(1, #out)
    assert.truthy(out[1]:match("^[%w_%-]+$") and #out[1] == 43)
    local s = ha.bearer(app, out[1]):get("/api/v1/auth/session")
    assert.equal(200, s.status)
    assert.equal(tname, s.json.user.username)
    assert.equal("admin", s.json.user.role)
    -- disabling the user revokes it within a second (Redis tells the server's auth cache)
    assert.equal(0, (medianest("user", "disable", tname)))
    h.wait_until(function() return ha.bearer(app, out[1]):get("/api/v1/auth/session").status == 401 end,
      1, 0.02, "the revoked token refused")
    code, _, err = medianest("token", "create", tname)
    assert.equal(1, code)
    assert.truthy(err:find("disabled", 1, true))
    code, _, err = medianest("token", "create", tname .. "-nobody")
    assert.equal(1, code)
    assert.truthy(err:find("no user named", 1, true))
  end)
end)
