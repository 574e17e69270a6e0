-- spec/plugins/auth_setup_spec.lua — the one-time setup link, on a database
-- of its own (the suite's shared database has users already): `serve` is
-- started as a child process on a fresh database, prints the link, and only
-- a sign-in through it makes the first user, an admin.
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local db = require "nest.db"
local proc = require "nest.proc"
local crypto = require "nest.crypto"
local timer = require "nest.timer"

local PIN = "/api/v1/auth/plex/pin"

local function run_script(env, source)
  local path = h.tmpname(".lua")
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  local p = assert(proc.spawn({ h.bin(), "run", path }, { env = env }))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  local code = p:wait()
  os.remove(path)
  assert(code == 0, "medianest run failed: " .. p:stderr())
  return out
end

describe("auth setup link", function()
  local up, server, env, dbname, port, link_token, cfg_path, data_dir

  setup(function()
    dbname = "medianest_auth_setup_" .. crypto.hex(crypto.random(6))
    assert(db.query("CREATE DATABASE " .. dbname))
    local url = os.getenv("DATABASE_URL"):gsub("/([^/?]+)(%??[^/]*)$", "/" .. dbname .. "%2")
    data_dir = h.tmpname("-data")
    env = { DATABASE_URL = url, MEDIANEST_ROOT = h.root, PATH = os.getenv("PATH"),
            MEDIANEST_DATA_DIR = data_dir }
    up = h.start({ plugins = { "health", "demo-upstreams" } })
    cfg_path = h.tmpname(".lua")
    local f = assert(io.open(cfg_path, "w"))
    f:write(([[return {
      listen = "127.0.0.1:0",
      plugins = { enabled = { "health", "ready", "auth" } },   -- ready migrates on start
      services = {
        plextv = { url = %q, app_url = %q },
        plex = { url = %q, token = "demo-token-owner" },
      },
    }]]):format(up:url("/demo/plextv"), up:url("/demo/plextv/auth"), up:url("/demo/plex")))
    f:close()
    server = assert(proc.spawn({ h.bin(), "serve", "-c", cfg_path }, { env = env }))
    -- a read cannot time out: a watchdog ends serve if the line never comes
    local line
    local watchdog = timer.at(20, function() if not line then server:kill() end end)
    repeat
      local l = server:read_line()
      if l == nil then error("serve printed no setup link: " .. server:stderr()) end
      line = l:match("^setup: open .*")
    until line
    watchdog:cancel()
    local p, tok = line:match("^setup: open http://127%.0%.0%.1:(%d+)/setup%?token=([%w_%-]+)$")
    assert(p, "unexpected setup line: " .. line)
    port, link_token = tonumber(p), tok
  end)

  teardown(function()
    if server then server:kill() server:wait() end
    if up then up:stop() end
    if cfg_path then os.remove(cfg_path) end
    if data_dir then os.execute("rm -rf '" .. data_dir .. "'") end
    if dbname then db.query("DROP DATABASE IF EXISTS " .. dbname .. " WITH (FORCE)") end
  end)

  local function client() return h.client("127.0.0.1", port) end

  it("prints the link on the terminal but logs it with the token redacted", function()
    local logged = h.wait_until(function()
      return server:stderr():match('[^\n]*setup: open [^\n]*')
    end, 5, 0.02, "the setup line in the log")
    assert.truthy(logged:find("/setup?token=<redacted", 1, true), logged)
    assert.is_nil(server:stderr():find(link_token, 1, true), "the token reached the log")
  end)

  it("says setup is required and refuses sign-ins that do not come through the link", function()
    local c = client()
    local s = c:get("/api/v1/setup")
    assert.equal(200, s.status)
    assert.is_true(s.json.setupRequired)
    local r = c:post(PIN, {})
    assert.equal(403, r.status)
    assert.equal("SETUP_REQUIRED", r.json.error.code)
    assert.truthy(r.json.error.message:find("setup link", 1, true))
    r = c:post(PIN, { setupToken = "not-the-token-not-the-token-not-the-token" })
    assert.equal(403, r.status)
    assert.equal("SETUP_REQUIRED", r.json.error.code)
    -- an expired link is refused too
    local expired = run_script(env, [[
      local crypto, db = require "nest.crypto", require "nest.db"
      local raw = crypto.token(32)
      assert(db.query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES (decode($1, 'hex'), "
        .. "now() - interval '1 second')", crypto.sha256_hex(raw)))
      print(raw)
    ]])[1]
    r = c:post(PIN, { setupToken = expired })
    assert.equal(403, r.status)
    assert.equal("SETUP_REQUIRED", r.json.error.code)
  end)

  it("makes the first user who signs in through the link admin; the link works once", function()
    local a = client()
    local r = a:post(PIN, { setupToken = link_token })
    assert.equal(201, r.status)
    ha.approve(up, r.json.code, "friend")
    local done = ha.poll(a, r.json.id)
    assert.equal(200, done.status, done.body)
    assert.equal("approved", done.json.status)
    assert.equal("friend", done.json.user.username)
    assert.equal("admin", done.json.user.role)
    assert.is_false(client():get("/api/v1/setup").json.setupRequired)

    -- the same link again: no longer a setup link; the sign-in is an ordinary one
    local b = client()
    r = b:post(PIN, { setupToken = link_token })
    assert.equal(201, r.status)
    ha.approve(up, r.json.code, "owner")
    done = ha.poll(b, r.json.id)
    assert.equal("approved", done.json.status)
    assert.equal("owner", done.json.user.username)
    assert.equal("user", done.json.user.role)
    local rows = run_script(env, [[
      local db = require "nest.db"
      for _, r in ipairs(assert(db.query("SELECT username, role FROM users ORDER BY id"))) do
        print(r.username .. " " .. r.role)
      end
      local t = assert(db.query("SELECT count(*)::int AS n FROM setup_tokens WHERE used_at IS NOT NULL"))
      print("used " .. t[1].n)
    ]])
    assert.same({ "friend admin", "owner user", "used 1" }, rows)
  end)
end)
