-- plugins/ws/init.lua — GET /ws (at the root): validates the WebSocket
-- handshake, authenticates the upgrade and hands the socket to nest.ws;
-- collects the event handlers plugins declare in `plugin.ws`.
--
-- Authentication (temporary, until the auth plugin plugs sessions in): the
-- config key websocket.test_token enables a test hook — a `token` query
-- parameter or `Authorization: Bearer <token>` equal to it authenticates
-- as user websocket.test_user (default "test"), or as the `user` query
-- parameter when given. Without test_token every upgrade is refused (401),
-- so nothing is exposed by accident. The auth plugin will replace
-- plugin.authenticate (req) -> user_id | nil.
local ws = require "nest.ws"
local config = require "nest.config"

local plugin = { name = "ws", version = "1.0.0", priority = 900 }

local function bearer(req)
  local a = req.headers.authorization
  return a and a:match("^[Bb]earer%s+(%S+)$") or nil
end

local function test_authenticate(req, cfg)
  local want = cfg.websocket and cfg.websocket.test_token
  if type(want) ~= "string" or want == "" then return nil end
  local q = req:query_params()
  local given = q.token or bearer(req)
  if given ~= want then return nil end
  local user = q.user
  if type(user) ~= "string" or not user:match("^[%w_%-]+$") then
    user = cfg.websocket.test_user or "test"
  end
  return user
end

function plugin.routes(r)
  r:get("/ws", { auth = "public", at_root = true }, function(req, res)
    local cfg = config.get()
    local status, code, msg, headers = ws.handshake_error(req, cfg)
    if status then
      for k, v in pairs(headers or {}) do res:header(k, v) end
      return res:error(status, code, msg)
    end
    local user = test_authenticate(req, cfg)
    if not user then return res:error(401, "UNAUTHENTICATED", "Sign in first") end
    local id, err = ws.accept(req, { user_id = user })
    if not id then return res:error(500, "UPGRADE_FAILED", tostring(err)) end
    res.done = true   -- the socket belongs to nest.ws now; nothing is sent
  end)
end

function plugin.init(app)
  ws.reset()
  for _, p in ipairs(app.plugins or {}) do
    for event, fn in pairs(p.plugin.ws or {}) do ws.on(event, fn) end
  end
end

return plugin
