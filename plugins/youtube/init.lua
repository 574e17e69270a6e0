-- plugins/youtube/init.lua — YouTube videos and playlists into Plex as
-- collections (docs/youtube.md): preview a URL, queue a download
-- (per-user hourly limit and disk quota, no duplicate of an active one),
-- follow it live, cancel, retry, delete; admins see and cancel everyone's.
-- The queue lives in PostgreSQL and the workers (worker.lua) run yt-dlp,
-- move the files into <root>/<user>/<playlist>/, and make the Plex
-- collection. docs/youtube.md is the operator's guide.
local errors = require "nest.errors"
local metrics = require "nest.metrics"
local log = require "nest.log"
local urls = require "plugins.youtube.urls"
local ytdlp = require "plugins.youtube.ytdlp"
local store = require "plugins.youtube.store"
local files = require "plugins.youtube.files"
local worker = require "plugins.youtube.worker"
local events = require "plugins.youtube.events"
local cleanup = require "plugins.youtube.cleanup"
local thumbnails = require "plugins.youtube.thumbnails"
local settings = require "plugins.youtube.settings"
local previews = require "plugins.youtube.previews"
local limits = require "plugins.youtube.limits"
local health = require "plugins.youtube.health"
local plex = require "plugins.youtube.plex"

local plugin = {
  name = "youtube", version = "1.0.0", priority = 300,
  description = "YouTube playlists into Plex as collections",
  schema = { fields = {
    workers = { type = "boolean", default = true },          -- run downloads on this instance
    lease = { type = "number", default = 30, min = 0.5, max = 3600 },        -- s a claimed job stays ours unrenewed
    heartbeat = { type = "number", default = 5, min = 1, max = 600 },       -- s between lease renewals
    poll = { type = "number", default = 2, min = 0.05, max = 60 },          -- s between looks at an empty queue
    min_free_bytes = { type = "integer", default = 512 * 1024 * 1024, min = 0 },
    scan_timeout = { type = "number", default = 120, min = 1, max = 3600 },
    plex_retry = { type = "number", default = 60, min = 0.2, max = 86400 },   -- s between retries of what Plex missed
    preview_timeout = { type = "number", default = 30, min = 1, max = 300 },
    preview_ttl = { type = "number", default = 600, min = 0, max = 86400 },
    previews = { type = "integer", default = 4, min = 1, max = 64 },        -- yt-dlp previews at once per instance
    max_items = { type = "integer", default = 2000, min = 1, max = 100000 },
    list_limit = { type = "integer", default = 200, min = 1, max = 1000 },
  } },
}

-- The cache keys the seed's rule names, plus the library plugin's section keys.
plugin.invalidations = {
  youtube_download_completed = { "user:{userId}:downloads", "plex:collections:*", "plex:section:{sectionId}:*" },
}

-- This generation's workers (worker.start), nil when off: a reload stops
-- them (destroy) and the new generation starts its own.
local ctx

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end   -- a database failure: 500/503 by the server
  return v
end

local function download_id(req)
  local id = req:param_int("id")
  if id > math.maxinteger // 2 then errors.raise(404, "NOT_FOUND", "No such download") end
  return id
end

local function parse_url(url, o)
  local parsed, why = urls.parse(url, o.allowed_hosts)
  if not parsed then errors.raise(400, "INVALID_URL", "Invalid URL: " .. why, { reason = why }) end
  return parsed
end

local STATUSES = { queued = true, downloading = true, completed = true, failed = true, cancelled = true }

local function status_param(req)
  local st = req:query_string("status", { max = 20 })
  if st and not STATUSES[st] then
    errors.raise(400, "VALIDATION_ERROR", "status must be queued, downloading, completed, failed or cancelled",
      { field = "status" })
  end
  return st
end

-- Views with their collection's address in Plex's web app.
local function with_links(views)
  for _, v in ipairs(views) do
    if v.collection then v.collection.webUrl = plex.web_url(v.collection.ratingKey) end
  end
  return views
end

-- Where a new download's files go: the folder of the user's earlier
-- download of the same playlist, else a new one named after it.
local function output_dir(user, p, title, o)
  local prev = check(store.previous(user.id, p.id))
  if prev and prev.output_dir then return prev.output_dir end
  return files.output_dir(files.user_dir(o.root, user), p.kind, title, p.id,
    function(dir) return check(store.folder_taken(user.id, p.id, dir)) end)
end

local CREATE = { type = "table", fields = {
  url = { type = "string", required = true, max = 2048 },
  quality = { type = "string", default = "best", one_of = ytdlp.QUALITIES },
  title = { type = "string", min = 1, max = 200 },
} }

function plugin.routes(r, s)
  s = s or {}
  r:get("/youtube/preview", { auth = "user", rate = "search" }, function(req, res)
    local o = settings.options()
    local parsed = parse_url(req:query_string("url", { required = true, max = 2048 }), o)
    local p = previews.get(parsed.url, o, s)
    local ids = {}
    for i, e in ipairs(p.entries) do ids[i] = e.id end
    return res:json(previews.view(p, check(store.downloaded(req.user.id, ids))))
  end)

  r:post("/youtube/downloads", { auth = "user", body_limit = 8192 }, function(req, res)
    local o = settings.options()
    if not o.enabled then errors.raise(503, "YOUTUBE_DISABLED", "YouTube downloads are turned off by the administrator") end
    local body = req:body_fields(CREATE)
    local parsed = parse_url(body.url, o)
    local p = previews.get(parsed.url, o, s)
    if #p.entries == 0 then errors.raise(422, "EMPTY_PLAYLIST", "The playlist has no videos") end
    local title = body.title or p.title
    local row, refusal = store.create(req.user.id, {
      url = parsed.url, kind = p.kind, youtube_id = p.id, title = title, channel = p.channel,
      thumbnail = p.thumbnail, quality = body.quality, format = ytdlp.FORMATS[body.quality],
      output_dir = output_dir(req.user, p, title, o),
    }, p.entries, select(2, settings.hourly()), function(u) return limits.refusal(u, o) end)
    if row == nil then error(refusal, 0) end
    if not row then
      if refusal.duplicate then
        errors.raise(409, "DUPLICATE", "This is already queued or downloading", { downloadId = refusal.duplicate })
      end
      return limits.answer(res, refusal)
    end
    local view = check(store.get(row.id))
    events.send(req.user.id, "download:created", view)
    worker.wake(ctx)
    return res:json({ download = view }, 201)
  end)

  r:get("/youtube/downloads", { auth = "user" }, function(req, res)
    local limit = req:query_int("limit", { default = 50, min = 1, max = s.list_limit or 200 })
    local status = status_param(req)
    return res:json({ downloads = with_links(check(store.list(req.user.id, limit, status))) })
  end)

  r:get("/youtube/downloads/{id}", { auth = "user" }, function(req, res)
    local d = check(store.get(download_id(req), req.user.id))
    if not d then errors.raise(404, "NOT_FOUND", "No such download") end
    return res:json({ download = with_links({ d })[1] })
  end)

  -- DELETE: a queued or running download is cancelled (yt-dlp killed, its
  -- partial files removed); a finished one is deleted with its files, and
  -- its videos leave the Plex collection.
  r:delete("/youtube/downloads/{id}", { auth = "user" }, function(req, res)
    local id = download_id(req)
    local cancelled = check(store.cancel(id, req.user.id))
    if cancelled then
      worker.cancel(ctx, id)
      local view = store.view(cancelled)
      events.send(req.user.id, "download:cancelled", view)
      return res:json({ action = "cancelled", download = view })
    end
    local items = check(store.items(id))
    local gone = check(store.delete(id, req.user.id))
    if not gone then errors.raise(404, "NOT_FOUND", "No such download") end
    local removed = cleanup.remove(gone, settings.options().root, items)
    events.send(req.user.id, "download:deleted", { id = id })
    return res:json({ action = "deleted", removedFiles = removed })
  end)

  r:post("/youtube/downloads/{id}/retry", { auth = "user", body_limit = 256 }, function(req, res)
    local id = download_id(req)
    local row, why = store.retry(id, req.user.id)
    if row == nil then error(why, 0) end
    if row == false and not why then errors.raise(404, "NOT_FOUND", "No such download") end
    if not row then
      if why.duplicate then
        errors.raise(409, "DUPLICATE", "This is already queued or downloading", { downloadId = why.duplicate })
      end
      errors.raise(409, "NOT_RETRYABLE", "Only a failed or cancelled download can be retried", { status = why.state })
    end
    local view = check(store.get(id))
    events.send(req.user.id, "download:queued", view)
    worker.wake(ctx)
    return res:json({ download = view })
  end)

  r:get("/youtube/thumbnails/{id}", { auth = "user" }, function(req, res)
    local vid = req.params.id
    if not (vid:match("^[%w_%-]+$") and #vid == 11) then errors.raise(404, "NOT_FOUND", "No such video") end
    local body, ct = thumbnails.get(vid)
    res:header("Cache-Control", "private, max-age=86400")
    return res:send(body, 200, ct)
  end)

  r:get("/youtube/status", { auth = "user" }, function(_, res)
    return res:json((health.check(settings.options(), s)))
  end)

  r:get("/youtube/quota", { auth = "user" }, function(req, res)
    return res:json(check(limits.view(req.user.id, settings.options())))
  end)

  -- Admins: everyone's downloads, and cancel any.
  r:get("/admin/downloads", { auth = "admin" }, function(req, res)
    local limit = req:query_int("limit", { default = 100, min = 1, max = s.list_limit or 200 })
    local status = status_param(req)
    return res:json({ downloads = check(store.list(nil, limit, status)) })
  end)

  r:post("/admin/downloads/{id}/cancel", { auth = "admin", body_limit = 256 }, function(req, res)
    local id = download_id(req)
    local cancelled = check(store.cancel(id, nil))
    if not cancelled then
      local d = check(store.row(id))
      if not d then errors.raise(404, "NOT_FOUND", "No such download") end
      errors.raise(409, "NOT_CANCELLABLE", "The download is not queued or running", { status = d.status })
    end
    worker.cancel(ctx, id)
    local view = store.view(cancelled)
    events.send(cancelled.user_id, "download:cancelled", view)
    log.info("youtube: download cancelled by an admin", { id = id, by = req.user.id })
    return res:json({ action = "cancelled", download = view })
  end)
end

function plugin.init(_, s)
  local M_ = {
    processed = metrics.counter("queue_jobs_processed_total", "Jobs processed, by type and final status.",
      { "job_type", "status" }),
    gauge_depth = metrics.gauge("youtube_queue_depth", "YouTube downloads waiting in the queue (cluster-wide)."),
    gauge_running = metrics.gauge("youtube_downloads_running", "YouTube downloads running on this instance."),
    bytes = metrics.counter("youtube_downloaded_bytes_total", "Bytes of video files downloaded."),
    bad_lines = metrics.counter("youtube_progress_bad_lines_total", "yt-dlp output lines the parser refused."),
  }
  if not s.workers then return end
  local o = settings.options()
  ctx = worker.start({ root = o.root, ytdlp = o.ytdlp, concurrency = o.concurrency, quota_bytes = o.quota_bytes,
    lease = s.lease, heartbeat = s.heartbeat, poll = s.poll, min_free_bytes = s.min_free_bytes,
    scan_timeout = s.scan_timeout, plex_retry = s.plex_retry, max_items = s.max_items }, M_)
end

function plugin.destroy()
  worker.stop(ctx)
  ctx = nil
end

return plugin
