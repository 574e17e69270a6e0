-- plugins/ready/init.lua — readiness: GET /ready answers 200 when PostgreSQL
-- (and Redis, when configured) answer, 503 naming what is down otherwise
-- (docs/architecture.md#metrics-health-logs), checked at most once a second per instance. Its init
-- also runs the migrations on `serve` start when database.migrate_on_start
-- is set (the default) and a database is configured; a failing migration
-- stops the boot with its error.
local db = require "nest.db"

local plugin = { name = "ready", version = "1.0.0", priority = 990 }

local function database_cfg(app)
  local cfg = app and app.config or require("nest.config").get()
  return cfg.database or {}, cfg
end

local function postgres_state(d)
  if not d.url or d.url == "" then return "not configured", false end
  local ok = db.ping(1)
  return ok and "up" or "down", ok and true or false
end

local function redis_state(cfg)
  local ok, redis = pcall(require, "nest.redis")
  if not ok or type(redis) ~= "table" then return "not configured", true end
  local configured = cfg.redis and cfg.redis.url and cfg.redis.url ~= ""
  if not configured then return "not configured", true end
  local reply = redis.call("PING")
  if reply == "PONG" then return "up", true end
  return "down", false
end

-- Anyone may ask /ready, so its database and Redis pings are shared: one
-- check per MEMO seconds per instance however many ask (while one runs,
-- the others get the last answer; a check whose task was cancelled, its
-- client gone, stops counting as running after CHECK_MAX seconds).
local MEMO, CHECK_MAX = 1, 5
local last, checking

local function checks()
  local now = require("nest.core.app").now()
  local running = checking and now - checking < CHECK_MAX
  if last and (now < last.at + MEMO or running) then return last end
  checking = now
  local ok, c = pcall(function()
    local cfg = require("nest.config").get()
    local pg, pg_ok = postgres_state(cfg.database or {})
    local rd, rd_ok = redis_state(cfg)
    return { pg = pg, rd = rd, ready = pg_ok and rd_ok, at = now }
  end)
  checking = nil
  if not ok then error(c, 0) end
  last = c
  return c
end

function plugin.init(app)
  local d = database_cfg(app)
  if d.url and d.url ~= "" and d.migrate_on_start ~= false then
    local migrate = require "nest.migrate"
    local log = app and app.log
    local applied, err = migrate.run({ log = function(line)
      if log and log.info then log.info("migrate: " .. line) end
    end })
    if not applied then error(err, 0) end
  end
end

function plugin.routes(r)
  r:get("/ready", { auth = "public", at_root = true }, function(_, res)
    local c = checks()
    return res:json({ status = c.ready and "ready" or "unavailable",
                      checks = { postgres = c.pg, redis = c.rd } }, c.ready and 200 or 503)
  end)
end

return plugin
