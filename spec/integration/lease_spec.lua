-- spec/integration/lease_spec.lua — nest.lease: once-per-cluster work, two
-- holders (as two instances would be) on one PostgreSQL.
local db = require "nest.db"
local lease = require "nest.lease"
local h = require "spec.helpers"

describe("nest.lease", function()
  before_each(function() db.configure({ url = os.getenv("DATABASE_URL"), pool_max = 4 }) end)

  local function fresh() return "spec-lease-" .. math.random(1, 1e9) end

  it("lets one of two holders have a lease, and the other once it is released", function()
    local name = fresh()
    assert.is_true(lease.hold(name, 30, "a"))
    assert.is_false(lease.hold(name, 30, "b"))
    assert.is_true(lease.hold(name, 30, "a"))          -- the holder renews
    assert.equal("a", lease.holder(name))
    assert.is_false(lease.release(name, "b"))          -- only the holder releases
    assert.is_true(lease.release(name, "a"))
    assert.is_nil(lease.holder(name))
    assert.is_true(lease.hold(name, 30, "b"))
    assert.is_false(lease.hold(name, 30, "a"))
  end)

  it("gives an expired lease to the next holder that asks", function()
    local name = fresh()
    assert.is_true(lease.hold(name, 0.2, "a"))
    assert.is_false(lease.hold(name, 30, "b"))
    h.wait_until(function() return lease.hold(name, 30, "b") end, 5)
    assert.equal("b", lease.holder(name))
  end)

  it("defaults the holder to this app's instance id", function()
    local name = fresh()
    assert.is_true(lease.hold(name, 30))
    assert.equal(require("nest.invalidate").instance_id(), lease.holder(name))
    assert.is_true(lease.release(name))
  end)
end)
