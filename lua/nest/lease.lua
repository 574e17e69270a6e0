-- nest/lease.lua — work that runs once per cluster, however many instances
-- (and worker processes) share the PostgreSQL database: the status poller,
-- the requests sync, purges, lease recovery of job queues.
--
--   local lease = require "nest.lease"
--   -- every instance calls this each cycle; one of them gets true
--   if lease.hold("status-poller", 2 * interval) then run_cycle() end
--   lease.release("status-poller")          -- on shutdown (destroy): hand over at once
--   lease.holder("status-poller")           -- -> holder id | nil (who has it now)
--   (hold and release take an optional last argument, the holder id; the
--   default is this app's instance id)
--
-- A lease is a row in cluster_leases (migration 0008): taken when free or
-- expired, renewed by its holder, one atomic statement either way, so two
-- instances never both hold it. The holder id is this app's instance id
-- (nest.invalidate), shared by its generations: a reload keeps the lease.
-- ttl (seconds) should exceed the renewal period (e.g. twice the cycle), so
-- a holder that dies is replaced within one ttl. Errors (database down)
-- count as not holding: the caller skips the cycle and tries again later.
local db = require "nest.db"
local invalidate = require "nest.invalidate"

local M = {}

local HOLD = [[
  INSERT INTO cluster_leases AS l (name, holder, expires_at)
  VALUES ($1, $2, now() + make_interval(secs => $3))
  ON CONFLICT (name) DO UPDATE
    SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
        acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END
    WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
  RETURNING holder]]

-- true when this instance holds `name` for the next ttl seconds; false, or
-- nil + err on a database error.
function M.hold(name, ttl, holder)
  assert(type(name) == "string" and name:match("^[a-z][a-z0-9_.:-]*$"), "lease.hold: bad name")
  assert(type(ttl) == "number" and ttl > 0, "lease.hold: ttl must be a positive number of seconds")
  local rows, err = db.query({ HOLD, prepare = "lease_hold" }, name, holder or invalidate.instance_id(), ttl + 0.0)
  if not rows then return nil, err end
  return rows[1] ~= nil
end

function M.release(name, holder)
  local r, err = db.query({ "DELETE FROM cluster_leases WHERE name = $1 AND holder = $2",
                            prepare = "lease_release" }, name, holder or invalidate.instance_id())
  if not r then return nil, err end
  return r.affected > 0
end

function M.holder(name)
  local rows, err = db.query({ "SELECT holder FROM cluster_leases WHERE name = $1 AND expires_at >= now()",
                               prepare = "lease_holder" }, name)
  if not rows then return nil, err end
  return rows[1] and rows[1].holder or nil
end

return M
