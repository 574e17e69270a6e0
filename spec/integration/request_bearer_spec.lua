-- spec/integration/request_bearer_spec.lua — req:bearer(), the one reading
-- of `Authorization: Bearer <token>` that auth, /metrics and /ws share
-- (issue 17: three copies had three rules).
local request = require "nest.request"

local function bearer(authz)
  return request.new({ method = "GET", path = "/", headers = { authorization = authz },
                       ip = "127.0.0.1", id = "spec" }):bearer()
end

describe("req:bearer()", function()
  it("reads the token whatever the scheme's case, with whitespace around it", function()
    assert.equal("tok-1", bearer("Bearer tok-1"))
    assert.equal("tok-1", bearer("bearer tok-1"))
    assert.equal("tok-1", bearer("BEARER   tok-1  "))
    assert.equal("tok-1", bearer("  Bearer\ttok-1"))
  end)

  it("is nil without a header, for other schemes, and for tokens with spaces", function()
    assert.is_nil(bearer(nil))
    assert.is_nil(bearer(""))
    assert.is_nil(bearer("Bearer"))
    assert.is_nil(bearer("Bearer "))
    assert.is_nil(bearer("Basic dXNlcjpwYXNz"))
    assert.is_nil(bearer("Bearertok"))
    assert.is_nil(bearer("Bearer a b"))
  end)
end)
