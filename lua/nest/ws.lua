-- nest/ws.lua — WebSocket events for plugins (docs/architecture.md#websocket).
--
-- Connections live in C (nest.core.ws); Lua only holds their integer ids.
-- Messages are JSON {"event": "...", "data": ...}; each one runs in its own
-- task, in the generation that is current when it arrives, and goes to the
-- handler registered for its event:
--
--   ws.on(event, fn(conn, data))    register (plugins/ws collects plugin.ws)
--   ws.send(conn_id, event, data)   -> true | nil, "closed"|"overflow"
--   ws.broadcast(room, event, data) -> members reached on this instance
--                                      (JSON encoded once; see "Across instances")
--   ws.start_relay() / ws.stop_relay()  the cross-instance relay (plugins/ws)
--   ws.join(conn_id, room) / ws.leave(conn_id, room) -> true | nil, "closed"
--   ws.close(conn_id[, code[, reason]])
--   ws.count() / ws.room_size(room) / ws.is_member(id, room) / ws.user(id)
--   ws.set_authorizer(fn(conn, topic) -> ok[, why])  who may subscribe where
--   ws.handshake_error(req, cfg) -> nil | status, code, message, headers
--   ws.accept(req, {user_id=...}) -> conn id | nil, err   (performs the 101)
--
-- A handler's conn is {id, user_id} with :send(event, data), :join(room),
-- :leave(room), :close(code, reason). Built-in events: "ping" -> "pong",
-- "subscribe"/"unsubscribe" {topic} (the authorizer decides, then the
-- connection joins/leaves room <topic> and gets "subscribed"/"unsubscribed").
-- On accept the connection joins "user:<user_id>" (and "role:<role>" when
-- accept is given a role; nobody may subscribe to a role:* room).
--
-- Across instances: with Redis configured, broadcast delivers to this
-- instance's members at once, then PUBLISHes {origin, seq, room, msg} on
-- the channel websocket.channel (default ws.CHANNEL). Every instance's
-- relay (subscribed once per generation by ws.start_relay) delivers what it
-- receives to its own members, except messages of its own origin (the
-- instance id of nest.invalidate, one per app) — so each connection gets a
-- broadcast exactly once. seq grows per origin and each app remembers the
-- last seq it delivered per origin (in its L1), so two generations'
-- subscriptions overlapping during a reload deliver nothing twice. Without
-- Redis, or while it is down, delivery is local only (nest.redis logs one
-- warning per outage); messages published while an instance's subscriber
-- connection is down are not replayed to it (Redis pub/sub).
-- The publish waits for Redis' reply (one round trip, bounded by
-- redis.command_timeout), which keeps one caller's broadcasts in order;
-- where the caller cannot yield it is done from a timer task instead.
local core = require "nest.core.ws"
-- the request handles' metatable (which core.accept checks) is registered by
-- nest.core.http: load it before the first upgrade request arrives
require "nest.core.http"
local json = require "nest.json"
local log = require "nest.log"

local M = {}

local handlers = {}
local authorizer

local function encode(event, data)
  if data == nil then data = json.null end
  return json.encode({ event = event, data = data })
end
M.encode = encode

function M.send(id, event, data) return core.send(id, encode(event, data)) end

---------------------------------------------------------------------------
-- broadcast and the cross-instance relay
---------------------------------------------------------------------------

M.CHANNEL = "medianest:ws"
local LAST_PREFIX = "__nest:ws:last:"     -- .. origin: last seq delivered from it
local LAST_TTL = 86400

local redis = require "nest.redis"
local l1 = require "nest.core.cache"
local instance_id = require("nest.invalidate").instance_id

local relay                               -- this generation's subscription

local function channel()
  local ok, cfg = pcall(require("nest.config").get)
  local ch = ok and type(cfg) == "table" and cfg.websocket and cfg.websocket.channel
  return type(ch) == "string" and ch ~= "" and ch or M.CHANNEL
end

local function publish(room, text)
  if not (redis.configured() and redis.available()) then return end
  -- no yield between taking seq and queueing the command: one origin's
  -- messages reach Redis (one pipelined connection) in seq order
  local seq = core.next_seq()
  local _, err = redis.call("PUBLISH", channel(), json.encode({
    origin = instance_id(), seq = seq, room = room, msg = text }))
  if err and err ~= "unavailable" then
    log.warn("websocket broadcast not published", { room = room, err = err })
  end
end

function M.broadcast(room, event, data)
  assert(type(room) == "string", "ws.broadcast: room must be a string")
  local text = encode(event, data)
  local n = core.broadcast(room, text)
  if redis.configured() then
    if coroutine.isyieldable() then
      publish(room, text)
    else
      require("nest.timer").at(0, function(premature) if not premature then publish(room, text) end end)
    end
  end
  return n
end

local function on_relay(_, payload)
  local m = json.decode(payload)
  if type(m) ~= "table" or type(m.room) ~= "string" or type(m.msg) ~= "string"
     or type(m.origin) ~= "string" or math.type(m.seq) ~= "integer" then
    return
  end
  if m.origin == instance_id() then return end     -- delivered locally already
  local key = LAST_PREFIX .. m.origin
  local last = l1.get(key)
  if math.type(last) == "integer" and m.seq <= last then return end   -- seen (reload overlap)
  l1.set(key, m.seq, LAST_TTL)
  core.broadcast(m.room, m.msg)
end

-- Subscribe this generation's relay (idempotent) -> true | nil, err
-- ("not configured" without Redis: broadcasts are then local only).
function M.start_relay()
  if relay then return true end
  local s, err = redis.subscribe(channel(), on_relay)
  if not s then return nil, err end
  relay = s
  return true
end

function M.stop_relay()
  if relay then relay.unsubscribe(); relay = nil end
end
function M.join(id, room) return core.join(id, room) end
function M.leave(id, room) return core.leave(id, room) end
function M.close(id, code, reason) return core.close(id, code, reason) end
M.count, M.room_size, M.is_member, M.user, M.queued = core.count, core.room_size, core.is_member,
  core.user, core.queued

function M.on(event, fn)
  assert(type(event) == "string", "ws.on: event must be a string")
  assert(type(fn) == "function", "ws.on: handler must be a function")
  handlers[event] = fn
end

function M.handler(event) return handlers[event] end

-- Forget every handler (plugins/ws re-registers them at init).
function M.reset()
  handlers = {}
  authorizer = nil
  M.builtins()
end

function M.set_authorizer(fn) authorizer = fn end

-- Default: any topic but another user's room or role:* (docs/architecture.md#websocket-events).
local function default_authorize(conn, topic)
  local other = topic:match("^user:(.*)$")
  if other then return other == tostring(conn.user_id), "not your user room" end
  if topic:match("^role:") then return false, "role rooms are joined on connect" end
  return true
end

local Conn = {}
Conn.__index = Conn
function Conn:send(event, data) return M.send(self.id, event, data) end
function Conn:join(room) return M.join(self.id, room) end
function Conn:leave(room) return M.leave(self.id, room) end
function Conn:close(code, reason) return M.close(self.id, code, reason) end

function M.conn(id)
  return setmetatable({ id = id, user_id = core.user(id) }, Conn)
end

local function bad_topic(topic)
  return type(topic) ~= "string" or #topic == 0 or #topic > 200 or topic:find("[^%w:_%-%.]")
end

function M.builtins()
  handlers.ping = function(conn, data) conn:send("pong", data) end
  handlers.subscribe = function(conn, data)
    local topic = type(data) == "table" and data.topic or nil
    if bad_topic(topic) then
      return conn:send("error", { code = "BAD_TOPIC", message = "data.topic must be a topic name" })
    end
    local ok, why = (authorizer or default_authorize)(conn, topic)
    if not ok then
      return conn:send("error", { code = "FORBIDDEN", message = why or "not allowed", topic = topic })
    end
    conn:join(topic)
    conn:send("subscribed", { topic = topic })
  end
  handlers.unsubscribe = function(conn, data)
    local topic = type(data) == "table" and data.topic or nil
    if bad_topic(topic) then
      return conn:send("error", { code = "BAD_TOPIC", message = "data.topic must be a topic name" })
    end
    conn:leave(topic)
    conn:send("unsubscribed", { topic = topic })
  end
end
M.builtins()

-- Called by C (lua_ws.c) in a task of its own for every text message.
function M._dispatch(id, text)
  local msg = json.decode(text)
  if type(msg) ~= "table" or type(msg.event) ~= "string" then
    return M.send(id, "error", { code = "BAD_MESSAGE", message = 'expected {"event": "...", "data": ...}' })
  end
  local fn = handlers[msg.event]
  if not fn then
    return M.send(id, "error", { code = "UNKNOWN_EVENT", message = "no handler for this event",
                                 event = msg.event })
  end
  local data = msg.data
  if data == json.null then data = nil end
  local ok, err = xpcall(fn, debug.traceback, M.conn(id), data)
  if not ok then
    log.error("websocket handler failed", { event = msg.event, conn = id, error = tostring(err) })
    M.send(id, "error", { code = "INTERNAL", message = "Internal server error", event = msg.event })
  end
end

-- Called by C when a connection is gone; plugins may hook M.on_close.
function M._closed(id, code)
  if M.on_close then M.on_close(id, code) end
end

---------------------------------------------------------------------------
-- handshake
---------------------------------------------------------------------------

local function has_token(value, token)
  if not value then return false end
  for part in value:gmatch("[^,]+") do
    if part:match("^%s*(.-)%s*$"):lower() == token then return true end
  end
  return false
end

local function origin_allowed(req, cfg)
  local origin = req.headers.origin
  if not origin then return true end            -- not a browser
  local host = req.headers.host
  if host and (origin == "http://" .. host or origin == "https://" .. host) then return true end
  for _, o in ipairs(cfg.allowed_origins or {}) do
    if o == origin or o == "*" then return true end
  end
  return false
end

-- nil when req is a valid upgrade, else status, code, message, headers.
function M.handshake_error(req, cfg)
  local hd = req.headers
  if req.method ~= "GET" then
    return 405, "METHOD_NOT_ALLOWED", "WebSocket upgrades use GET", { allow = "GET" }
  end
  if not has_token(hd.upgrade, "websocket") or not has_token(hd.connection, "upgrade") then
    return 426, "UPGRADE_REQUIRED", "This endpoint speaks WebSocket only",
      { upgrade = "websocket", ["sec-websocket-version"] = "13" }
  end
  if hd["sec-websocket-version"] ~= "13" then
    return 426, "UNSUPPORTED_VERSION", "Sec-WebSocket-Version must be 13",
      { ["sec-websocket-version"] = "13" }
  end
  local key = hd["sec-websocket-key"]
  if not key or not core.accept_key(key) then
    return 400, "BAD_KEY", "Sec-WebSocket-Key must be the base64 of 16 bytes"
  end
  if not origin_allowed(req, cfg) then
    return 403, "ORIGIN_NOT_ALLOWED", "Origin not allowed"
  end
  return nil
end

-- Perform the upgrade; the HTTP request is over afterwards (nothing more may
-- be sent on res). opts.user_id (joined to "user:<id>"), opts.role (joined
-- to "role:<role>").
function M.accept(req, opts)
  opts = opts or {}
  local cfg = require("nest.config").get()
  local wcfg = cfg.websocket or {}
  local user = opts.user_id ~= nil and tostring(opts.user_id) or nil
  local function int(v) return v and (math.tointeger(v) or math.floor(v)) or nil end
  local id, err = core.accept(req.handle, req.headers["sec-websocket-key"] or "", {
    user = user,
    max_message = int(wcfg.max_message),
    queue_max = int(wcfg.queue_max),
    queue_bytes = int(wcfg.queue_bytes),
    ping_interval = wcfg.ping_interval,
    pong_timeout = wcfg.pong_timeout,
    close_timeout = wcfg.close_timeout,
    stall_timeout = wcfg.stall_timeout,
  })
  if not id then return nil, err end
  if user then core.join(id, "user:" .. user) end
  if type(opts.role) == "string" and opts.role ~= "" then core.join(id, "role:" .. opts.role) end
  if M.on_open then M.on_open(id, user) end
  return id
end

return M
