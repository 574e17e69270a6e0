-- spec/helpers_requests.lua — an app with the requests plugin talking to the
-- demo Overseerr of a second app, its webhook agent pointed back at us.
--
--   local hr = require "spec.helpers_requests"
--   local env = hr.start({ requests = {...settings} })  -- {up, app, owner, friend}
--   hr.reset(env)                        -- demo Overseerr back to its catalogue, no requests here
--   hr.control(env, oid, "approved")     -- change a request in the demo Overseerr (sends the webhook)
--   hr.deliveries(env)                   -- what the demo's webhook agent sent
--   local ws = hr.ws(env, env.friend)    -- a WebSocket of that signed-in client
--   hr.next_event(ws, "request:update", function(d) return d.status == "available" end)
--   hr.stop(env)
-- owner (admin here; ADMIN in Overseerr: auto-approved) and friend (plain;
-- REQUEST in Overseerr: starts pending) sign in through the demo plex.tv.
local h = require "spec.helpers"
local ha = require "spec.helpers_auth"
local hw = require "spec.helpers_ws"
local db = require "nest.db"
local crypto = require "nest.crypto"

local hr = {}

hr.SECRET = "spec-webhook-secret-" .. crypto.hex(crypto.random(4))
hr.PLUGINS = { "health", "ratelimit", "ws", "auth", "notifications", "requests" }

function hr.config(up, requests, extra)
  local cfg = ha.config(up, {
    rate_limits = { auth = { limit = 100000, window = 60, by = "ip" },
                    media_request = { limit = 1000, window = 3600 }, search = { limit = 1000, window = 60 },
                    api = { limit = 100000, window = 60 } },
  })
  cfg.services.overseerr = { url = up:url("/demo/overseerr"), api_key = "demo-overseerr-key",
                             webhook_secret = hr.SECRET }
  cfg.plugins = { enabled = hr.PLUGINS, settings = { requests = requests or { sync_interval = 0 } } }
  for k, v in pairs(extra or {}) do
    if k == "rate_limits" then
      for name, l in pairs(v) do cfg.rate_limits[name] = l end   -- the spec's own, over the raised ones
    else
      cfg[k] = v
    end
  end
  return cfg
end

function hr.start(opts)
  opts = opts or {}
  local env = {}
  -- the demo upstreams, and a receiver for relayed webhooks (POST/GET /sink/webhook)
  env.up = h.start({ plugins = { "health", "demo-upstreams", "demo_sink" }, config = {
    plugins = { paths = { h.root .. "/spec/fixtures/plugins" },
                settings = { ["demo-upstreams"] = { movies = 20, shows = 3, videos = 0 } } } } })
  env.app = h.start({ config = hr.config(env.up, opts.requests, opts.config) })
  env.owner = ha.sign_in(env.app, env.up, "owner")
  env.friend = ha.sign_in(env.app, env.up, "friend")
  -- the database is shared by the whole suite: owner is the admin here
  -- whoever signed in first
  ha.set_role("owner", "admin")
  ha.set_role("friend", "user")
  hr.point_webhook(env, env.app)
  return env
end

function hr.point_webhook(env, app, secret)
  local r = env.up:client():post("/demo/overseerr/_control/webhook",
    { url = app:url("/api/v1/webhooks/overseerr"), authorization = secret or hr.SECRET })
  assert(r.status == 200, "pointing the demo webhook: " .. tostring(r.status))
end

function hr.reset(env)
  assert(env.up:client():post("/demo/overseerr/_control/reset", {}).status == 200)
  assert(env.up:client():post("/demo/overseerr/_control", { reset = true }).status < 300)
  assert(db.query("DELETE FROM media_requests"))
  assert(db.query("DELETE FROM notifications WHERE type LIKE 'request_%'"))
end

function hr.control(env, oid, status)
  local r = env.up:client():post("/demo/overseerr/_control/requests/" .. ha.id(oid), { status = status })
  assert(r.status == 200, "demo control " .. status .. ": " .. tostring(r.status) .. " " .. tostring(r.body))
  return r.json
end

function hr.deliveries(env)
  return env.up:client():get("/demo/overseerr/_control/webhook").json
end

-- Wait until the demo's webhook agent has nothing left to send.
function hr.drained(env, n)
  return h.wait_until(function()
    local d = hr.deliveries(env)
    return d.pending == 0 and #d.deliveries >= (n or 0) and d
  end, 10, 0.02, "the demo webhook deliveries")
end

function hr.ws(env, c)
  local conn, res = hw.connect(env.app, "/ws", { headers = { Cookie = c:cookie_header() } })
  assert(conn, "ws upgrade: " .. tostring(res and res.status))
  return conn
end

-- The next event named `name` (for which pred(data) holds, when given).
function hr.next_event(conn, name, pred, timeout)
  local deadline = require("nest.core.app").hrtime() + (timeout or 10)
  while require("nest.core.app").hrtime() < deadline do
    local ev = conn:recv_event(math.max(0.05, deadline - require("nest.core.app").hrtime()))
    if ev and ev.event == name and (not pred or pred(ev.data)) then return ev.data end
  end
  error("no '" .. name .. "' event arrived")
end

function hr.notifications(user_id, key)
  return assert(db.query("SELECT id, type, title, event_key FROM notifications WHERE user_id = $1 AND event_key = $2",
                         user_id, key))
end

-- A user with no Plex account (so no Overseerr user), signed in by API token.
function hr.local_user(env, name)
  local rows = assert(db.query("INSERT INTO users (username, email, role) VALUES ($1, $2, 'user') RETURNING id",
    name, name .. "@example.invalid"))
  local token = crypto.token(32)
  assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, expires_at)
                    VALUES ($1, $2, 'api', 'spec', now() + interval '1 day')]], rows[1].id, crypto.sha256(token)))
  local c = ha.bearer(env.app, token)
  c.user = { id = rows[1].id, username = name }
  return c
end

-- Drop the counters of a rate limit (they live in Redis, which outlives the
-- spec database and so its user ids).
function hr.forget_limits(name)
  local redis = require "nest.redis"
  local cursor = "0"
  repeat
    local r = assert(redis.call("SCAN", cursor, "MATCH", "rl:" .. name .. ":*", "COUNT", 1000))
    cursor = r[1]
    if #r[2] > 0 then assert(redis.call("DEL", table.unpack(r[2]))) end
  until cursor == "0"
end

-- Stops both apps and forgets the rate-limit counters the spec ran up: they
-- are keyed by user id in Redis, and the next fresh database (another spec,
-- the browser scenarios) gives the same ids to the demo users.
function hr.stop(env)
  env.app:stop()
  env.up:stop()
  for _, name in ipairs({ "search", "media_request", "api" }) do hr.forget_limits(name) end
end

return hr
