-- plugins/status/announcements.lua — admins' banners for everyone
-- (announcements table, 0009): validation, SQL, the API shape, and the
-- live push to every signed-in connection (rooms role:user and role:admin,
-- which every connection joins on open; no subscription needed).
--
--   ann.parse(body) -> fields | raises 400 VALIDATION_ERROR naming the field
--   ann.current() -> { announcement... } | nil, err    not ended yet, newest first
--   ann.create(fields, by) -> announcement | nil, err  (+ "announcement:new")
--   ann.remove(id) -> true | false | nil, err          (+ "announcement:removed")
--
-- Plain text only: the message is stored and served verbatim as a JSON
-- string, never as markup (the UI renders it as text); control characters
-- other than newline and tab are refused. At most MAX_ACTIVE announcements
-- that have not ended may exist at once (409 beyond), so the banner area
-- and the table stay bounded.
local db = require "nest.db"
local ws = require "nest.ws"
local json = require "nest.json"
local errors = require "nest.errors"

local M = {}

M.MAX_MESSAGE = 1000
M.MAX_ACTIVE = 20
M.BODY_LIMIT = 8192
local LEVELS = { info = true, warning = true, critical = true }
local ROOMS = { "role:user", "role:admin" }
local ISO = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d[:%d%.]*[Zz+%-][%d:]*$"

local function invalid(field, message)
  errors.raise(400, "VALIDATION_ERROR", message, { field = field })
end

local function time_field(body, name)
  local v = body[name]
  if v == nil or v == json.null then return nil end
  if type(v) ~= "string" or #v > 40 or not v:match(ISO) then
    invalid(name, name .. " must be an ISO 8601 time with a zone (2026-01-31T20:00:00Z) or null")
  end
  return v
end

function M.parse(body)
  if type(body) ~= "table" then invalid(nil, "Expected a JSON object") end
  local msg = body.message
  if type(msg) ~= "string" then invalid("message", "message is required (plain text)") end
  msg = msg:gsub("^%s+", ""):gsub("%s+$", "")
  if msg == "" then invalid("message", "message must not be empty") end
  if utf8.len(msg) == nil then invalid("message", "message must be UTF-8 text") end
  if utf8.len(msg) > M.MAX_MESSAGE then
    invalid("message", ("message is at most %d characters"):format(M.MAX_MESSAGE))
  end
  if msg:find("[%z\1-\8\11-\31\127]") then invalid("message", "message must be plain text (no control characters)") end
  local level = body.level == nil and "info" or body.level
  if not LEVELS[level] then invalid("level", "level must be info, warning or critical") end
  for k in pairs(body) do
    if k ~= "message" and k ~= "level" and k ~= "startsAt" and k ~= "endsAt" then
      invalid(k, "unknown field " .. tostring(k))
    end
  end
  return { message = msg, level = level, startsAt = time_field(body, "startsAt"), endsAt = time_field(body, "endsAt") }
end

local COLS = "id, message, level, starts_at, ends_at, created_at"

local function shape(r)
  return { id = r.id, message = r.message, level = r.level, startsAt = r.starts_at,
           endsAt = r.ends_at, createdAt = r.created_at }
end

function M.current()
  local rows, err = db.query({ "SELECT " .. COLS .. " FROM announcements WHERE ends_at IS NULL OR ends_at > now() "
                               .. "ORDER BY created_at DESC, id DESC LIMIT " .. M.MAX_ACTIVE * 2,
                               prepare = "status_announcements" })
  if not rows then return nil, err end
  local out = json.array()
  for i, r in ipairs(rows) do out[i] = shape(r) end
  return out
end

-- The insert checks the bounds (times parse, end after start and after now)
-- and the cap in one statement; -> announcement | nil, err | raises 400/409.
local INSERT = [[
  WITH t AS (SELECT $3::timestamptz AS s, $4::timestamptz AS e),
  n AS (SELECT count(*) AS active FROM announcements WHERE ends_at IS NULL OR ends_at > now())
  INSERT INTO announcements (message, level, starts_at, ends_at, created_by)
  SELECT $1, $2, t.s, t.e, $5 FROM t, n
  WHERE n.active < $6 AND (t.e IS NULL OR t.e > now()) AND (t.e IS NULL OR t.s IS NULL OR t.e > t.s)
  RETURNING ]] .. COLS

function M.create(f, by)
  local rows, err = db.query({ INSERT, prepare = "status_announcement_insert" }, f.message, f.level,
    f.startsAt or db.null, f.endsAt or db.null, by, M.MAX_ACTIVE)
  if not rows then
    if type(err) == "table" and tostring(err.code):match("^22") then   -- data exception: a bad time
      invalid(nil, "startsAt/endsAt: not a valid time")
    end
    return nil, err
  end
  if not rows[1] then
    local active = db.query("SELECT count(*) AS n FROM announcements WHERE ends_at IS NULL OR ends_at > now()")
    if active and active[1].n >= M.MAX_ACTIVE then
      errors.raise(409, "TOO_MANY_ANNOUNCEMENTS",
        ("At most %d announcements may be current or scheduled; delete one first"):format(M.MAX_ACTIVE))
    end
    invalid("endsAt", "endsAt must be in the future and after startsAt")
  end
  local a = shape(rows[1])
  for _, room in ipairs(ROOMS) do ws.broadcast(room, "announcement:new", { announcement = a }) end
  return a
end

function M.remove(id)
  local r, err = db.query({ "DELETE FROM announcements WHERE id = $1", prepare = "status_announcement_delete" }, id)
  if not r then return nil, err end
  if r.affected == 0 then return false end
  for _, room in ipairs(ROOMS) do ws.broadcast(room, "announcement:removed", { id = id }) end
  return true
end

return M
