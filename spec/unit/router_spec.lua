-- spec/unit/router_spec.lua — route matching, params, 405 Allow, HEAD, /api alias.
local router = require "nest.router"

describe("the router", function()
  local r
  before_each(function()
    r = router.new()
    r:get("/media/requests/{id}", { auth = "public" }, function() end)
    r:delete("/media/requests/{id}", { auth = "public" }, function() end)
    r:get("/files/{rest*}", { auth = "public" }, function() end)
    r:get("/health", { auth = "public", at_root = true }, function() end)
  end)

  it("matches API routes under /api/v1 with decoded params", function()
    local route, params = r:match("GET", "/api/v1/media/requests/4%2F2")
    assert.equal("/api/v1/media/requests/{id}", route.pattern)
    assert.equal("4/2", params.id)
  end)

  it("treats /api/... as an alias of /api/v1/...", function()
    local route = r:match("GET", "/api/media/requests/7")
    assert.equal("/api/v1/media/requests/{id}", route.pattern)
  end)

  it("answers HEAD with the GET route", function()
    assert.equal("GET", (r:match("HEAD", "/health")).method)
  end)

  it("reports the allowed methods for a known path", function()
    local route, allow = r:match("PUT", "/api/v1/media/requests/1")
    assert.is_nil(route)
    assert.equal("DELETE, GET, HEAD", allow)
  end)

  it("gives nothing for an unknown path", function()
    local route, allow = r:match("GET", "/api/v1/nope")
    assert.is_nil(route)
    assert.is_nil(allow)
  end)

  it("lets a last {name*} segment take the rest of the path", function()
    local _, params = r:match("GET", "/api/v1/files/a/b/c.txt")
    assert.equal("a/b/c.txt", params.rest)
  end)

  it("refuses a duplicate route", function()
    assert.has_error(function() r:get("/health", { at_root = true }, function() end) end)
  end)

  it("keeps a route's body_limit, and refuses one that is not a positive integer or on GET", function()
    assert.equal(4096, r:post("/forms", { body_limit = 4096 }, function() end).body_limit)
    assert.is_nil(r:put("/forms", {}, function() end).body_limit)
    for _, bad in ipairs({ 0, -1, 1.5, "4096" }) do
      assert.has_error(function() r:patch("/forms", { body_limit = bad }, function() end) end)
    end
    assert.has_error(function() r:get("/forms", { body_limit = 10 }, function() end) end)
  end)
end)
