-- plugins/requests/store.lua — the media_requests, request_watchers and
-- media_request_status_history tables (migration 0002): every SQL statement
-- of the feature, and the API shape of a request.
local db = require "nest.db"
local json = require "nest.json"

local M = {}

M.FINAL = { declined = true, failed = true, cancelled = true, available = true }
M.STATUSES = { "pending", "approved", "processing", "partially_available", "available",
               "declined", "failed", "cancelled" }
local LIVE = "status NOT IN ('declined', 'failed', 'cancelled')"

local COLS = [[r.id, r.user_id, r.tmdb_id, r.media_type, r.seasons, r.title, r.year, r.poster_path,
  r.status, r.status_message, r.overseerr_request_id, r.overseerr_media_id, r.created_at, r.updated_at,
  u.username AS requested_by_name,
  (SELECT count(*) FROM request_watchers w WHERE w.request_id = r.id) AS followers]]
local FROM = " FROM media_requests r LEFT JOIN users u ON u.id = r.user_id "

local function q(sql, ...)
  local rows, err = db.query(sql, ...)
  if not rows then error(err, 0) end    -- the database is down: 500/503 from the framework
  return rows
end
M.q = q

local function nn(v) if v == db.null then return nil end return v end

local function seasons_of(v)
  if v == nil or v == db.null then return json.null end
  local out = json.array()
  for i, n in ipairs(v) do out[i] = n end
  return out
end

-- A row as the API shows it; viewer (a user id) adds mine/following.
function M.shape(row, viewer, following)
  return {
    id = row.id, tmdbId = row.tmdb_id, mediaType = row.media_type, seasons = seasons_of(row.seasons),
    title = row.title, year = nn(row.year), posterPath = nn(row.poster_path),
    status = row.status, statusMessage = nn(row.status_message),
    overseerrRequestId = nn(row.overseerr_request_id),
    requestedBy = nn(row.user_id) and { id = row.user_id, username = nn(row.requested_by_name) } or json.null,
    followers = row.followers or 0,
    mine = viewer ~= nil and row.user_id == viewer or nil,
    following = following,
    createdAt = row.created_at, updatedAt = row.updated_at,
  }
end

function M.get(id)
  return q({ "SELECT " .. COLS .. FROM .. "WHERE r.id = $1", prepare = "requests_get" }, id)[1]
end

function M.by_overseerr_id(oid)
  return q({ "SELECT " .. COLS .. FROM .. "WHERE r.overseerr_request_id = $1", prepare = "requests_by_oid" }, oid)[1]
end

-- Live (not declined/failed/cancelled) requests of a title, oldest first.
function M.live_for(tmdb_id, media_type)
  return q({ "SELECT " .. COLS .. FROM .. "WHERE r.tmdb_id = $1 AND r.media_type = $2 AND r." .. LIVE ..
             " ORDER BY r.created_at", prepare = "requests_live_for" }, tmdb_id, media_type)
end

-- Live requests of many titles at once (search annotation): keys "movie:603".
function M.live_for_many(keys)
  if #keys == 0 then return {} end
  local ids, types = {}, {}
  for i, k in ipairs(keys) do types[i], ids[i] = k:match("^(%a+):(%d+)$") ids[i] = math.tointeger(ids[i]) end
  return q({ "SELECT " .. COLS .. FROM .. [[
      JOIN unnest(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)::int),
                  ARRAY(SELECT jsonb_array_elements_text($2::jsonb))) AS k(tmdb_id, media_type)
        ON k.tmdb_id = r.tmdb_id AND k.media_type = r.media_type
      WHERE r.]] .. LIVE .. " ORDER BY r.created_at", prepare = "requests_live_many" }, json.array(ids), json.array(types))
end

function M.following_set(user_id, ids)
  if #ids == 0 then return {} end
  local set = {}
  for _, r in ipairs(q({ "SELECT request_id FROM request_watchers WHERE user_id = $1 AND request_id = ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb)::bigint))",
                         prepare = "requests_following_set" }, user_id, json.array(ids))) do
    set[r.request_id] = true
  end
  return set
end

-- Insert a forwarded request and its first history row, in one transaction.
function M.create(f)
  local row
  local ok, err = db.tx(function()
    local rows, e = db.query([[INSERT INTO media_requests (user_id, tmdb_id, media_type, seasons, title, year,
          poster_path, status, overseerr_request_id, overseerr_media_id, requested_as)
        VALUES ($1, $2, $3, CASE WHEN $4::jsonb IS NULL THEN NULL
                                      ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)::int) END, $5, $6, $7, $8, $9, $10, $11)
        -- another user's request for the same title, answered 409 by Overseerr
        -- a moment before this one was written, adopted it without an author:
        -- the author claims it
        ON CONFLICT (overseerr_request_id) DO UPDATE
          SET user_id = COALESCE(media_requests.user_id, EXCLUDED.user_id),
              requested_as = COALESCE(media_requests.requested_as, EXCLUDED.requested_as)
        RETURNING id, (xmax = 0) AS inserted]],
      f.user_id or db.null, f.tmdb_id, f.media_type, f.seasons and json.array(f.seasons) or db.null, f.title, f.year or db.null,
      f.poster_path or db.null, f.status, f.overseerr_request_id or db.null, f.overseerr_media_id or db.null,
      f.requested_as or db.null)
    if not rows then return nil, e end
    local id = rows[1].id
    row = id
    if not rows[1].inserted then return true end
    local h
    h, e = db.query([[INSERT INTO media_request_status_history (request_id, from_status, to_status, source, changed_by)
                      VALUES ($1, NULL, $2, $3, $4)]], id, f.status, f.source or "user", f.user_id or db.null)
    if not h then return nil, e end
    return true
  end)
  if not ok then return nil, err end
  return M.get(row)
end

-- Change a request's status under its row lock. change(row) decides:
-- return the new status (and a message) or nil for "no change". -> the new
-- row and the old status, or false when nothing changed.
function M.transition(id, decide, source, by)
  local result, from
  local ok, err = db.tx(function()
    local rows, e = db.query("SELECT status FROM media_requests WHERE id = $1 FOR UPDATE", id)
    if not rows then return nil, e end
    if not rows[1] then return true end
    from = rows[1].status
    local to, message = decide(from)
    if not to or to == from then return true end
    local r
    r, e = db.query("UPDATE media_requests SET status = $2, status_message = $3 WHERE id = $1",
                    id, to, message or db.null)
    if not r then return nil, e end
    r, e = db.query([[INSERT INTO media_request_status_history (request_id, from_status, to_status, source, message, changed_by)
                      VALUES ($1, $2, $3, $4, $5, $6)]], id, from, to, source, message or db.null, by or db.null)
    if not r then return nil, e end
    result = to
    return true
  end)
  if not ok then error(err, 0) end
  if not result then return false end
  return M.get(id), from
end

function M.history(id)
  local out = json.array()
  for i, h in ipairs(q({ [[SELECT from_status, to_status, source, message, created_at
                            FROM media_request_status_history WHERE request_id = $1 ORDER BY created_at, id]],
                         prepare = "requests_history" }, id)) do
    out[i] = { from = nn(h.from_status), status = h.to_status, source = h.source,
               message = nn(h.message), at = h.created_at }
  end
  return out
end

-- Who hears about a request: its author and its followers.
function M.audience(row)
  local seen, out = {}, {}
  if nn(row.user_id) then seen[row.user_id] = true out[1] = row.user_id end
  for _, w in ipairs(q({ "SELECT user_id FROM request_watchers WHERE request_id = $1 ORDER BY user_id",
                         prepare = "requests_watchers" }, row.id)) do
    if not seen[w.user_id] then seen[w.user_id] = true out[#out + 1] = w.user_id end
  end
  return out
end

function M.watch(id, user_id)
  return q({ "INSERT INTO request_watchers (request_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
             prepare = "requests_watch" }, id, user_id).affected > 0
end

function M.unwatch(id, user_id)
  return q({ "DELETE FROM request_watchers WHERE request_id = $1 AND user_id = $2", prepare = "requests_unwatch" },
           id, user_id).affected > 0
end

function M.is_watching(id, user_id)
  return q({ "SELECT 1 FROM request_watchers WHERE request_id = $1 AND user_id = $2", prepare = "requests_watching" },
           id, user_id)[1] ~= nil
end

-- A page of requests. filter: {user_id?, following?, status?}; -> rows, total.
function M.list(filter, page, per)
  local where, args = {}, {}
  local function arg(v) args[#args + 1] = v return "$" .. #args end
  if filter.user_id then where[#where + 1] = "r.user_id = " .. arg(filter.user_id) end
  if filter.following then
    where[#where + 1] = "r.id IN (SELECT request_id FROM request_watchers WHERE user_id = " .. arg(filter.following) .. ")"
  end
  if filter.status then where[#where + 1] = "r.status = " .. arg(filter.status) end
  local w = #where > 0 and ("WHERE " .. table.concat(where, " AND ")) or ""
  local total = q("SELECT count(*) AS n FROM media_requests r " .. w, table.unpack(args))[1].n
  local lim, off = arg(per), arg((page - 1) * per)
  local rows = q("SELECT " .. COLS .. FROM .. w .. " ORDER BY r.created_at DESC, r.id DESC LIMIT " .. lim ..
                 " OFFSET " .. off, table.unpack(args))
  return rows, total
end

-- Requests the sync visits: not final, forwarded, least recently updated first.
function M.open_requests(limit)
  return q({ "SELECT " .. COLS .. FROM .. [[WHERE r.status IN ('pending', 'approved', 'processing', 'partially_available')
             AND r.overseerr_request_id IS NOT NULL ORDER BY r.synced_at NULLS FIRST LIMIT $1]], prepare = "requests_open" }, limit)
end

function M.set_message(id, message)
  q({ "UPDATE media_requests SET status_message = $2 WHERE id = $1", prepare = "requests_message" }, id, message)
end

function M.mark_synced(id)
  q({ "UPDATE media_requests SET synced_at = now() WHERE id = $1", prepare = "requests_synced" }, id)
end

function M.delete(id)
  return q({ "DELETE FROM media_requests WHERE id = $1", prepare = "requests_delete" }, id).affected > 0
end

return M
