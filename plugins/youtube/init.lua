-- plugins/youtube/init.lua — YouTube videos and playlists into Plex as
-- collections (DESIGN 4.5, issue 14): preview a URL, queue a download
-- (per-user hourly limit and disk quota, no duplicate of an active one),
-- follow it live, cancel, retry, delete; admins see and cancel everyone's.
-- The queue lives in PostgreSQL and the workers (worker.lua) run yt-dlp,
-- move the files into <root>/<user>/<playlist>/, and make the Plex
-- collection. docs/youtube.md is the operator's guide.
local errors = require "nest.errors"
local cache = require "nest.cache"
local crypto = require "nest.crypto"
local config = require "nest.config"
local services = require "nest.services"
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
    preview_timeout = { type = "number", default = 30, min = 1, max = 300 },
    preview_ttl = { type = "number", default = 600, min = 0, max = 86400 },
    previews = { type = "integer", default = 4, min = 1, max = 64 },        -- yt-dlp previews at once per instance
    max_items = { type = "integer", default = 2000, min = 1, max = 100000 },
    list_limit = { type = "integer", default = 200, min = 1, max = 1000 },
  } },
}

-- The cache keys the seed's rule names, plus the library plugin's section keys.
plugin.invalidations = {
  youtube_download_completed = { "user:{userId}:downloads", "plex:collections:*", "plex:library:{sectionId}:*" },
}

local PREVIEW_ENTRIES = 50
local plex = require "plugins.youtube.plex"

-- Views with their collection's address in Plex's web app.
local function with_links(views)
  for _, v in ipairs(views) do
    if v.collection then v.collection.webUrl = plex.web_url(v.collection.ratingKey) end
  end
  return views
end
local ctx                      -- this generation's workers (worker.start), nil when off

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end   -- a database failure: 500/503 by the server
  return v
end

local function options()
  local s = services.get("youtube") or { options = {} }
  local o = s.options or {}
  return {
    root = config.path(o.root or ".data/youtube"):gsub("/+$", ""),
    ytdlp = o.ytdlp or "yt-dlp",
    concurrency = math.tointeger(o.concurrency) or 2,
    quota_bytes = math.tointeger(o.quota_bytes) or (10 << 30),
    allowed_hosts = type(o.allowed_hosts) == "table" and #o.allowed_hosts > 0 and o.allowed_hosts or urls.DEFAULT_HOSTS,
    enabled = s.enabled ~= false,
  }
end

local function hourly()
  local rl = (config.get().rate_limits or {}).youtube or {}
  return math.tointeger(rl.limit) or 5, math.tointeger(rl.window) or 3600
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

local PREVIEW_STATUS = { tool_missing = 503, timeout = 504, usage = 503, busy = 503 }

local previewing = 0            -- yt-dlp previews running now (this generation)

-- The preview of a URL (cached for preview_ttl): raises the HTTP error.
-- At most `previews` yt-dlp processes at once: each is a child process a
-- client could otherwise multiply with distinct URLs.
local function preview(url, o, s)
  local key = "youtube:preview:" .. crypto.hex(crypto.sha256(url))
  local failure
  local v = cache.fetch(key, { ttl = s.preview_ttl }, function()
    if previewing >= (s.previews or 4) then
      failure = { code = "busy", words = "Too many previews at once; try again in a moment" }
      return nil, failure.words
    end
    previewing = previewing + 1
    local _ <close> = setmetatable({}, { __close = function() previewing = previewing - 1 end })
    local p, code, words = ytdlp.preview(o.ytdlp, url, { timeout = s.preview_timeout, max_entries = s.max_items })
    if not p then failure = { code = code, words = words } return nil, words end
    return p
  end)
  if v then return v end
  failure = failure or { code = "error", words = "the preview failed" }
  local status = PREVIEW_STATUS[failure.code] or 422
  if failure.code == "busy" then
    errors.raise(503, "PREVIEW_BUSY", failure.words, { reason = "busy" }, { ["Retry-After"] = "2" })
  end
  local code = status == 503 and "YTDLP_UNAVAILABLE" or status == 504 and "PREVIEW_TIMEOUT" or "VIDEO_UNAVAILABLE"
  errors.raise(status, code, failure.words, { reason = failure.code })
end

-- Video ids of this user's finished items among ids.
local function downloaded(user_id, ids)
  local db = require "nest.db"
  if #ids == 0 then return {} end
  local rows = check(db.query([[SELECT DISTINCT i.video_id FROM youtube_items i JOIN youtube_downloads d ON d.id = i.download_id
    WHERE d.user_id = $1 AND i.status IN ('completed', 'skipped') AND i.video_id IN (SELECT jsonb_array_elements_text($2::jsonb))]],
    user_id, ids))
  local set = {}
  for _, r in ipairs(rows) do set[r.video_id] = true end
  return set
end

local function quota_view(user_id, o)
  local limit, window = hourly()
  local u = check(store.usage(user_id, window))
  local resets = u.recent > 0 and u.oldest and (u.oldest + window) or nil
  return {
    usedBytes = u.used, quotaBytes = u.own_quota or o.quota_bytes, downloadsThisHour = u.recent,
    hourlyLimit = limit, resetsAt = resets and os.date("!%Y-%m-%dT%H:%M:%SZ", math.ceil(resets)) or nil,
  }, u, limit, window
end

-- Where a new download's files go: the folder of the user's earlier download
-- of the same playlist, else one named after it (unique regardless of case).
local function output_dir(user, p, title, o)
  local prev = check(store.previous(user.id, p.id))
  if prev and prev.output_dir then return prev.output_dir end
  local base = files.user_dir(o.root, user)
  if p.kind ~= "playlist" then return base .. "/Videos" end
  local dir = base .. "/" .. files.sanitise(title)
  if check(store.folder_taken(user.id, p.id, dir)) then dir = dir .. " [" .. p.id .. "]" end
  return dir
end

-- Whether downloads can work here and now: yt-dlp runs, the disk has room,
-- Plex is there for the collections (downloads work without it). Cached
-- 30 s: the page asks on every visit.
local function health(o, s)
  return cache.fetch("youtube:health", { ttl = 30 }, function()
    local checks, reason = {}, nil
    local v, verr = ytdlp.version(o.ytdlp, 5)
    checks[#checks + 1] = { name = "ytdlp", ok = v ~= nil, message = v and ("yt-dlp " .. v) or verr }
    if not v then reason = "yt-dlp is not installed or does not run (" .. tostring(verr) .. ")" end
    files.mkdir(o.root)
    local free = files.free_bytes(o.root)
    local disk_ok = free == nil or free >= s.min_free_bytes
    checks[#checks + 1] = { name = "disk", ok = disk_ok, freeBytes = free,
      message = disk_ok and "enough free space" or "the disk is full" }
    if not disk_ok then reason = reason or "the download disk is full" end
    local section, perr = plex.section_for(o.root)
    checks[#checks + 1] = { name = "plex", ok = section ~= nil,
      message = section and ("Plex library \"" .. tostring(section.title) .. "\"") or perr }
    return { available = reason == nil and o.enabled, reason = (not o.enabled) and "turned off by the administrator" or reason,
             checks = checks, collections = section ~= nil }
  end)
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

local CREATE = { type = "table", fields = {
  url = { type = "string", required = true, max = 2048 },
  quality = { type = "string", default = "best", one_of = ytdlp.QUALITIES },
  title = { type = "string", min = 1, max = 200 },
} }

function plugin.routes(r, s)
  s = s or {}
  r:get("/youtube/preview", { auth = "user", rate = "search" }, function(req, res)
    local o = options()
    local parsed = parse_url(req:query_string("url", { required = true, max = 2048 }), o)
    local p = preview(parsed.url, o, s)
    local ids = {}
    for i, e in ipairs(p.entries) do ids[i] = e.id end
    local have = downloaded(req.user.id, ids)
    local entries, already = {}, {}
    for i, e in ipairs(p.entries) do
      if have[e.id] then already[#already + 1] = e.id end
      if i <= PREVIEW_ENTRIES then
        entries[i] = { id = e.id, title = e.title, duration = e.duration, thumbnail = e.thumbnail,
                       downloaded = have[e.id] == true }
      end
    end
    return res:json({ kind = p.kind, id = p.id, title = p.title, channel = p.channel, count = p.count,
      thumbnail = p.thumbnail, entries = require("nest.json").array(entries),
      alreadyDownloaded = require("nest.json").array(already) })
  end)

  r:post("/youtube/downloads", { auth = "user", body_limit = 8192 }, function(req, res)
    local o = options()
    if not o.enabled then errors.raise(503, "YOUTUBE_DISABLED", "YouTube downloads are turned off by the administrator") end
    local body = req:body_fields(CREATE)
    local parsed = parse_url(body.url, o)
    local p = preview(parsed.url, o, s)
    if #p.entries == 0 then errors.raise(422, "EMPTY_PLAYLIST", "The playlist has no videos") end
    local title = body.title or p.title
    local row, refusal = store.create(req.user.id, {
      url = parsed.url, kind = p.kind, youtube_id = p.id, title = title, channel = p.channel,
      thumbnail = p.thumbnail, quality = body.quality, format = ytdlp.FORMATS[body.quality],
      output_dir = output_dir(req.user, p, title, o),
    }, p.entries, select(2, hourly()), function(u)
      local limit, window = hourly()
      if u.recent >= limit then
        local retry = math.max(1, math.ceil((u.oldest or u.now) + window - u.now))
        return { status = 429, code = "RATE_LIMITED", retry = retry, limit = limit,
          message = ("At most %d new downloads per hour; try again in %d min"):format(limit, math.ceil(retry / 60)) }
      end
      local quota = u.own_quota or o.quota_bytes
      if u.used >= quota then
        return { status = 403, code = "QUOTA_EXCEEDED", message = "Your download space is full: delete downloads to make room",
                 details = { usedBytes = u.used, quotaBytes = quota } }
      end
    end)
    if row == nil then error(refusal, 0) end
    if not row then
      if refusal.duplicate then
        errors.raise(409, "DUPLICATE", "This is already queued or downloading", { downloadId = refusal.duplicate })
      end
      if refusal.status == 429 then
        res:header("X-RateLimit-Limit", tostring(refusal.limit))
        res:header("X-RateLimit-Remaining", "0")
        res:header("X-RateLimit-Reset", tostring(refusal.retry))
        res:header("Retry-After", tostring(refusal.retry))
        return res:error(429, refusal.code, refusal.message, { limit = refusal.limit }, refusal.retry)
      end
      errors.raise(refusal.status, refusal.code, refusal.message, refusal.details)
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
    local removed = cleanup.remove(gone, options().root, items)
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
    return res:json((health(options(), s)))
  end)

  r:get("/youtube/quota", { auth = "user" }, function(req, res)
    return res:json((quota_view(req.user.id, options())))
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
  local o = options()
  ctx = worker.start({ root = o.root, ytdlp = o.ytdlp, concurrency = o.concurrency, quota_bytes = o.quota_bytes,
    lease = s.lease, heartbeat = s.heartbeat, poll = s.poll, min_free_bytes = s.min_free_bytes,
    scan_timeout = s.scan_timeout, max_items = s.max_items }, M_)
end

function plugin.destroy()
  worker.stop(ctx)
  ctx = nil
end

return plugin
