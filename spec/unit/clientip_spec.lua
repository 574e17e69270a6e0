-- spec/unit/clientip_spec.lua — nest.clientip: loopback detection and the
-- client address behind trusted proxies (req.ip).
local clientip = require "nest.clientip"
local request = require "nest.request"
local config = require "nest.config"
local h = require "spec.helpers"

describe("nest.clientip", function()
  it("recognises loopback addresses", function()
    for _, ip in ipairs({ "127.0.0.1", "127.255.0.3", "::1", "::ffff:127.0.0.1", "[::1]" }) do
      assert.is_true(clientip.is_loopback(ip), ip)
    end
    for _, ip in ipairs({ "10.1.2.3", "128.0.0.1", "::2", "", "1270.0.0.1", "::ffff:10.0.0.1" }) do
      assert.is_false(clientip.is_loopback(ip), ip)
    end
  end)

  it("reads X-Forwarded-For from the right, past trusted proxies and CIDR blocks", function()
    local list = { "127.0.0.1", "10.0.0.0/8" }
    assert.equal("192.0.2.7", clientip.resolve("127.0.0.1", "203.0.113.1, 192.0.2.7, 10.9.9.9", list))
    assert.equal("192.0.2.7", clientip.resolve("192.0.2.7", "127.0.0.1", list))   -- untrusted peer
    assert.equal("127.0.0.1", clientip.resolve("127.0.0.1", nil, list))
    assert.equal("10.2.2.2", clientip.resolve("10.1.1.1", "10.2.2.2", list))    -- all trusted: leftmost
    assert.equal("127.0.0.1", clientip.resolve("127.0.0.1", "10.1.2.3", {}))
  end)

  it("request.new sets req.ip to the client and keeps the peer in req.peer_ip", function()
    local saved = config.get()
    assert(config.load({ root = h.root, overrides_json = '{"trusted_proxies":["127.0.0.1"]}' }))
    local req = request.new({ ip = "127.0.0.1", headers = { ["x-forwarded-for"] = "198.51.100.4" } })
    assert.equal("198.51.100.4", req.ip)
    assert.equal("127.0.0.1", req.peer_ip)
    assert(config.load({ root = h.root }))
    req = request.new({ ip = "127.0.0.1", headers = { ["x-forwarded-for"] = "198.51.100.4" } })
    assert.equal("127.0.0.1", req.ip)       -- nobody trusted: the header is ignored
    config.use(saved)
  end)
end)
