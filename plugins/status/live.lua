-- plugins/status/live.lua — service status over WebSocket.
--
-- A client sends {"event":"subscribe","data":{"topic":"status"}} and gets
-- "subscribed", then at once "status:current" (the body of GET
-- /dashboard/status, for its audience), then "service:status"
-- {service, features} on each change. Users' connections are in room
-- "status"; admins' are moved to "role:admin:status" (a role:* room nobody
-- can subscribe to), which also gets hidden services and `visible`. So a
-- change is broadcast once per audience and reaches every instance's
-- members through nest.ws.
--
--   live.install()       wrap the built-in subscribe/unsubscribe (plugin init)
--   live.changed(id)     a cycle saw a change of `id`: broadcast within DEBOUNCE
--   live.resend()        "status:current" again to both rooms (visibility changed)
--
-- Debounce: the first change of a service arms a DEBOUNCE timer; changes
-- meanwhile only mark it; when it fires, the service's state as it is then
-- is broadcast — once, and only if it differs from what was broadcast last
-- (a flap back to the same state inside the window sends nothing). State is
-- per generation: a reload loses at most one pending broadcast, and the
-- next cycle's comparison finds the change again.
local ws = require "nest.ws"
local timer = require "nest.timer"
local log = require "nest.log"
local view = require "plugins.status.view"

local M = {}

M.DEBOUNCE = 0.5
M.USERS, M.ADMINS = "status", "role:admin:status"

local pending = {}      -- id -> true while a timer is armed
local sent = {}         -- id -> signature of the last broadcast

local function is_admin(conn) return ws.is_member(conn.id, "role:admin") end

local function signature(s)
  return table.concat({ s.status, tostring(s.message), tostring(s.integration), tostring(s.visible) }, "\0")
end

function M.install()
  local subscribe, unsubscribe = ws.handler("subscribe"), ws.handler("unsubscribe")
  ws.on("subscribe", function(conn, data)
    subscribe(conn, data)
    if not (type(data) == "table" and data.topic == M.USERS and ws.is_member(conn.id, M.USERS)) then return end
    local audience = "user"
    if is_admin(conn) then
      conn:leave(M.USERS)
      conn:join(M.ADMINS)
      audience = "admin"
    end
    local st, err = view.status(audience)
    if not st then
      log.warn("status: no snapshot for a subscriber", { error = tostring(err) })
      return conn:send("error", { code = "UNAVAILABLE", message = "Service status is unavailable right now",
                                  topic = M.USERS })
    end
    conn:send("status:current", st)
  end)
  ws.on("unsubscribe", function(conn, data)
    if type(data) == "table" and data.topic == M.USERS then conn:leave(M.ADMINS) end
    return unsubscribe(conn, data)
  end)
end

local function fire(premature, id)
  pending[id] = nil
  if premature then return end
  local snap, err = view.snapshot()
  if not snap then return log.warn("status: no snapshot to broadcast", { error = tostring(err) }) end
  local row = snap.by_id[id]
  if not row then return end
  local admin_view = view.service(row, true)
  local sig = signature(admin_view)
  if sent[id] == sig then return end
  sent[id] = sig
  local features = view.features(snap)
  if row.visible == true then
    ws.broadcast(M.USERS, "service:status", { service = view.service(row, false), features = features })
  end
  ws.broadcast(M.ADMINS, "service:status", { service = admin_view, features = features })
end

-- Record what clients already have (the first cycle of a generation reads
-- it from the database), so only real changes are sent.
function M.known(id, service)
  if service then sent[id] = signature(service) end
end

function M.changed(id)
  if pending[id] then return end
  pending[id] = true
  timer.at(M.DEBOUNCE, fire, id)
end

function M.resend()
  for room, audience in pairs({ [M.USERS] = "user", [M.ADMINS] = "admin" }) do
    local st = view.status(audience)
    if st then ws.broadcast(room, "status:current", st) end
  end
end

function M.reset()
  pending, sent = {}, {}
end

return M
