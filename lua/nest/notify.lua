-- nest/notify.lua — in-app notifications any plugin sends: a row in
-- `notifications`, pushed live as the WebSocket event "notification" to the
-- user's connections on every instance (room "user:<id>", through nest.ws,
-- which crosses instances over Redis). The routes that list and mark them
-- are plugins/notifications.
--
--   local notify = require "nest.notify"
--   local n, err = notify.user(user_id, {
--     type  = "request_available",          -- ^[a-z][a-z0-9_.:-]{0,63}$
--     title = "The Matrix is available",    -- plain text, <= 200 chars (cut)
--     body  = "…", link = "/requests/12",   -- optional; body <= 2000 chars (cut)
--     data  = { requestId = 12 },           -- optional, ids the client needs
--     key   = "request:12:available",       -- optional event key: once per user
--   })
--   -- n = the notification as the API shows it, or false when `key` was
--   -- already used for this user or the user turned this kind off in their
--   -- settings (M.KINDS; nothing stored, nothing pushed); nil, err
--   -- on a database error.
--   local count, err = notify.admins({...})  -- every enabled admin; count newly notified
--
-- Idempotence is the database's: a unique index on (user_id, event_key), so
-- two instances noticing the same event, or a webhook delivered twice, leave
-- one row and one push.
local db = require "nest.db"
local ws = require "nest.ws"

local M = {}

local TYPE = "^[a-z][a-z0-9_.:-]*$"

local function cut(s, n)
  if s == nil or s == db.null then return nil end
  s = tostring(s)
  if #s <= n then return s end
  -- cut on a UTF-8 boundary (never in the middle of a sequence)
  local i = n
  while i > 0 and (s:byte(i + 1) or 0) & 0xC0 == 0x80 do i = i - 1 end
  return s:sub(1, i)
end

-- The API shape of a notifications row (also what the WebSocket carries).
function M.shape(row)
  return {
    id = row.id, type = row.type, title = row.title,
    body = row.body ~= db.null and row.body or nil,
    link = row.link ~= db.null and row.link or nil,
    data = row.data, read = row.read_at ~= db.null and row.read_at ~= nil,
    readAt = row.read_at ~= db.null and row.read_at or nil, createdAt = row.created_at,
  }
end

-- The kinds a user may turn off in their settings (notification_preferences,
-- migration 0013), by the type's prefix; a type of no kind is always sent.
M.KINDS = { services = { "service_", "integration_" }, requests = { "request_" },
            downloads = { "download_", "youtube_" } }   -- the youtube branch sends youtube_completed|failed

function M.kind(type)
  for kind, prefixes in pairs(M.KINDS) do
    for _, p in ipairs(prefixes) do
      if type:sub(1, #p) == p then return kind end
    end
  end
  return nil
end

-- Stored unless the user muted the type's kind: one statement either way.
local INSERT = [[
  INSERT INTO notifications (user_id, type, title, body, link, data, event_key)
  SELECT $1, $2, $3, $4, $5, $6, $7
  WHERE $8::text IS NULL OR NOT EXISTS (
    SELECT 1 FROM notification_preferences p WHERE p.user_id = $1 AND $8 = ANY (p.muted))
  ON CONFLICT (user_id, event_key) WHERE event_key IS NOT NULL DO NOTHING
  RETURNING id, type, title, body, link, data, read_at, created_at]]

function M.user(user_id, n)
  assert(math.type(user_id) == "integer", "notify.user: user_id must be an integer")
  assert(type(n) == "table" and type(n.type) == "string" and #n.type <= 64 and n.type:match(TYPE),
    "notify.user: type must match " .. TYPE)
  assert(type(n.title) == "string" and n.title ~= "", "notify.user: title is required")
  local rows, err = db.query({ INSERT, prepare = "notify_insert_v2" }, user_id, n.type, cut(n.title, 200),
    cut(n.body, 2000) or db.null, cut(n.link, 2048) or db.null, n.data or {},
    n.key and cut(n.key, 200) or db.null, M.kind(n.type) or db.null)
  if not rows then return nil, err end
  if not rows[1] then return false end
  local shaped = M.shape(rows[1])
  ws.broadcast("user:" .. user_id, "notification", shaped)
  return shaped
end

function M.admins(n)
  local rows, err = db.query({ "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id",
                               prepare = "notify_admins" })
  if not rows then return nil, err end
  local count = 0
  for _, r in ipairs(rows) do
    local ok, e = M.user(r.id, n)
    if ok == nil then return nil, e end
    if ok then count = count + 1 end
  end
  return count
end

return M
