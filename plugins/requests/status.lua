-- plugins/requests/status.lua — the one path every status change takes,
-- whoever noticed it (the webhook, the sync, an admin, the author): the row
-- and its history under a lock, then the invalidation map, the live
-- `request:update` to the author and followers on every instance, and a
-- notification when the request ends (available, declined, failed).
--
-- Overseerr's numbers become MediaNest's words here too: a request is
-- PENDING 1, APPROVED 2, DECLINED 3, FAILED 4, COMPLETED 5; its media
-- UNKNOWN 1, PENDING 2, PROCESSING 3, PARTIALLY_AVAILABLE 4, AVAILABLE 5.
local db = require "nest.db"
local ws = require "nest.ws"
local notify = require "nest.notify"
local invalidate = require "nest.invalidate"
local log = require "nest.log"
local store = require "plugins.requests.store"

local M = {}

-- Order along the happy path; a step back along it is stale news (a
-- redelivered "approved" after "processing") and is ignored. Leaving the
-- path (declined, failed, cancelled) or coming back to it (a retry) applies.
local RANK = { pending = 1, approved = 2, processing = 3, partially_available = 4, available = 5 }

function M.allowed(from, to)
  if from == to then return false end
  if from == "cancelled" then return false end          -- deleted by its author: nothing revives it
  local a, b = RANK[from], RANK[to]
  if a and b then return b > a end
  return true
end

-- The status a request has, from Overseerr's request object — for a show,
-- the seasons it asked for decide between available and partly. `fresh`:
-- the answer to the approval itself, where Overseerr already says
-- PROCESSING; the history should read approved first (the sync or the
-- webhook moves it on).
function M.from_overseerr(req, seasons, fresh)
  local st = math.tointeger(req.status)
  if st == 1 then return "pending" end
  if st == 3 then return "declined" end
  if st == 4 then return "failed" end
  local media = type(req.media) == "table" and req.media or {}
  local ms = math.tointeger(media.status)
  if st == 5 or ms == 5 then return "available" end
  if media.mediaType == "tv" and type(media.seasons) == "table" and seasons then
    local have, want = {}, 0
    for _, s in ipairs(media.seasons) do if math.tointeger(s.status) == 5 then have[math.tointeger(s.seasonNumber)] = true end end
    local got = 0
    for _, n in ipairs(seasons) do want = want + 1 if have[n] then got = got + 1 end end
    if want > 0 and got == want then return "available" end
    if got > 0 then return "partially_available" end
  end
  if ms == 4 then return "partially_available" end
  if ms == 3 and not fresh then return "processing" end
  return "approved"
end

-- From the webhook's notification_type (and the media status it carries).
local BY_EVENT = {
  MEDIA_PENDING = "pending", MEDIA_APPROVED = "approved", MEDIA_AUTO_APPROVED = "approved",
  MEDIA_DECLINED = "declined", MEDIA_FAILED = "failed",
}
function M.from_webhook(kind, media_status)
  if kind == "MEDIA_AVAILABLE" then
    return media_status == "PARTIALLY_AVAILABLE" and "partially_available" or "available"
  end
  return BY_EVENT[kind]
end

local NOTIFY = {
  available = { "request_available", "%s is available", "It is in Plex now: enjoy." },
  partially_available = { "request_partially_available", "%s is partly available",
                          "Some of the requested seasons are in Plex now." },
  declined = { "request_declined", "%s was declined", nil },
  failed = { "request_failed", "%s could not be added", "Overseerr reported a failure; an admin has been told." },
}

local function tell(row, users)
  local n = NOTIFY[row.status]
  if not n then return end
  for _, uid in ipairs(users) do
    local ok, err = notify.user(uid, {
      type = n[1], title = n[2]:format(row.title),
      body = row.status == "declined" and (row.status_message ~= db.null and row.status_message or
        "An admin declined the request.") or n[3],
      link = "/requests?request=" .. row.id, data = { requestId = row.id, status = row.status },
      key = ("request:%d:%s"):format(row.id, row.status),
    })
    if ok == nil then log.warn("request notification not stored", { request = row.id, user = uid, error = tostring(err) }) end
  end
end

-- After a change: caches, live update, notifications.
function M.announce(row, from, event)
  local users = store.audience(row)
  for _, uid in ipairs(users) do
    invalidate.emit(event or "media_request_status_changed", { userId = uid, mediaType = row.media_type,
                                                                tmdbId = row.tmdb_id })
  end
  if row.status == "available" or row.status == "partially_available" then
    invalidate.emit("media_available", { mediaType = row.media_type, tmdbId = row.tmdb_id })
  end
  local shaped = store.shape(row)
  shaped.from = from
  for _, uid in ipairs(users) do ws.broadcast("user:" .. uid, "request:update", shaped) end
  if from then tell(row, users) end
end

-- change(id, to, source, {message, by}) -> row | false (no change: stale or same)
function M.change(id, to, source, opts)
  opts = opts or {}
  local row, from = store.transition(id, function(cur)
    if not M.allowed(cur, to) then return nil end
    return to, opts.message
  end, source, opts.by)
  if not row then return false end
  M.announce(row, from)
  return row
end

return M
