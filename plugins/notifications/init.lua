-- plugins/notifications/init.lua — the signed-in user's in-app
-- notifications (docs/status.md): list them, mark them read. They are made by
-- nest.notify (any plugin), which also pushes each one live as the
-- WebSocket event "notification".
--
--   GET  /notifications?before=<id>&limit=<1..50, 20>
--        -> { notifications: [N], unread, nextBefore | null }   newest first
--   POST /notifications/read  { ids: [id, ...] } | { all: true }  -> { unread }
--        all-or-nothing: an id that is not one of the user's (another
--        user's, or none) -> 404 and nothing is marked. The user's other
--        connections get "notification:read" { ids | all, unread }.
-- N is nest.notify.shape. A user only ever sees their own.
--
-- Pruning (once per cluster, lease "notifications-prune", every hour): read
-- notifications older than keep_read_days, any older than keep_days.
local db = require "nest.db"
local ws = require "nest.ws"
local json = require "nest.json"
local errors = require "nest.errors"
local notify = require "nest.notify"
local lease = require "nest.lease"
local timer = require "nest.timer"
local log = require "nest.log"

local plugin = {
  name = "notifications", version = "1.0.0", priority = 300,
  description = "The user's notifications: list and mark read",
  schema = { fields = {
    keep_read_days = { type = "integer", default = 30, min = 1, max = 3650 },
    keep_days = { type = "integer", default = 180, min = 1, max = 3650 },
    prune_interval = { type = "number", default = 3600, min = 1, max = 86400 },
  } },
}

local MAX_IDS = 100

local PAGE = [[
  SELECT id, type, title, body, link, data, read_at, created_at FROM notifications
  WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2)
  ORDER BY id DESC LIMIT $3]]

local UNREAD = "SELECT count(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL"

local MARK = [[
  WITH want AS (SELECT DISTINCT x::bigint AS id FROM jsonb_array_elements_text($2::jsonb) AS x),
  mine AS (SELECT n.id FROM notifications n JOIN want USING (id) WHERE n.user_id = $1),
  done AS (
    UPDATE notifications SET read_at = now()
    WHERE user_id = $1 AND read_at IS NULL AND id IN (SELECT id FROM mine)
      AND (SELECT count(*) FROM mine) = (SELECT count(*) FROM want)
    RETURNING id)
  SELECT (SELECT count(*) FROM want) AS wanted, (SELECT count(*) FROM mine) AS found,
         (SELECT count(*) FROM done) AS marked]]

local MARK_ALL = "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL"

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end
  return v
end

local function unread(user_id)
  return check(db.query({ UNREAD, prepare = "notifications_unread" }, user_id))[1].n
end

local function ids_of(body)
  local ids = body.ids
  if type(ids) ~= "table" or #ids == 0 or #ids > MAX_IDS then
    errors.raise(400, "VALIDATION_ERROR", ("Give ids (a list of 1 to %d notification ids) or all: true"):format(MAX_IDS),
      { field = "ids" })
  end
  local out = json.array()
  for i, v in ipairs(ids) do
    local n = math.tointeger(v)
    if not n or n < 1 then
      errors.raise(400, "VALIDATION_ERROR", ("ids[%d] must be a positive integer"):format(i), { field = "ids" })
    end
    out[i] = n
  end
  return out
end

function plugin.routes(r)
  r:get("/notifications", {}, function(req, res)
    local before = req:query_int("before", { min = 1 })
    local limit = req:query_int("limit", { default = 20, min = 1, max = 50 })
    local rows = check(db.query({ PAGE, prepare = "notifications_page" }, req.user.id, before or db.null, limit + 1))
    local list = json.array()
    for i = 1, math.min(#rows, limit) do list[i] = notify.shape(rows[i]) end
    local next_before = #rows > limit and rows[limit].id or json.null
    return res:json({ notifications = list, unread = unread(req.user.id), nextBefore = next_before })
  end)

  r:post("/notifications/read", { body_limit = 4096 }, function(req, res)
    local body = req:json()
    if type(body) ~= "table" then errors.raise(400, "VALIDATION_ERROR", "Expected a JSON object") end
    local uid = req.user.id
    local push
    if body.all == true then
      check(db.query({ MARK_ALL, prepare = "notifications_mark_all" }, uid))
      push = { all = true }
    else
      local ids = ids_of(body)
      local m = check(db.query({ MARK, prepare = "notifications_mark" }, uid, json.encode(ids)))[1]
      if m.found < m.wanted then errors.raise(404, "NOT_FOUND", "No such notification") end
      push = { ids = ids }
    end
    push.unread = unread(uid)
    ws.broadcast("user:" .. uid, "notification:read", push)
    return res:json({ unread = push.unread })
  end)
end

local PRUNE = [[
  DELETE FROM notifications
  WHERE (read_at IS NOT NULL AND read_at < now() - make_interval(days => $1))
     OR created_at < now() - make_interval(days => $2)]]

local function prune(premature, s)
  if premature then return end
  if not lease.hold("notifications-prune", s.prune_interval / 2) then return end
  local r, err = db.query({ PRUNE, prepare = "notifications_prune" }, s.keep_read_days, s.keep_days)
  if not r then return log.warn("notifications: prune failed", { error = tostring(err) }) end
  if r.affected > 0 then log.info("notifications pruned", { rows = r.affected }) end
end

function plugin.init(_, settings)
  timer.every(settings.prune_interval, prune, settings)
end

return plugin
