-- plugins/ws/init.lua — GET /ws (at the root): validates the WebSocket
-- handshake and hands the socket to nest.ws; collects the event handlers
-- plugins declare in `plugin.ws`; starts the cross-instance relay of
-- broadcasts (nest.ws.start_relay, a no-op without Redis).
--
-- Authentication is the framework's: the route has auth "user", so the
-- auth plugin's `before` hook (session cookie, Bearer token) sets req.user
-- and the route guard answers 401 when nobody is signed in. The connection
-- is opened for req.user.id (it joins "user:<id>", and "role:<role>" when
-- the user has a role).
--
-- Test hook (config, for specs and benchmarks only): websocket.test_token
-- set to a non-empty string makes this plugin's `before` hook accept, on
-- the /ws route only and only when no one is signed in already, a `token`
-- query parameter or `Authorization: Bearer <token>` equal to it as
-- req.user = {id = websocket.test_user (default "test"), role = "user"},
-- or the `user` query parameter ([%w_-]+) as the id when given. Without
-- test_token the hook does nothing.
--
-- Benchmark event (only with bench.enabled or --demo; bench/ws_broadcast.sh):
-- "bench:broadcast" {seq, ...} broadcasts event "bench" with that data to
-- room "bench" and answers "bench:sent" {seq, reached, fanout_ms} (the time
-- ws.broadcast took: encoding, writing to every member, publishing).
local ws = require "nest.ws"
local config = require "nest.config"

local plugin = { name = "ws", version = "1.1.0", priority = 900 }

local function test_user(req, cfg)
  local wcfg = cfg.websocket or {}
  local want = wcfg.test_token
  if type(want) ~= "string" or want == "" then return nil end
  local q = req:query_params()
  local given = q.token or req:bearer()
  if given ~= want then return nil end
  local user = q.user
  if type(user) ~= "string" or not user:match("^[%w_%-]+$") or #user > 64 then
    user = wcfg.test_user or "test"
  end
  return user
end

local function is_ws_route(route)
  return route and route.plugin == "ws" and route.pattern == "/ws"
end

function plugin.before(req, _, route)
  if req.user or not is_ws_route(route) then return end
  local user = test_user(req, config.get())
  if user then req.user = { id = user, role = "user" } end
end

function plugin.routes(r)
  r:get("/ws", { auth = "user", at_root = true, query_token = true }, function(req, res)
    local status, code, msg, headers = ws.handshake_error(req, config.get())
    if status then
      for k, v in pairs(headers or {}) do res:header(k, v) end
      return res:error(status, code, msg)
    end
    local id, err = ws.accept(req, { user_id = req.user.id, role = req.user.role })
    if not id then return res:error(500, "UPGRADE_FAILED", tostring(err)) end
    res.done = true   -- the socket belongs to nest.ws now; nothing is sent
  end)
end

function plugin.init(app)
  ws.reset()
  for _, p in ipairs(app.plugins or {}) do
    for event, fn in pairs(p.plugin.ws or {}) do ws.on(event, fn) end
  end
  local cfg = config.get()
  if cfg.demo or (cfg.bench and cfg.bench.enabled) then
    local hrtime = require("nest.core.app").hrtime
    ws.on("bench:broadcast", function(conn, data)
      local t0 = hrtime()
      local reached = ws.broadcast("bench", "bench", data)
      conn:send("bench:sent", { seq = type(data) == "table" and data.seq or nil, reached = reached,
                                fanout_ms = (hrtime() - t0) * 1000 })
    end)
  end
  ws.count()   -- creates the app's connection registry: the gauge reads 0 from the start
  ws.start_relay()
end

return plugin
