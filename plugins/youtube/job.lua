-- plugins/youtube/job.lua — one download on a worker (worker.lua claims it
-- and calls job.run): check the disk and the quota -> yt-dlp into the
-- hidden staging folder -> each finished video moved into the playlist
-- folder with its thumbnail and .nfo -> Plex partial scan and collection ->
-- completed | failed, with the reason in words. Meanwhile a ticker, once a
-- second, sends the coalesced progress over WebSocket (at most one message
-- per second per download), and every `heartbeat` seconds renews the lease
-- and saves progress; a heartbeat that finds the row no longer ours
-- (cancelled, deleted, taken back) kills yt-dlp. The free space and the
-- user's quota are checked as the bytes come in. On a reload (ctx.stopping)
-- the job goes back to the queue, not failed.
local proc = require "nest.proc"
local timer = require "nest.timer"
local napp = require "nest.core.app"
local reload = require "nest.reload"
local log = require "nest.log"
local db = require "nest.db"
local invalidate = require "nest.invalidate"
local store = require "plugins.youtube.store"
local files = require "plugins.youtube.files"
local ytdlp = require "plugins.youtube.ytdlp"
local progress = require "plugins.youtube.progress"
local plex = require "plugins.youtube.plex"
local events = require "plugins.youtube.events"

local M = {}
local execute, verdict   -- below: the job's steps, and what its end means

-- once(t, flag, fn): run fn(t) unless the previous run (flagged in t) is
-- still going — a timer's ticks each start a task, whether or not the last
-- one ended, and a slow database or Plex must not pile them up.
function M.once(t, flag, fn)
  if t[flag] then return end
  t[flag] = true
  local ok, err = pcall(fn, t)
  t[flag] = nil
  if not ok then error(err, 0) end
end


-- Retry a database write through an outage (a PostgreSQL restart): up to
-- `patience` seconds, for UNAVAILABLE errors only.
local function durable(patience, fn, ...)
  local deadline = napp.hrtime() + patience
  while true do
    local r, err = fn(...)
    if r ~= nil or not (type(err) == "table" and (err.code == "UNAVAILABLE" or err.code == "TIMEOUT")) then
      return r, err
    end
    if napp.hrtime() > deadline then return nil, err end
    timer.sleep(0.5)
  end
end


local Job = {}
Job.__index = Job

function Job:totals()
  local done, bytes, sum = 0, 0, 0
  for _, it in ipairs(self.items) do
    if it.status == "completed" or it.status == "skipped" then done = done + 1 sum = sum + 100
    else sum = sum + (tonumber(it.progress) or 0) end
    if it.status == "completed" then bytes = bytes + (it.size_bytes or 0)
    elseif it.status == "downloading" then bytes = bytes + (it.live_bytes or 0) end
  end
  local n = math.max(1, #self.items)
  return { items_done = done, bytes = bytes, progress = math.min(100, math.floor(sum * 10 / n) / 10) }
end

function Job:item_for(id)
  local list = self.by_video[id]
  if list then
    for _, it in ipairs(list) do if it.status ~= "completed" and it.status ~= "skipped" then return it end end
    return list[1]
  end
  -- a video the playlist gained since the preview: a new item at its end
  -- (as many as a playlist may have; yt-dlp's word is not taken beyond)
  local pos = #self.items
  if pos >= self.ctx.max_items then return nil end
  durable(10, store.add_item, self.row.id, pos, id)
  local rows = store.items(self.row.id)
  for _, r in ipairs(rows or {}) do
    if r.position == pos then
      r.size_bytes = nil
      self.items[#self.items + 1] = r
      self.by_video[id] = { r }
      return r
    end
  end
end

function Job:changed(it)
  self.dirty[it] = true
end

-- Move a finished video (and its thumbnail) from staging into the playlist
-- folder under our own name, and write its .nfo beside it.
function Job:place(it, src)
  -- only what yt-dlp wrote in our staging folder is ever moved
  if src:sub(1, #self.staging + 1) ~= self.staging .. "/" or src:find("/%.%.", #self.staging) then
    return nil, "yt-dlp named a file outside its folder: " .. src
  end
  local ext = src:match("%.([%w]+)$") or "mkv"
  local stem = self.out_dir .. "/" .. files.stem(it.position, it.title ~= db.null and it.title or nil, it.video_id)
  local dst = stem .. "." .. ext
  local ok, err = os.rename(src, dst)
  if not ok then return nil, err end
  local thumb = src:gsub("%.[%w]+$", ".jpg")
  if files.exists(thumb) then os.rename(thumb, stem .. ".jpg") end
  files.write_atomic(stem .. ".nfo", files.nfo(it, self.row))
  return dst
end

function Job:on_event(ev)
  local it = self:item_for(ev.id)
  if not it then return end
  if ev.type == "progress" then
    if it.status ~= "downloading" then
      it.status = "downloading"
      self:changed(it)
      store.update_item(it.id, { status = "downloading" })
    end
    it.progress = ev.percent or it.progress
    it.live_bytes = ev.downloaded or it.live_bytes
    self.live = { index = it.position, videoId = it.video_id, percent = ev.percent, speed = ev.speed,
                  eta = ev.eta, bytes = ev.downloaded, totalBytes = ev.total }
    self.pending = true
  elseif ev.type == "moved" then
    local dst, err = self:place(it, ev.path)
    if not dst then
      it.status, it.error, it.error_code = "failed", "could not move the file: " .. tostring(err), "disk"
    else
      it.status, it.progress, it.file_path, it.size_bytes = "completed", 100, dst, files.size(dst) or 0
      self.ctx.bytes:inc(it.size_bytes)
    end
    it.live_bytes = nil
    self:changed(it)
    self.pending = true
    store.update_item(it.id, { status = it.status, progress = it.progress, file_path = it.file_path,
                               size_bytes = it.size_bytes, error = it.error, error_code = it.error_code })
  end
end

-- The WebSocket message: at most one per second (the ticker calls it).
function Job:send_progress(final)
  while true do
    if not self.pending then return end
    local since = napp.hrtime() - (self.sent_at or 0)
    if since >= 1 then break end
    if not final then return end
    timer.sleep(1 - since)      -- the last one too keeps the pace (the ticker may send it meanwhile)
  end
  self.pending = false
  self.sent_at = napp.hrtime()
  local t = self:totals()
  local changed = {}
  for it in pairs(self.dirty) do
    changed[#changed + 1] = { index = it.position, status = it.status, progress = tonumber(it.progress) or 0,
                              error = it.error }
  end
  table.sort(changed, function(a, b) return a.index < b.index end)
  self.dirty = {}
  local msg = { id = self.row.id, progress = t.progress, itemsDone = t.items_done, itemsTotal = #self.items,
                bytes = t.bytes, items = changed }
  for k, v in pairs(self.live or {}) do msg[k] = msg[k] or v end
  msg.progress = t.progress
  events.send(self.row.user_id, "download:progress", msg)
end

function Job:stop(code, words)
  if self.stopped then return end
  self.stopped = { code = code, words = words }
  if self.p then self.p:kill("TERM") end
end

-- Once a second: progress out; every `heartbeat` s: lease, quota, disk.
function Job:tick(ctx)
  self:send_progress()
  self.ticks = self.ticks + 1
  if self.ticks % ctx.heartbeat_ticks ~= 0 then return end
  local t = self:totals()
  local ours, err = store.heartbeat(self.row.id, self.worker_id, ctx.lease, t)
  if ours == false then return self:stop("cancelled", "Cancelled") end
  if ours == nil then log.warn("youtube: heartbeat failed", { id = self.row.id, error = tostring(err) }) end
  if self.quota and self.used_before + t.bytes > self.quota then
    return self:stop("quota", "the disk quota was reached")
  end
  local free = files.free_bytes(self.out_dir)
  if free and free < ctx.min_free then return self:stop("disk_full", "the disk is full") end
end

---------------------------------------------------------------------------

-- nest.proc names the signals it can send; a crash may be any of these
local CRASH_SIGNALS = { [4] = "SIGILL", [6] = "SIGABRT", [7] = "SIGBUS", [8] = "SIGFPE", [11] = "SIGSEGV" }
local function signal_name(sig, code)
  return CRASH_SIGNALS[code - 128] or sig
end

local function fail_reason(code)
  return ({ usage = "yt-dlp refused its arguments (bad usage): update yt-dlp",
            stopped = "yt-dlp stopped before the end (--max-downloads)",
            crashed = "yt-dlp crashed" })[code]
end

-- What each unfinished item became, from the archive and stderr. A video
-- the archive skipped has its file from an earlier download, or from this
-- one when the playlist lists it twice.
function Job:settle(errs, earlier)
  for _, it in ipairs(self.items) do
    if it.status == "completed" and not earlier[it.video_id] then
      earlier[it.video_id] = { file_path = it.file_path, rating_key = db.null }
    end
  end
  local by_id, generic = {}, nil
  for _, e in ipairs(errs) do
    if e.id then by_id[e.id] = e else generic = e end
  end
  local failed, first = 0, nil
  for _, it in ipairs(self.items) do
    if it.status ~= "completed" and it.status ~= "skipped" then
      local prev = earlier[it.video_id]
      if self.archive[it.video_id] and prev and prev.file_path ~= db.null and files.exists(prev.file_path) then
        it.status, it.progress, it.file_path = "skipped", 100, prev.file_path
        it.rating_key = prev.rating_key ~= db.null and prev.rating_key or nil
        it.error, it.error_code = nil, nil
      else
        local e = by_id[it.video_id] or generic
        it.status = "failed"
        it.error_code = e and e.code or "error"
        it.error = e and (e.words .. ": " .. e.message) or "not downloaded"
        failed = failed + 1
        first = first or e
      end
      self:changed(it)
    end
  end
  return failed, first
end

function Job:read_archive()
  self.archive = {}
  local f = io.open(self.archive_path, "r")
  if not f then return end
  for line in f:lines() do
    local id = line:match("^%S+%s+([%w_%-]+)")
    if id then self.archive[id] = true end
  end
  f:close()
end

-- The archive lists videos whose files we no longer have (deleted by hand,
-- a database restored from before them): drop them from it, or yt-dlp
-- would skip them and this download would end without them.
function Job:prune_archive(earlier)
  local gone = {}
  for _, it in ipairs(self.items) do
    local prev = earlier[it.video_id]
    local have = (it.status == "completed" and it.file_path and files.exists(it.file_path))
      or (prev and prev.file_path ~= db.null and files.exists(prev.file_path))
    if self.archive[it.video_id] and not have then gone[it.video_id] = true end
  end
  if next(gone) then require("plugins.youtube.cleanup").forget_archived(self.archive_path, gone) end
end

-- Videos yt-dlp finished (in the archive) whose move we did not see: a
-- crash between the two. Finish the move now.
function Job:recover_staged()
  self:read_archive()
  local names = files.list(self.staging)
  for _, it in ipairs(self.items) do
    if it.status ~= "completed" and self.archive[it.video_id] then
      for _, name in ipairs(names) do
        local ext = name:match("^" .. it.video_id:gsub("%-", "%%-") .. "%.([%w]+)$")
        if ext and ext ~= "jpg" and ext ~= "part" and ext ~= "ytdl" then
          self:on_event({ type = "moved", id = it.video_id, path = self.staging .. "/" .. name })
        end
      end
    end
  end
end

-- Plex: scan the folder, find the items, make or extend the collection.
function Job:to_plex(ctx)
  if not plex.available() then return nil, "Plex is not configured" end
  local section, err = plex.section_for(self.out_dir)
  if not section then return nil, err end
  local paths, ordered = {}, {}
  for _, it in ipairs(self.items) do
    if (it.status == "completed" or it.status == "skipped") and it.file_path then paths[#paths + 1] = it.file_path end
  end
  -- scan, then look; a scan of another folder starting meanwhile may have
  -- replaced ours (Plex runs one per section): scan again, a few times
  local found
  for _ = 1, 3 do
    local ok
    ok, err = plex.scan(section.key, self.out_dir, ctx.scan_timeout)
    if not ok then return nil, err end
    found, err = plex.find(section.key, paths)
    if not found then return nil, err end
    local n = 0
    for _ in pairs(found) do n = n + 1 end
    if n >= #paths then break end
  end
  local item_type
  for _, it in ipairs(self.items) do
    local f = it.file_path and found[it.file_path]
    if f then
      it.rating_key = f.ratingKey
      item_type = item_type or f.type
      ordered[#ordered + 1] = f.ratingKey
      store.update_item(it.id, { rating_key = f.ratingKey, error = it.error, error_code = it.error_code })
    end
  end
  local out = { section = tostring(section.key) }
  if self.row.kind ~= "playlist" or #ordered == 0 then return out end
  local title = self.collection_title
  local crk
  local poster = self.row.thumbnail ~= db.null and self.row.thumbnail or nil
  crk, err = plex.collect(section.key, title, ordered, self.known_collection, item_type, poster)
  if not crk then return nil, err end
  out.collection, out.title = crk, title
  return out
end

-- Back to the queue (a reload), not failed: the next worker resumes it.
function Job:release()
  self:persist_items()
  durable(30, store.release, self.row.id, self.worker_id)
  events.send(self.row.user_id, "download:queued", { id = self.row.id })
end

function Job:persist_items()
  for _, it in ipairs(self.items) do
    durable(60, store.update_item, it.id, { status = it.status, progress = tonumber(it.progress) or 0,
      file_path = it.file_path ~= db.null and it.file_path or nil,
      size_bytes = it.size_bytes, error = it.error, error_code = it.error_code,
      rating_key = it.rating_key ~= db.null and it.rating_key or nil })
  end
end

-- A job for a claimed row, with its items loaded.
local function new_job(ctx, row, worker_id)
  local user_dir = files.user_dir(ctx.root, { id = row.user_id, username = row.username or "user" })
  local job = setmetatable({ ctx = ctx, row = row, worker_id = worker_id, items = {}, by_video = {}, dirty = {},
    ticks = 0, out_dir = row.output_dir, staging = files.staging(user_dir, row.id),
    archive_path = files.archive(user_dir) }, Job)
  local rows = durable(30, store.items, row.id) or {}
  for _, r in ipairs(rows) do
    r.size_bytes = r.size_bytes ~= db.null and r.size_bytes or nil
    r.file_path = r.file_path ~= db.null and r.file_path or nil
    r.error = r.error ~= db.null and r.error or nil
    r.error_code = r.error_code ~= db.null and r.error_code or nil
    job.items[#job.items + 1] = r
    local l = job.by_video[r.video_id] or {}
    l[#l + 1] = r
    job.by_video[r.video_id] = l
  end
  return job
end

-- Which collection the playlist goes to: the one of the user's earlier
-- download of it, else one named after it (with the username when another
-- user already has a collection of that title).
function Job:choose_collection()
  local row = self.row
  local prev = store.previous(row.user_id, row.youtube_id, row.id)
  self.known_collection = prev and prev.plex_collection ~= db.null and prev.plex_collection or nil
  self.collection_title = prev and prev.collection_title ~= db.null and prev.collection_title or nil
  if not self.collection_title then
    self.collection_title = row.title ~= db.null and row.title or row.youtube_id
    if store.collection_title_taken(row.user_id, self.collection_title) then
      self.collection_title = self.collection_title .. " (" .. (row.username or "user") .. ")"
    end
  end
end

function M.run(ctx, row, worker_id)
  local hold <close> = reload.hold()
  local job = new_job(ctx, row, worker_id)
  ctx.running[row.id] = job
  ctx.gauge_running:inc()
  local ok, err = pcall(execute, ctx, job)
  ctx.gauge_running:dec()
  ctx.running[row.id] = nil
  if not ok then
    log.error("youtube: job failed unexpectedly", { id = row.id, error = tostring(err) })
    store.finish(row.id, worker_id, "failed", job:totals(), "internal error (see the server log)", "internal")
    ctx.processed:inc(1, "youtube_download", "failed")
  end
end

local function finish(ctx, job, status, err_words, code, plexinfo)
  job:persist_items()
  local row = durable(60, store.finish, job.row.id, job.worker_id, status, job:totals(), err_words, code, plexinfo)
  ctx.processed:inc(1, "youtube_download", status)
  if not row then return end   -- cancelled or taken meanwhile: its new owner reports
  local view = store.view(row)
  view.items = nil
  events.finished(row.user_id, status, view)
  if plexinfo and plexinfo.section then
    invalidate.emit("youtube_download_completed", { userId = row.user_id, sectionId = plexinfo.section })
  end
end

function execute(ctx, job)
  local row = job.row
  -- every row the API makes has its folder; one written by hand may not
  if type(job.out_dir) ~= "string" then
    return finish(ctx, job, "failed", "the download has no output folder", "disk")
  end
  for _, d in ipairs({ job.out_dir, job.staging }) do
    local ok, err = files.mkdir(d)
    if not ok then return finish(ctx, job, "failed", "cannot create the folder: " .. tostring(err), "disk") end
  end
  local free = files.free_bytes(job.out_dir)
  if free and free < ctx.min_free then
    return finish(ctx, job, "failed", "the disk is full: download stopped", "disk_full")
  end
  local usage = store.usage(row.user_id, 3600)
  if usage then
    job.quota = usage.own_quota or ctx.quota
    job.used_before = usage.used - row.bytes_total
  end
  job:choose_collection()
  events.send(row.user_id, "download:started", { id = row.id, attempts = row.attempts })
  job:recover_staged()
  local ids = {}
  for _, it in ipairs(job.items) do ids[#ids + 1] = it.video_id end
  local earlier = store.earlier_files(row.user_id, row.id, ids) or {}
  job:prune_archive(earlier)

  if ctx.stopping then return job:release() end     -- a reload began meanwhile
  local argv = ytdlp.download_argv(ctx.ytdlp, { url = row.url, kind = row.kind, quality = row.quality,
    archive = job.archive_path, staging = job.staging })
  local p, serr = proc.spawn(argv, { cwd = job.staging, max_line = progress.MAX_LINE })
  if not p then
    return finish(ctx, job, "failed", "yt-dlp cannot be run: " .. tostring(serr), "tool_missing")
  end
  job.p = p
  local parser = progress.new()
  local ticker = timer.every(1, function(premature)
    if premature then return end
    M.once(job, "ticking", function() job:tick(ctx) end)
  end)
  if not ticker then                                 -- the generation is retiring: a reload
    p:kill("TERM")
    p:wait()
    return job:release()
  end
  for line in p:lines() do
    local ev = parser:feed(line)
    if ev then job:on_event(ev) end
  end
  local code, sig = p:wait()
  job.p = nil
  if parser.bad > 0 then ctx.bad_lines:inc(parser.bad) end

  if ctx.stopping and not job.stopped then
    ticker:cancel()
    return job:release()
  end
  if job.stopped and job.stopped.code == "cancelled" then
    ticker:cancel()
    -- cancelled or deleted: its partial files go. (Not when the row was
    -- only taken back by another worker, which may be using the folder.)
    local now = store.row(row.id)
    if now == false or (now and now.status == "cancelled") then files.remove_tree(ctx.root, job.staging) end
    job:persist_items()
    return   -- the route that cancelled it reported it
  end
  job:read_archive()
  local failed, first = job:settle(ytdlp.errors(p:stderr()), earlier)
  job:send_progress(true)
  files.remove_tree(ctx.root, job.staging)

  local status, words, ecode = verdict(job, code, sig, failed, first)
  local plexinfo
  if job:totals().items_done > 0 then
    local perr
    plexinfo, perr = job:to_plex(ctx)
    if not plexinfo then
      log.warn("youtube: Plex step failed", { id = row.id, error = tostring(perr) })
      if status == "completed" then
        words = (words and (words .. "; ") or "") .. "not added to Plex: " .. tostring(perr)
        ecode = ecode or "plex"
      end
    end
  end
  -- the ticker ran on through the Plex step: its heartbeats keep the lease
  ticker:cancel()
  return finish(ctx, job, status, words, ecode, plexinfo)
end

-- verdict(job, exit code, signal, failed items, first error) -> status, words, code
function verdict(job, code, sig, failed, first)
  local status, words, ecode
  if job.stopped then
    status, words, ecode = "failed", job.stopped.words, job.stopped.code
  elseif sig and code ~= 0 then
    status, words, ecode = "failed", ("%s (%s)"):format(fail_reason("crashed"), signal_name(sig, code)), "crashed"
  elseif code == 2 then
    status, words, ecode = "failed", fail_reason("usage"), "usage"
  elseif code == 101 then
    status, words, ecode = "failed", fail_reason("stopped"), "stopped"
  elseif code ~= 0 and code ~= 1 then
    status, words, ecode = "failed", ("%s (exit code %d)"):format(fail_reason("crashed"), code), "crashed"
  elseif failed == 0 then
    status = "completed"
  else
    local t = job:totals()
    words = first and (first.words .. ": " .. first.message) or "not downloaded"
    ecode = first and first.code or "error"
    if t.items_done > 0 then
      status, words = "completed", ("%d of %d videos failed (%s)"):format(failed, #job.items, words)
    else
      status = "failed"
    end
  end
  return status, words, ecode
end

-- replex(ctx, row): a completed download that Plex missed (error_code
-- "plex"): scan, find, collect again. -> plexinfo | nil, err
function M.replex(ctx, row)
  local job = new_job(ctx, row, nil)
  job:choose_collection()
  local info, err = job:to_plex(ctx)
  if not info then return nil, err end
  for _, it in ipairs(job.items) do
    if it.rating_key then store.update_item(it.id, { rating_key = it.rating_key, error = it.error, error_code = it.error_code }) end
  end
  return info
end

return M
