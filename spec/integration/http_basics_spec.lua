-- spec/integration/http_basics_spec.lua — the runtime answers over real sockets.
local h = require "spec.helpers"

describe("the HTTP server", function()
  local app
  setup(function() app = h.start({ plugins = { "health", "bench" } }) end)
  teardown(function() app:stop() end)

  it("answers GET /health with ok", function()
    local res = assert(app:get("/health"))
    assert.equal(200, res.status)
    assert.same({ status = "ok" }, res.json)
  end)

  it("serves the bench status shape", function()
    local res = assert(app:get("/bench/status"))
    assert.equal(200, res.status)
    assert.equal(8, #res.json.services)
    assert.equal("service-0", res.json.services[1].name)
    assert.is_false(res.json.degraded)
  end)

  it("answers 404 in the error envelope with the request id", function()
    local res = assert(app:get("/api/v1/nothing-here"))
    assert.equal(404, res.status)
    assert.equal("NOT_FOUND", res.json.error.code)
    assert.equal(res.headers["x-request-id"], res.json.error.requestId)
  end)
end)
