-- plugins/requests/sync.lua — the webhook's backstop: every `sync_interval`
-- seconds one instance of the cluster (nest.lease) asks Overseerr for the
-- state of the requests that are not final, so a missed webhook (MediaNest
-- down, a wrong secret) is caught. Changes take the webhook's path
-- (status.change: history, invalidation, live updates, notifications).
local db = require "nest.db"
local lease = require "nest.lease"
local log = require "nest.log"
local timer = require "nest.timer"
local overseerr = require "plugins.requests.overseerr"
local store = require "plugins.requests.store"
local status = require "plugins.requests.status"

local M = {}

local BATCH = 200                 -- requests looked at per cycle, least recently synced first

local function seasons_list(row)
  if row.seasons == nil or row.seasons == db.null then return nil end
  return row.seasons
end

-- One request. -> "changed" | "same" | nil, err
local function sync_one(row)
  local body, err = overseerr.call("GET", "/request/" .. row.overseerr_request_id)
  if not body then
    if err.upstream and err.status == 404 then
      store.mark_synced(row.id)
      return status.change(row.id, "cancelled", "sync", { message = "Deleted in Overseerr" }) and "changed" or "same"
    end
    return nil, err
  end
  store.mark_synced(row.id)
  local to = status.from_overseerr(body, seasons_list(row))
  return status.change(row.id, to, "sync") and "changed" or "same"
end

-- run([budget]) -> {checked, changed} | nil, err (Overseerr down: the
-- cycle stops). budget: seconds the cycle may take (the rest waits for the
-- next one, least recently synced first), so the lease outlives the cycle.
function M.run(budget)
  local out = { checked = 0, changed = 0 }
  local clock = require("nest.core.app").hrtime
  local stop = budget and clock() + budget
  for _, row in ipairs(store.open_requests(BATCH)) do
    if stop and clock() > stop then break end
    local r, err = sync_one(row)
    if not r then return nil, err end
    out.checked = out.checked + 1
    if r == "changed" then out.changed = out.changed + 1 end
  end
  return out
end

-- The lease lasts two intervals plus a minute: a holder whose timer runs
-- late on a busy machine keeps it, and one that died is replaced soon.
local function cycle(interval)
  if not lease.hold("requests-sync", interval * 2 + 60) then return end
  local ok, r, err = pcall(M.run, interval * 0.8 + 1)
  if not ok then log.warn("requests sync failed", { error = tostring(r) })
  elseif not r then log.info("requests sync skipped: Overseerr unavailable", { error = err and err.message })
  elseif r.changed > 0 then log.info("requests sync caught up", r) end
end

-- start(interval) -> timer handle (0 disables)
function M.start(interval)
  if not interval or interval <= 0 then return nil end
  return timer.every(interval, function(premature)
    if premature then
      lease.release("requests-sync")
      return
    end
    cycle(interval)
  end)
end

return M
