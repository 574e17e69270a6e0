-- spec/helpers_status.lua — the status, notifications and announcements
-- specs: an app with the status plugins talking to the demo upstreams of
-- another app, users with API tokens, WebSocket clients, and a clean slate.
--
--   local hs = require "spec.helpers_status"
--   local up = hs.upstreams()                    -- demo Plex/plex.tv/Overseerr/Kuma
--   local app = hs.start(up, { interval = 0.2 }) -- status settings; opts.services overrides
--   local alice = hs.user("alice")               -- {id, name, token, client(app)}
--   local root = hs.user("root", "admin")
--   local c = alice:client(app)                  -- Bearer client
--   local w = hs.ws(app, alice)                  -- WebSocket client (spec.helpers_ws)
--   hs.kuma(up, 1, 0)                            -- Kuma monitor 1 DOWN (appends a beat)
--   hs.control(up, "plex", {latency_ms = 300})   -- latency/failure of a fake
--   hs.service(c, "plex")                        -- the service from GET /dashboard/status
--   hs.clean()                                   -- forget status rows, leases, announcements
local h = require "spec.helpers"
local hw = require "spec.helpers_ws"
local db = require "nest.db"
local crypto = require "nest.crypto"

local hs = {}

hs.TAG = "st" .. crypto.hex(crypto.random(3))     -- unique names: the database is shared
hs.PLUGINS = { "health", "auth", "ws", "notifications", "status" }

function hs.upstreams()
  return h.start({ plugins = { "demo-upstreams" }, config = { plugins = { settings = {
    ["demo-upstreams"] = { movies = 20, shows = 3, videos = 3 } } } } })
end

-- The services of an app whose integrations are the fakes of `up`.
function hs.services(up, root)
  return {
    plextv = { url = up:url("/demo/plextv") },
    plex = { url = up:url("/demo/plex"), token = "demo-token-owner" },
    overseerr = { url = up:url("/demo/overseerr"), api_key = "demo-overseerr-key" },
    uptime_kuma = { url = up:url("/demo/kuma"), slug = "demo" },
    youtube = { root = root or h.tmpname("-yt"), ytdlp = h.root .. "/bin/fake-yt-dlp" },
  }
end

local function merge(dst, src)
  for k, v in pairs(src or {}) do
    if type(v) == "table" and type(dst[k]) == "table" then merge(dst[k], v) else dst[k] = v end
  end
  return dst
end

-- start(up, settings, opts) -> app. settings: plugins.settings.status;
-- opts.services: merged over hs.services(up); opts.config: merged last.
function hs.start(up, settings, opts)
  opts = opts or {}
  local plugins = opts.plugins or hs.PLUGINS
  local cfg = {
    services = merge(hs.services(up), opts.services),
    plugins = { settings = {} },
    rate_limits = { api = { limit = 100000, window = 60 } },
  }
  for _, p in ipairs(plugins) do
    if p == "status" then cfg.plugins.settings.status = merge({ interval = 0.2, timeout = 2 }, settings) end
  end
  merge(cfg, opts.config)
  return h.start({ plugins = plugins, config = cfg })
end

local User = {}
User.__index = User

function User:client(app)
  local c = app:client()
  c.headers.Authorization = "Bearer " .. self.token
  return c
end

-- A user (unique name) with a personal API token.
function hs.user(name, role)
  local uname = hs.TAG .. "-" .. name
  local id = assert(db.query("INSERT INTO users (username, email, role) VALUES ($1, $2, $3) RETURNING id",
    uname, uname .. "@example.invalid", role or "user"))[1].id
  local token = crypto.token(32)
  assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, expires_at)
                    VALUES ($1, $2, 'api', 'spec', now() + interval '1 day')]], id, crypto.sha256(token)))
  return setmetatable({ id = id, name = uname, token = token }, User)
end

-- A WebSocket client signed in as user u (Bearer on the upgrade).
function hs.ws(app, u)
  local c, res = hw.connect(app, "/ws", { headers = { Authorization = "Bearer " .. u.token } })
  assert(c, "upgrade failed: " .. tostring(res and res.status) .. " " .. tostring(res and res.body))
  return c
end

-- Subscribe w to "status"; -> the status:current data.
function hs.subscribe(w)
  w:send("subscribe", { topic = "status" })
  local got = {}
  while not got.current do
    local m = assert(w:recv_event(5))
    got[m.event] = m.data
    if m.event == "status:current" then got.current = m.data end
  end
  assert(got.subscribed, "no 'subscribed' before status:current")
  return got.current
end

-- Every event w receives for `seconds` (a quiet period), in order.
function hs.drain(w, seconds)
  local out = {}
  local deadline = require("nest.core.app").hrtime() + seconds
  while true do
    local left = deadline - require("nest.core.app").hrtime()
    if left <= 0 then break end
    local m = w:recv_event(left)
    if not m then break end
    out[#out + 1] = m
  end
  return out
end

-- Kuma monitor `id` gets a heartbeat with `status` (0 DOWN, 1 UP, 2 PENDING, 3 MAINTENANCE).
function hs.kuma(up, id, status, msg)
  local r = up:client():post("/demo/kuma/_control/monitors/" .. id, { status = status, msg = msg })
  assert(r.status == 200, "kuma control: " .. tostring(r.status) .. " " .. tostring(r.body))
end

-- POST <fake>/_control (plex, overseerr, plextv, kuma).
function hs.control(up, fake, body)
  local r = up:client():post("/demo/" .. fake .. "/_control", body)
  assert(r.status == 200, fake .. " control: " .. tostring(r.status) .. " " .. tostring(r.body))
  return r.json
end

-- The service `id` as GET /dashboard/status shows it to client c (or nil).
function hs.service(c, id)
  local r = c:get("/api/v1/dashboard/status")
  assert(r.status == 200, "GET /dashboard/status: " .. tostring(r.status) .. " " .. tostring(r.body))
  for _, s in ipairs(r.json.services) do if s.id == id then return s, r.json end end
  return nil, r.json
end

-- Wait until client c sees service id with status `want` (and pred(service) if given).
function hs.await_status(c, id, want, timeout, pred)
  return h.wait_until(function()
    local s = hs.service(c, id)
    return s and s.status == want and (not pred or pred(s)) and s
  end, timeout or 10, 0.05, id .. " to be " .. want)
end

-- Wait until client c sees every service up, none with a refused credential;
-- on a timeout the error names the last service that was not.
function hs.await_all_up(c, timeout)
  local last = "no answer"
  local ok = pcall(h.wait_until, function()
    local r = c:get("/api/v1/dashboard/status")
    if r.status ~= 200 then last = "HTTP " .. tostring(r.status) return false end
    for _, s in ipairs(r.json.services) do
      if s.status ~= "up" or s.integration then
        last = ("%s %s (%s)"):format(s.id, s.status, tostring(s.integration or s.message))
        return false
      end
    end
    return true
  end, timeout or 15, 0.05, "every service to be up")
  if not ok then error("timed out waiting for every service to be up; last: " .. last, 2) end
end

-- The rows this feature writes, gone (the database is shared by the suite).
function hs.clean()
  for _, sql in ipairs({
    "DELETE FROM service_status", "DELETE FROM monitor_visibility", "DELETE FROM service_alerts",
    "DELETE FROM cluster_leases WHERE name = 'status-poller'", "DELETE FROM announcements",
  }) do assert(db.query(sql)) end
  -- the snapshot an earlier run left in Redis (L2) would be served until the
  -- first cycle's invalidation; redis.call connects first (nest.cache skips
  -- L2 while this process is not connected yet)
  local cache, redis = require "nest.cache", require "nest.redis"
  for _, k in ipairs({ "status:snapshot", "status:body:user", "status:body:admin", "status:library-size" }) do
    cache.delete(k)
    redis.call("DEL", cache.PREFIX .. k)
  end
end

return hs
