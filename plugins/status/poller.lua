-- plugins/status/poller.lua — one check cycle per interval, run by one
-- instance of the cluster at a time.
--
--   poller.start(settings) -> the timer handle (cancelled with the generation)
--   poller.cycle(settings) -> true | nil, err   one cycle (specs call it too)
--
-- Every instance ticks every `interval` seconds and asks for the lease
-- "status-poller" (nest.lease: a row in cluster_leases, taken when free or
-- expired, renewed by its holder in one atomic statement). Only the holder
-- runs the cycle; it renews on every tick, so it keeps the lease while it
-- lives, and another instance takes over within LEASE_CYCLES intervals of
-- its death. A cycle still running when the next tick comes is not doubled
-- (the tick only renews).
--
-- A cycle: every own check and the Uptime Kuma poll run concurrently, each
-- bounded by the timeout; uptime figures are added; the results are written
-- to service_status (and the catalogue) in one statement; the cached
-- snapshot is dropped on every instance (invalidation "status_changed");
-- services whose state changed are broadcast (live, debounced); admins are
-- notified of confirmed transitions (alerts); history older than
-- `history_days` is pruned a batch at a time.
local lease = require "nest.lease"
local db = require "nest.db"
local timer = require "nest.timer"
local event = require "nest.core.event"
local log = require "nest.log"
local invalidate = require "nest.invalidate"
local checks = require "plugins.status.checks"
local kuma = require "plugins.status.kuma"
local store = require "plugins.status.store"
local view = require "plugins.status.view"
local live = require "plugins.status.live"
local alerts = require "plugins.status.alerts"

local M = {}

M.LEASE = "status-poller"
local LEASE_CYCLES = 3
local UPTIME30_EVERY = 600      -- seconds between recomputations of the 30-day uptime
local PRUNE_BATCH = 5000

local state                     -- per generation: { running, known, uptime30 = {at, values} }

-- Run fns concurrently, each in its own task; -> their first results, in order.
local function all(fns)
  local out, left = {}, #fns
  if left == 0 then return out end
  local done = event.new()
  for i, fn in ipairs(fns) do
    timer.at(0, function(premature)
      if not premature then
        local ok, v = pcall(fn)
        if ok then out[i] = v
        else log.error("status: a check failed unexpectedly", { error = tostring(v) }) end
      end
      left = left - 1
      if left == 0 then done:signal() end
    end)
  end
  done:wait()
  return out
end

local function opts_of(settings)
  return { timeout = settings.timeout, slow_ms = settings.slow_ms, min_free_mb = settings.min_free_mb }
end

-- Kuma's monitors, or every Kuma monitor known lately as unknown with why.
local function kuma_results(o)
  local s = kuma.configured()
  if not s then return {} end
  local list, why = kuma.poll(s, o)
  if list then
    state.kuma_error = nil
    return list
  end
  local known = store.kuma_known(view.STALE) or {}
  local out = {}
  for i, m in ipairs(known) do
    out[i] = { id = m.id, name = m.name, source = "uptime_kuma", status = "unknown", message = why }
  end
  if state.kuma_error ~= why then log.warn("status: Uptime Kuma unusable", { error = why }) end
  state.kuma_error = why          -- logged once per distinct failure, not every cycle
  return out
end

local function gather(o)
  local plan = checks.plan(o)
  local fns = {}
  for i, c in ipairs(plan) do fns[i] = c.fn end
  fns[#fns + 1] = function() return kuma_results(o) end
  local got = all(fns)
  local results, seen = {}, {}
  for i, c in ipairs(plan) do
    local r = got[i] or { id = c.id, name = c.id, source = "self", status = "unknown",
                          message = "The check failed unexpectedly (see the server log)" }
    r.order = i * 10
    results[#results + 1] = r
    seen[r.id] = true
  end
  for _, r in ipairs(got[#fns] or {}) do
    if not seen[r.id] then
      seen[r.id] = true
      r.order = 1000 + (math.tointeger(tonumber(r.id:match("^kuma:(%d+)$"))) or 0)
      results[#results + 1] = r
    end
  end
  return results
end

local function add_uptime(results)
  local ids, self_ids = {}, {}
  for _, r in ipairs(results) do
    ids[#ids + 1] = r.id
    if r.uptime24h == nil then self_ids[#self_ids + 1] = r.id end
  end
  local u24 = store.uptime(self_ids, 1) or {}
  local now = require("nest.core.app").hrtime()
  if not state.uptime30 or now - state.uptime30.at > UPTIME30_EVERY or #ids ~= state.uptime30.n then
    local u30 = store.uptime(ids, 30)
    if u30 then state.uptime30 = { at = now, values = u30, n = #ids } end
  end
  local u30 = state.uptime30 and state.uptime30.values or {}
  for _, r in ipairs(results) do
    if r.uptime24h == nil then r.uptime24h = u24[r.id] end
    r.uptime30d = u30[r.id]
  end
end

local function signature(r)
  return table.concat({ r.status, tostring(r.message), tostring(r.integration) }, "\0")
end

-- What clients were last told, from the database (first cycle of a generation).
local function load_known()
  local known = {}
  local snap = view.snapshot()
  for _, row in ipairs(snap and snap.services or {}) do
    local s = view.service(row, true)
    known[row.id] = signature({ status = s.status, message = row.message ~= db.null and row.message or nil,
                                integration = s.integration })
    live.known(row.id, s)
  end
  return known
end

function M.cycle(settings)
  state = state or {}
  if not state.known then state.known = load_known() end
  local results = gather(opts_of(settings))
  add_uptime(results)
  local ok, err = store.record(results, settings.default_visible)
  if not ok then return nil, err end
  invalidate.emit("status_changed", {})
  for _, r in ipairs(results) do
    local sig = signature(r)
    if state.known[r.id] ~= sig then
      state.known[r.id] = sig
      live.changed(r.id)
    end
  end
  ok, err = alerts.observe(results)
  if not ok then log.warn("status: alerts not updated", { error = tostring(err) }) end
  store.prune(settings.history_days, PRUNE_BATCH)
  return true
end

local function tick(premature, settings)
  if premature then
    lease.release(M.LEASE)
    return
  end
  local held = lease.hold(M.LEASE, math.max(LEASE_CYCLES * settings.interval, 1))
  if not held then
    state.known = nil          -- another instance runs it; re-read when taking over
    return
  end
  if state.running then return end
  state.running = true
  local ok, done, err = pcall(M.cycle, settings)
  state.running = false
  if not ok then log.error("status: cycle failed", { error = tostring(done) })
  elseif not done then log.warn("status: cycle not recorded", { error = tostring(err) }) end
end

function M.start(settings)
  state = {}
  live.reset()
  timer.at(0, tick, settings)
  return timer.every(settings.interval, tick, settings)
end

function M.stop()
  if state and state.known then lease.release(M.LEASE) end
end

return M
