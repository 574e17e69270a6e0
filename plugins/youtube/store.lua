-- plugins/youtube/store.lua — the youtube_downloads / youtube_items tables
-- (migrations 0003, 0012): what the API reads and writes, and the queue the
-- workers take from.
--
-- The queue: a worker claims the oldest queued row with FOR UPDATE SKIP
-- LOCKED (several workers and instances share one queue, none waits on
-- another's row) and sets a lease (lease_until) that it renews with each
-- heartbeat. A 'downloading' row whose lease lapsed belongs to a worker that
-- died; requeue_lapsed() puts it back, in one UPDATE, whoever runs it. A
-- heartbeat that finds its row no longer 'downloading' by this worker
-- (cancelled, deleted, taken back) tells the worker to stop.
local db = require "nest.db"
local json = require "nest.json"

local M = {}

local function null(v) if v == nil then return db.null end return v end
local function val(v) if v == db.null then return nil end return v end

-- The API shape of an item row.
function M.item_view(r)
  return { index = r.position, videoId = r.video_id, title = val(r.title), duration = val(r.duration_seconds),
           status = r.status, progress = tonumber(r.progress) or 0, sizeBytes = val(r.size_bytes),
           error = val(r.error), errorCode = val(r.error_code), thumbnail = val(r.thumbnail),
           ratingKey = val(r.rating_key) }
end

-- The API shape of a download row (items added by the caller when wanted).
function M.view(r)
  return { id = r.id, userId = r.user_id, url = r.url, kind = r.kind, youtubeId = r.youtube_id,
           title = val(r.title), channel = val(r.channel), thumbnail = val(r.thumbnail), quality = r.quality,
           status = r.status, progress = tonumber(r.progress) or 0, itemsTotal = val(r.items_total),
           itemsDone = r.items_done, bytesTotal = r.bytes_total, error = val(r.error),
           errorCode = val(r.error_code), attempts = r.attempts,
           collection = val(r.plex_collection) and { ratingKey = r.plex_collection, title = val(r.collection_title),
             sectionId = val(r.plex_section) } or nil,
           createdAt = r.created_at, updatedAt = r.updated_at, startedAt = val(r.started_at),
           finishedAt = val(r.finished_at) }
end

local function items_of(ids)
  if #ids == 0 then return {} end
  local rows, err = db.query([[SELECT * FROM youtube_items WHERE download_id = ANY($1::bigint[])
                               ORDER BY download_id, position]], "{" .. table.concat(ids, ",") .. "}")
  if not rows then return nil, err end
  local by = {}
  for _, r in ipairs(rows) do
    local l = by[r.download_id] or json.array()
    l[#l + 1] = M.item_view(r)
    by[r.download_id] = l
  end
  return by
end

-- with_items(rows) -> views, each with .items
local function with_items(rows)
  local ids = {}
  for i, r in ipairs(rows) do ids[i] = math.tointeger(r.id) end
  local by, err = items_of(ids)
  if not by then return nil, err end
  local out = json.array()
  for i, r in ipairs(rows) do
    local v = M.view(r)
    v.items = by[r.id] or json.array()
    out[i] = v
  end
  return out
end

-- list(user_id|nil, limit, status|nil) -> views (newest first); nil user = everyone's
function M.list(user_id, limit, status)
  local rows, err = db.query([[SELECT d.*, u.username FROM youtube_downloads d JOIN users u ON u.id = d.user_id
    WHERE ($1::bigint IS NULL OR d.user_id = $1) AND ($2::text IS NULL OR d.status = $2)
    ORDER BY d.created_at DESC, d.id DESC LIMIT $3]], null(user_id), null(status), limit)
  if not rows then return nil, err end
  local views
  views, err = with_items(rows)
  if not views then return nil, err end
  for i, r in ipairs(rows) do views[i].username = r.username end
  return views
end

-- row(id[, user_id]) -> the row | false (none, or another user's) | nil, err
function M.row(id, user_id)
  local rows, err = db.query([[SELECT * FROM youtube_downloads WHERE id = $1
                               AND ($2::bigint IS NULL OR user_id = $2)]], id, null(user_id))
  if not rows then return nil, err end
  return rows[1] or false
end

function M.get(id, user_id)
  local r, err = M.row(id, user_id)
  if not r then return r, err end
  local views
  views, err = with_items({ r })
  if not views then return nil, err end
  return views[1]
end

function M.items(download_id)
  return db.query("SELECT * FROM youtube_items WHERE download_id = $1 ORDER BY position", download_id)
end

-- downloaded(user_id, video_ids) -> set of those the user has | nil, err
function M.downloaded(user_id, ids)
  if #ids == 0 then return {} end
  local rows, err = db.query([[SELECT DISTINCT i.video_id FROM youtube_items i
    JOIN youtube_downloads d ON d.id = i.download_id
    WHERE d.user_id = $1 AND i.status IN ('completed', 'skipped')
      AND i.video_id IN (SELECT jsonb_array_elements_text($2::jsonb))]], user_id, ids)
  if not rows then return nil, err end
  local set = {}
  for _, r in ipairs(rows) do set[r.video_id] = true end
  return set
end

-- usage(user_id, window) -> {used, hour_count, oldest_in_window (epoch)} | nil, err
function M.usage(user_id, window)
  local rows, err = db.query([[SELECT
      (SELECT coalesce(sum(bytes_total), 0) FROM youtube_downloads WHERE user_id = $1)::bigint AS used,
      (SELECT count(*) FROM youtube_downloads WHERE user_id = $1
         AND created_at > now() - make_interval(secs => $2))::int AS recent,
      (SELECT extract(epoch FROM min(created_at))::float8 FROM youtube_downloads WHERE user_id = $1
         AND created_at > now() - make_interval(secs => $2)) AS oldest,
      extract(epoch FROM now())::float8 AS now,
      (SELECT youtube_quota_bytes FROM users WHERE id = $1) AS own_quota]], user_id, window + 0.0)
  if not rows then return nil, err end
  local r = rows[1]
  return { used = r.used, recent = r.recent, oldest = val(r.oldest), now = r.now, own_quota = val(r.own_quota) }
end

-- create(user_id, d, items, check) -> row | nil, err | false, "duplicate", existing_id
-- check(usage) -> nil to go on, or a refusal passed back as false, refusal.
-- Serialised per user (an advisory lock) so two simultaneous submissions
-- cannot both squeeze under the hourly limit or the quota.
function M.create(user_id, d, items, window, check)
  return db.tx(function()
    local ok, err = db.query("SELECT pg_advisory_xact_lock(hashtext('youtube:user'), $1::int)", user_id % 2147483647)
    if not ok then return nil, err end
    local usage
    usage, err = M.usage(user_id, window)
    if not usage then return nil, err end
    local refusal = check(usage)
    if refusal then return false, refusal end
    local existing = db.query([[SELECT id FROM youtube_downloads WHERE user_id = $1 AND youtube_id = $2
                                AND status IN ('queued', 'downloading')]], user_id, d.youtube_id)
    if existing and existing[1] then return false, { duplicate = existing[1].id } end
    local rows
    rows, err = db.query([[INSERT INTO youtube_downloads
        (user_id, url, kind, youtube_id, title, channel, thumbnail, quality, format, items_total, output_dir)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *]],
      user_id, d.url, d.kind, d.youtube_id, d.title, null(d.channel), null(d.thumbnail), d.quality, d.format,
      #items, d.output_dir)
    if not rows then return nil, err end
    local row = rows[1]
    for i, e in ipairs(items) do
      local r
      r, err = db.query([[INSERT INTO youtube_items (download_id, position, video_id, title, duration_seconds, thumbnail)
                          VALUES ($1, $2, $3, $4, $5, $6)]], row.id, i - 1, e.id, null(e.title), null(e.duration),
                          null(e.thumbnail))
      if not r then return nil, err end
    end
    return row
  end)
end

-- The folder a user's earlier download of another playlist already uses
-- under this name, compared without case (case-insensitive file systems).
function M.folder_taken(user_id, youtube_id, dir)
  local rows, err = db.query([[SELECT 1 FROM youtube_downloads WHERE user_id = $1 AND youtube_id <> $2
                               AND lower(output_dir) = lower($3) LIMIT 1]], user_id, youtube_id, dir)
  if not rows then return nil, err end
  return rows[1] ~= nil
end

-- The folder and collection of the user's last other download of this
-- playlist (one that made a collection first).
function M.previous(user_id, youtube_id, except_id)
  local rows, err = db.query([[SELECT output_dir, plex_collection, collection_title FROM youtube_downloads
    WHERE user_id = $1 AND youtube_id = $2 AND output_dir IS NOT NULL AND id <> $3
    ORDER BY (plex_collection IS NOT NULL) DESC, id DESC LIMIT 1]], user_id, youtube_id, except_id or 0)
  if not rows then return nil, err end
  return rows[1] or false
end

-- Whether another user already has a collection of this title.
function M.collection_title_taken(user_id, title)
  local rows, err = db.query([[SELECT 1 FROM youtube_downloads WHERE user_id <> $1 AND collection_title = $2
                               AND plex_collection IS NOT NULL LIMIT 1]], user_id, title)
  if not rows then return nil, err end
  return rows[1] ~= nil
end

-- cancel(id, user_id|nil) -> previous row | false (not found) | nil, err
-- Only queued or downloading rows change; the worker sees it at its next heartbeat.
function M.cancel(id, user_id)
  local rows, err = db.query([[UPDATE youtube_downloads SET status = 'cancelled', error = 'Cancelled',
      error_code = 'cancelled', worker_id = NULL, lease_until = NULL, finished_at = now()
    WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2) AND status IN ('queued', 'downloading')
    RETURNING *]], id, null(user_id))
  if not rows then return nil, err end
  return rows[1] or false
end

-- retry(id, user_id) -> row | false | nil, err | false, "state" | false, "duplicate", id
function M.retry(id, user_id)
  return db.tx(function()
    local rows, err = db.query("SELECT * FROM youtube_downloads WHERE id = $1 AND user_id = $2 FOR UPDATE", id, user_id)
    if not rows then return nil, err end
    local r = rows[1]
    if not r then return false end
    if r.status ~= "failed" and r.status ~= "cancelled" then return false, { state = r.status } end
    local dup = db.query([[SELECT id FROM youtube_downloads WHERE user_id = $1 AND youtube_id = $2
                           AND status IN ('queued', 'downloading')]], user_id, r.youtube_id)
    if dup and dup[1] then return false, { duplicate = dup[1].id } end
    local ok
    ok, err = db.query([[UPDATE youtube_items SET status = 'pending', error = NULL, error_code = NULL, progress = 0
                         WHERE download_id = $1 AND status IN ('failed', 'downloading')]], id)
    if not ok then return nil, err end
    rows, err = db.query([[UPDATE youtube_downloads SET status = 'queued', error = NULL, error_code = NULL,
        finished_at = NULL, worker_id = NULL, lease_until = NULL WHERE id = $1 RETURNING *]], id)
    if not rows then return nil, err end
    return rows[1]
  end)
end

-- delete(id, user_id|nil) -> the deleted row | false | nil, err
function M.delete(id, user_id)
  local rows, err = db.query([[DELETE FROM youtube_downloads WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2)
                               RETURNING *]], id, null(user_id))
  if not rows then return nil, err end
  return rows[1] or false
end

---------------------------------------------------------------------------
-- The queue
---------------------------------------------------------------------------

local CLAIM = [[
  UPDATE youtube_downloads d SET status = 'downloading', worker_id = $1,
    lease_until = now() + make_interval(secs => $2), heartbeat_at = now(),
    started_at = coalesce(d.started_at, now()), attempts = d.attempts + 1, error = NULL, error_code = NULL
  WHERE d.id = (SELECT q.id FROM youtube_downloads q WHERE q.status = 'queued'
                -- fair between users: whoever has the fewest running goes first
                ORDER BY (SELECT count(*) FROM youtube_downloads r
                          WHERE r.user_id = q.user_id AND r.status = 'downloading'), q.created_at, q.id
                FOR UPDATE SKIP LOCKED LIMIT 1)
  RETURNING d.*, (SELECT username FROM users u WHERE u.id = d.user_id) AS username]]

-- claim(worker_id, lease_seconds) -> row | false (queue empty) | nil, err
function M.claim(worker_id, lease)
  local rows, err = db.query({ CLAIM, prepare = "youtube_claim" }, worker_id, lease + 0.0)
  if not rows then return nil, err end
  return rows[1] or false
end

-- heartbeat(id, worker_id, lease, progress) -> true (still ours) | false (stop) | nil, err
function M.heartbeat(id, worker_id, lease, p)
  local rows, err = db.query({ [[UPDATE youtube_downloads SET lease_until = now() + make_interval(secs => $3),
      heartbeat_at = now(), progress = $4, items_done = $5, bytes_total = $6
    WHERE id = $1 AND worker_id = $2 AND status = 'downloading' RETURNING id]], prepare = "youtube_heartbeat" },
    id, worker_id, lease + 0.0, p.progress + 0.0, p.items_done, p.bytes)
  if not rows then return nil, err end
  return rows[1] ~= nil
end

-- requeue_lapsed(except) -> ids put back in the queue | nil, err: running
-- rows whose lease lapsed, but those of the worker ids in `except` (this
-- instance's running jobs: a lease that lapsed while the database was away
-- is still theirs).
function M.requeue_lapsed(except)
  local rows, err = db.query({ [[UPDATE youtube_downloads SET status = 'queued', worker_id = NULL, lease_until = NULL
    WHERE status = 'downloading' AND lease_until < now()
      AND worker_id NOT IN (SELECT jsonb_array_elements_text($1::jsonb)) RETURNING id]], prepare = "youtube_requeue" },
    json.array(except))
  if not rows then return nil, err end
  local ids = {}
  for i, r in ipairs(rows) do ids[i] = r.id end
  return ids
end

-- running_on(host) -> {{id, worker_id}} of the rows running on this host's workers
function M.running_on(host)
  return db.query([[SELECT id, worker_id FROM youtube_downloads WHERE status = 'downloading'
                    AND worker_id LIKE $1]], host:gsub("[%%_\\]", "\\%0") .. ":%")
end

-- release(id, worker_id): back to the queue (a reload, a dead worker), not failed.
function M.release(id, worker_id)
  return db.query([[UPDATE youtube_downloads SET status = 'queued', worker_id = NULL, lease_until = NULL
                    WHERE id = $1 AND worker_id = $2 AND status = 'downloading']], id, worker_id)
end

-- finish(id, worker_id, status, p, error, error_code) -> row | false (not ours any more) | nil, err
-- worker_id stays: which instance ran it last (operators, the specs).
function M.finish(id, worker_id, status, p, error, code, plex)
  local rows, err = db.query([[UPDATE youtube_downloads SET status = $3, progress = $4, items_done = $5,
      bytes_total = $6, error = $7, error_code = $8, lease_until = NULL, finished_at = now(),
      plex_section = coalesce($9, plex_section), plex_collection = coalesce($10, plex_collection),
      collection_title = coalesce($11, collection_title)
    WHERE id = $1 AND worker_id = $2 AND status = 'downloading' RETURNING *]],
    id, worker_id, status, p.progress + 0.0, p.items_done, p.bytes, null(error), null(code),
    null(plex and plex.section), null(plex and plex.collection), null(plex and plex.title))
  if not rows then return nil, err end
  return rows[1] or false
end

-- Completed downloads Plex missed (it was down when they ended) in the last
-- day (after that, downloading the playlist again makes its collection),
-- oldest first.
function M.plex_pending(limit)
  return db.query([[SELECT d.*, u.username FROM youtube_downloads d JOIN users u ON u.id = d.user_id
    WHERE d.status = 'completed' AND d.error_code = 'plex' AND d.finished_at > now() - interval '1 day'
    ORDER BY d.finished_at LIMIT $1]], limit)
end

-- plex_done(id, plex) -> row | false: the collection made after all; the
-- Plex error is cleared.
function M.plex_done(id, plex)
  local rows, err = db.query([[UPDATE youtube_downloads SET plex_section = $2, plex_collection = coalesce($3, plex_collection),
      collection_title = coalesce($4, collection_title), error = NULL, error_code = NULL
    WHERE id = $1 AND status = 'completed' AND error_code = 'plex' RETURNING *]],
    id, null(plex.section), null(plex.collection), null(plex.title))
  if not rows then return nil, err end
  return rows[1] or false
end

function M.add_item(download_id, position, video_id)
  return db.query([[INSERT INTO youtube_items (download_id, position, video_id) VALUES ($1, $2, $3)
                    ON CONFLICT (download_id, position) DO NOTHING]], download_id, position, video_id)
end

-- update_item(id, fields) with fields among status, progress, file_path, size_bytes, error, error_code, rating_key
function M.update_item(id, f)
  return db.query([[UPDATE youtube_items SET status = coalesce($2, status), progress = coalesce($3, progress),
      file_path = coalesce($4, file_path), size_bytes = coalesce($5, size_bytes), error = $6, error_code = $7,
      rating_key = coalesce($8, rating_key) WHERE id = $1]],
    id, null(f.status), f.progress and (f.progress + 0.0) or db.null, null(f.file_path), null(f.size_bytes),
    null(f.error), null(f.error_code), null(f.rating_key))
end

-- Files of this user's other downloads of the same video ids (an earlier
-- download of the playlist): the archive skips them, their files stay.
function M.earlier_files(user_id, download_id, video_ids)
  if #video_ids == 0 then return {} end
  local rows, err = db.query([[SELECT DISTINCT ON (i.video_id) i.video_id, i.file_path, i.size_bytes, i.rating_key
    FROM youtube_items i JOIN youtube_downloads d ON d.id = i.download_id
    WHERE d.user_id = $1 AND d.id <> $2 AND i.video_id IN (SELECT jsonb_array_elements_text($3::jsonb)) AND i.file_path IS NOT NULL
    ORDER BY i.video_id, i.id DESC]], user_id, download_id, video_ids)
  if not rows then return nil, err end
  local by = {}
  for _, r in ipairs(rows) do by[r.video_id] = r end
  return by
end

-- Video ids with a file in another live download of this user (kept on delete).
function M.still_used(user_id, download_id)
  local rows, err = db.query([[SELECT DISTINCT i.file_path FROM youtube_items i JOIN youtube_downloads d ON d.id = i.download_id
    WHERE d.user_id = $1 AND d.id <> $2 AND i.file_path IS NOT NULL]], user_id, download_id)
  if not rows then return nil, err end
  local set = {}
  for _, r in ipairs(rows) do set[r.file_path] = true end
  return set
end

-- Queue depth and running downloads, for /metrics.
function M.counts()
  local rows, err = db.query({ [[SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued,
      count(*) FILTER (WHERE status = 'downloading')::int AS running FROM youtube_downloads
      WHERE status IN ('queued', 'downloading')]], prepare = "youtube_counts" })
  if not rows then return nil, err end
  return rows[1]
end

return M
