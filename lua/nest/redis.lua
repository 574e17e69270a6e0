-- nest/redis.lua — Redis for plugins and the framework (docs/architecture.md#redis), over
-- nest.core.redis (core/lua_redis.c, core/redis_client.c).
--
--   redis.call(cmd, ...)            -> reply | nil, err
--   redis.pipeline(function(p) p:call(...) ... end)
--                                   -> {reply, ...} | nil, err
--   redis.eval(script, keys, args)  -> reply | nil, err  (EVALSHA, EVAL on NOSCRIPT)
--   redis.subscribe(channels, fn)   -> handle with :unsubscribe() | nil, err
--                                      fn(channel, message) runs in its own task
--   redis.available()               -> boolean (configured and connected)
--   redis.configured()              -> boolean
--   redis.configure{url=, connect_timeout=, command_timeout=, reconnect_max=}
--   redis.null                      -- a nil inside an array reply
--
-- Configuration comes lazily from require("nest.config").get().redis on the
-- first use; url nil (or "") means Redis is not used: every call returns
-- nil, "not configured" at once and nothing is logged. Replies: status and
-- bulk strings are strings, integers integers, arrays tables; an error reply
-- is nil, "<message>" for call and {err = "<message>"} inside a pipeline.
-- Transport errors: "unavailable" (Redis down: no queueing, fails at once),
-- "timeout" (command_timeout passed), "not configured".
-- While Redis is down one warning is logged ("redis unavailable") and one
-- info line when it is back ("redis back").
local core = require "nest.core.redis"
local log = require "nest.log"
local json = require "nest.json"

local redis = { null = json.null }

local state = { checked = false, url = nil, timeout = 2 }

-- parse_url("redis://[:password@]host[:port][/db]") -> {host, port, password, db} | nil, err
function redis.parse_url(url)
  local rest = url:match("^redis://(.*)$")
  if not rest then return nil, "redis url must start with redis://" end
  local auth, hostpart = rest:match("^(.*)@(.*)$")
  if not auth then hostpart = rest end
  local password
  if auth then password = auth:match("^[^:]*:(.*)$") or auth end
  if password == "" then password = nil end
  local hostport, db = hostpart:match("^([^/]*)/?(%d*)$")
  if not hostport then return nil, "bad redis url" end
  local host, port = hostport:match("^%[(.-)%]:?(%d*)$")
  if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
  if host == "" or host == "localhost" then host = "127.0.0.1" end
  return { host = host, port = tonumber(port) or 6379, password = password, db = tonumber(db) or 0 }
end

function redis.configure(opts)
  state.checked = true
  state.url = opts.url ~= "" and opts.url or nil
  state.timeout = opts.command_timeout or 2
  if not state.url then return true end
  local t = assert(redis.parse_url(state.url))
  t.connect_timeout = opts.connect_timeout or 1
  t.reconnect_max = opts.reconnect_max or 5
  return core.configure(t)
end

local function ensure()
  if not state.checked then
    local ok, cfg = pcall(function() return require("nest.config").get() end)
    local r = ok and type(cfg) == "table" and cfg.redis or {}
    if r.url == nil and core.configured() then
      state.checked, state.url = true, "(configured)"   -- another generation did it
    else
      redis.configure(r)
    end
  end
  return state.url ~= nil
end

-- Report outage transitions (kept once per app by the C client).
local function report()
  local e = core.event()
  if e == "down" then
    log.warn("redis unavailable", { url = state.url and state.url:gsub("//[^@]*@", "//***@") })
  elseif e == "back" then
    log.info("redis back")
  end
end

local function finish(...)
  report()
  return ...
end

function redis.configured()
  return ensure()
end

function redis.available()
  if not ensure() then return false end
  report()
  return core.available()
end

function redis.call(...)
  if not ensure() then return nil, "not configured" end
  return finish(core.call(state.timeout, ...))
end

local Pipe = {}
Pipe.__index = Pipe
function Pipe:call(...)
  self.cmds[#self.cmds + 1] = table.pack(...)
  self.cmds[#self.cmds].n = nil
end

function redis.pipeline(fn)
  if not ensure() then return nil, "not configured" end
  local p = setmetatable({ cmds = {} }, Pipe)
  fn(p)
  return finish(core.pipeline(state.timeout, p.cmds))
end

local shas = setmetatable({}, { __mode = "k" })

function redis.eval(script, keys, args)
  if not ensure() then return nil, "not configured" end
  keys, args = keys or {}, args or {}
  local sha = shas[script]
  if not sha then sha = core.sha1(script); shas[script] = sha end
  local nk = #keys
  local argv = { "EVALSHA", sha, nk }
  for i = 1, nk do argv[#argv + 1] = keys[i] end
  for i = 1, #args do argv[#argv + 1] = args[i] end
  local res, err = core.call(state.timeout, table.unpack(argv))
  if res == nil and err and err:find("^NOSCRIPT") then
    argv[1], argv[2] = "EVAL", script
    res, err = core.call(state.timeout, table.unpack(argv))
  end
  return finish(res, err)
end

-- subscribe(channel or {channels}, fn) -> handle (:unsubscribe()) | nil, err
function redis.subscribe(channels, fn)
  assert(type(fn) == "function", "nest.redis.subscribe: fn must be a function")
  if not ensure() then return nil, "not configured" end
  if type(channels) == "string" then channels = { channels } end
  local subs = {}
  for _, ch in ipairs(channels) do
    local s, err = core.subscribe(ch, fn)
    if not s then
      for _, o in ipairs(subs) do o:unsubscribe() end
      return nil, err
    end
    subs[#subs + 1] = s
  end
  return {
    unsubscribe = function()
      local any = false
      for _, s in ipairs(subs) do any = s:unsubscribe() or any end
      return any
    end,
  }
end

return redis
