-- spec/unit/secrets_spec.lua — nest.secrets: sealing under the master key,
-- purposes kept apart, and the 0600 key file made on first use.
local h = require "spec.helpers"
local secrets = require "nest.secrets"
local fs = require "nest.core.fs"
local core = require "nest.core.crypto"

describe("nest.secrets", function()
  it("seals and opens under one purpose, and refuses another purpose", function()
    local blob = secrets.seal("plex-token-123", "plex_token")
    assert.is_nil(blob:find("plex-token-123", 1, true))
    assert.equal("plex-token-123", secrets.open(blob, "plex_token"))
    local v, err = secrets.open(blob, "service:plex:token")
    assert.is_nil(v)
    assert.equal("decrypt failed", err)
  end)

  it("gives a different blob every time (random nonce)", function()
    assert.not_equal(secrets.seal("x", "p"), secrets.seal("x", "p"))
  end)

  it("refuses a tampered blob", function()
    local blob = secrets.seal("secret", "p")
    local bad = blob:sub(1, -2) .. string.char((blob:byte(-1) + 1) % 256)
    assert.is_nil(secrets.open(bad, "p"))
  end)

  it("key_file creates a 0600 key once and reads the same key back", function()
    local dir = h.tmpname() .. "/a/b"
    assert.is_true(fs.mkdir_p(dir))
    local path = dir .. "/secret.key"
    local k1 = assert(core.key_file(path))
    assert.equal(32, #k1)
    assert.equal(k1, core.key_file(path))
    local p = io.popen("stat -c %a '" .. path .. "'")
    assert.equal("600", p:read("l"))
    p:close()
    os.execute("chmod 644 '" .. path .. "'")
    local k, err = core.key_file(path)
    assert.is_nil(k)
    assert.matches("readable by others", err)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("mkdir_p reports a path blocked by a file", function()
    local f = h.tmpname()
    io.open(f, "w"):close()
    local ok, err = fs.mkdir_p(f .. "/x")
    assert.is_nil(ok)
    assert.matches("Not a directory", err)
    os.remove(f)
  end)
end)
