-- spec/helpers_library.lua — the library specs' setup: the demo Plex (one
-- app) and MediaNest with auth + library (another), signed-in clients, and a
-- look at the demo's counters to prove what reached Plex.
--
--   local hl = require "spec.helpers_library"
--   local env = hl.start({ library = { ... settings } , config = { ... } })
--   env.up, env.app                -- the demo upstreams, MediaNest
--   local friend = hl.sign_in(env, "friend")
--   hl.pms(env)                    -- the demo PMS' _control state (requests, transcodes)
--   hl.control(env, {fail_next = 3})
--   hl.recorder(client)            -- every response it gets is kept in client.seen
--   env:stop()
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local json = require "nest.json"

local hl = {}

hl.SEARCH_LIMIT = 5000
hl.TOKENS = { "demo-token-owner", "demo-server-token-friend", "demo-token-friend" }

local Env = {}
Env.__index = Env

-- Forget the per-user rate-limit counters these specs ran up in the shared
-- Redis: the next spec's users have the same ids and the default limits.
local function forget_rate_counters()
  local redis = require "nest.redis"
  if not redis.configured() then return end
  local cursor = "0"
  repeat
    local res = redis.call("SCAN", cursor, "MATCH", "rl:*:u:*", "COUNT", 500)
    if not res then return end
    cursor = res[1]
    if #res[2] > 0 then redis.call("DEL", table.unpack(res[2])) end
  until cursor == "0"
end

function Env:stop()
  if self.app then self.app:stop() end
  if self.up and self.own_up then self.up:stop() end
  forget_rate_counters()
end

-- Start MediaNest with the library plugin (again: `restart`) against env.up.
function Env:start_app()
  local cfg = ha.config(self.up, self.opts.config)
  -- specs call far more than a person would; search keeps a limit of its own
  -- (hl.SEARCH_LIMIT) so its header can be checked
  cfg.rate_limits.search = { limit = hl.SEARCH_LIMIT, window = 60 }
  cfg.plugins = { enabled = { "health", "auth", "ratelimit", "library" },
                  settings = { library = self.opts.library or {} } }
  self.app = h.start({ config = cfg })
  return self.app
end

function Env:restart()
  self.app:stop()
  return self:start_app()
end

-- opts: {up = an existing demo app, library = settings, config = overrides}
function hl.start(opts)
  opts = opts or {}
  -- the specs' Redis outlives a run and user ids repeat in a fresh database:
  -- forget every library answer cached by an earlier run
  local redis = require "nest.redis"
  if redis.configured() then redis.call("PING") end    -- connects: available() is false until then
  require("nest.cache").delete_pattern("plex:*")
  local env = setmetatable({ opts = opts }, Env)
  env.up = opts.up
  if not env.up then
    env.up = h.start({ plugins = { "health", "demo-upstreams" } })
    env.own_up = true
  end
  env:start_app()
  return env
end

function hl.sign_in(env, who) return ha.sign_in(env.app, env.up, who) end

function hl.pms(env)
  local r = env.up:get("/demo/plex/_control")
  assert(r.status == 200, "demo PMS _control: " .. tostring(r.status))
  return json.decode(r.body)
end

function hl.control(env, body)
  local r = env.up:post("/demo/plex/_control", body)
  assert(r.status == 200, "demo PMS _control: " .. tostring(r.status) .. " " .. tostring(r.body))
  return json.decode(r.body)
end

-- The requests Plex received while fn ran.
function hl.plex_calls(env, fn)
  local before = hl.pms(env).requests
  fn()
  return hl.pms(env).requests - before
end

-- Keep every response client c receives (c.seen), to scan them afterwards.
function hl.recorder(c)
  c.seen = {}
  local request = c.request
  c.request = function(self, method, path, o)
    local res, err = request(self, method, path, o)
    if res then self.seen[#self.seen + 1] = { path = path, res = res } end
    return res, err
  end
  return c
end

-- A JSON body decoded with integers kept (the helpers' cjson gives floats).
function hl.body(res) return json.decode(res.body) end

-- The pixel size of a PNG: width, height.
function hl.png_size(body)
  if body:sub(1, 8) ~= "\137PNG\r\n\26\n" then return nil end
  local w, hgt = string.unpack(">I4I4", body, 17)
  return w, hgt
end

return hl
