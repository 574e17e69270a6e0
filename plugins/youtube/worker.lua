-- plugins/youtube/worker.lua — the workers that take downloads from the
-- queue (store.lua), `concurrency` at once per instance, each running one
-- job at a time (job.lua), and the recovery of jobs whose worker died.
--
-- Stopping: a reload (destroy -> stop) stops the workers, kills yt-dlp and
-- the jobs put their rows back in the queue; a SIGTERM or kill -9 ends the
-- process with the rows still 'downloading': the next start on this host
-- requeues the rows of dead processes at once (the worker id carries host
-- and pid), any instance when their lease lapses. yt-dlp's
-- --download-archive (per user) and its .part files make the second run
-- skip what was done and resume what was not.
local timer = require "nest.timer"
local event = require "nest.core.event"
local napp = require "nest.core.app"
local invalidate = require "nest.invalidate"
local store = require "plugins.youtube.store"
local job = require "plugins.youtube.job"
local events = require "plugins.youtube.events"
local lease = require "nest.lease"
local log = require "nest.log"

local M = {}

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local h = f and f:read("l") or "localhost"
  if f then f:close() end
  return h
end

---------------------------------------------------------------------------
-- Workers and recovery
---------------------------------------------------------------------------

-- Requeue 'downloading' rows of dead processes on this host (their pid is
-- gone) at once, and everyone's whose lease lapsed.
local function recover(ctx)
  for _, r in ipairs(store.running_on(ctx.host) or {}) do
    -- another process of this host that is gone (our own pid: another app
    -- of this process, or a generation that released its jobs: skipped)
    local pid = math.tointeger(tonumber(r.worker_id:match("^[^:]*:(%d+):")))
    if pid and pid ~= napp.pid() and not napp.kill(pid, 0) then store.release(r.id, r.worker_id) end
  end
  local mine = {}
  for _, j in pairs(ctx.running) do mine[#mine + 1] = j.worker_id end
  store.requeue_lapsed(mine)
  local counts = store.counts()
  if counts then ctx.gauge_depth:set(counts.queued) end
end

-- Completed downloads that Plex missed get their scan and collection when
-- Plex answers again (once per cluster at a time: nest.lease).
local function replex(ctx)
  if not lease.hold("youtube:plex-retry", ctx.plex_retry * 2) then return end
  for _, row in ipairs(store.plex_pending(5) or {}) do
    local info, err = job.replex(ctx, row)
    if not info then
      log.info("youtube: Plex still missing a download", { id = row.id, error = tostring(err) })
      return
    end
    local done = store.plex_done(row.id, info)
    if done then
      local view = store.view(done)
      events.send(done.user_id, "download:completed", view)
      invalidate.emit("youtube_download_completed", { userId = done.user_id, sectionId = info.section })
    end
  end
end

local function loop(ctx, slot)
  local worker_id = ("%s:%d:%s:%d"):format(ctx.host, napp.pid(), ctx.instance, slot)
  while not ctx.stopping do
    local row = store.claim(worker_id, ctx.lease)
    if row and ctx.stopping then
      store.release(row.id, worker_id)                 -- claimed as a reload began: the next generation's
    elseif row then
      job.run(ctx, row, worker_id)
    elseif not ctx.stopping then
      ctx.wake:wait(ctx.poll)
    end
  end
end

-- start(settings) -> ctx; M.stop(ctx) on destroy.
function M.start(s, metrics_)
  local ctx = {
    root = s.root, ytdlp = s.ytdlp, concurrency = s.concurrency, quota = s.quota_bytes, lease = s.lease,
    heartbeat_ticks = math.max(1, math.floor(s.heartbeat)), poll = s.poll, min_free = s.min_free_bytes,
    scan_timeout = s.scan_timeout, plex_retry = s.plex_retry or 60, max_items = s.max_items or 2000, host = hostname(), instance = invalidate.instance_id(),
    running = {}, wake = event.new(), stopping = false,
  }
  for k, v in pairs(metrics_) do ctx[k] = v end
  for slot = 1, ctx.concurrency do
    timer.at(0, function(premature) if not premature then loop(ctx, slot) end end)
  end
  ctx.recovery = timer.every(math.max(0.2, math.min(ctx.lease / 2, 5)), function(premature)
    if not premature then job.once(ctx, "recovering", recover) end
  end)
  timer.at(0, function(premature) if not premature then job.once(ctx, "recovering", recover) end end)
  ctx.replexer = timer.every(ctx.plex_retry, function(premature)
    if not premature then job.once(ctx, "replexing", replex) end
  end)
  return ctx
end

function M.wake(ctx) if ctx then ctx.wake:signal() end end

-- cancel(ctx, id): kill the local yt-dlp of a cancelled download now.
function M.cancel(ctx, id)
  local j = ctx and ctx.running[id]
  if j then j:stop("cancelled", "Cancelled") return true end
  return false
end

function M.stop(ctx)
  if not ctx then return end
  ctx.stopping = true
  ctx.recovery:cancel()
  ctx.replexer:cancel()
  ctx.wake:signal()
  for _, j in pairs(ctx.running) do
    if j.p then j.p:kill("TERM") end
  end
end

return M
