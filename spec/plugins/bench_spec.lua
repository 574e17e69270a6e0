-- spec/plugins/bench_spec.lua — the benchmark routes answer what bench/db.sh
-- measures: one user by primary key through the pool, and the same answer
-- through the cache (second read from L1, even once the row is gone).
local h = require "spec.helpers"
local db = require "nest.db"

describe("bench plugin", function()
  local app, id
  setup(function()
    local name = "bench-spec-" .. math.random(1, 1e9)
    id = assert(db.query("INSERT INTO users (username) VALUES ($1) RETURNING id", name))[1].id
    app = h.start({ plugins = { "bench" } })
  end)
  teardown(function()
    app:stop()
    db.query("DELETE FROM users WHERE id = $1", id)
  end)

  it("reads one row by primary key through the pool", function()
    local r = app:get("/bench/users/" .. id)
    assert.equal(200, r.status)
    assert.equal(id, r.json.id)
    assert.equal("user", r.json.role)
  end)

  it("serves the cached route from L1 after the first read", function()
    local first = app:get("/bench/users/" .. id .. "/cached")
    assert.equal(200, first.status)
    db.query("UPDATE users SET role = 'admin' WHERE id = $1", id)
    local second = app:get("/bench/users/" .. id .. "/cached")
    assert.equal("user", second.json.role)          -- the cached copy, not the row
    assert.equal("admin", app:get("/bench/users/" .. id).json.role)
  end)

  it("answers 404 for no such row and 400 for a bad id", function()
    assert.equal(404, app:get("/bench/users/999999999999").status)
    assert.equal(400, app:get("/bench/users/abc").status)
    assert.equal(400, app:get("/bench/users/0/cached").status)
  end)
end)
