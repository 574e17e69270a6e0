-- plugins/bench/init.lua — the benchmark routes, enabled by `serve --demo` or
-- bench.enabled (bench/run.sh, bench/db.sh):
--   GET /bench/status           encodes, on every request, the shape of the
--                               dashboard status (8 services): measures the
--                               runtime (parse, route, coroutine, JSON, write)
--   GET /bench/users/{id}       one row by primary key through the pool
--   GET /bench/users/{id}/cached  the same answer through nest.cache (L1)
local json = require "cjson"
local db = require "nest.db"
local cache = require "nest.cache"
local errors = require "nest.errors"

local plugin = { name = "bench", version = "1.0.0", priority = 100,
                 schema = { fields = { services = { type = "integer", default = 8, min = 1, max = 1000 } } } }

local USER_BY_ID = "SELECT id, username, role, created_at FROM users WHERE id = $1"

local function send_json(res, text)
  res.headers["content-type"] = "application/json"
  res.body = text
  res.done = true
end

local function user_id(req)
  local id = math.tointeger(tonumber(req.params.id))
  if not id or id < 1 then errors.raise(400, "BAD_ID", "id must be a positive integer") end
  return id
end

-- The row as JSON text, or nil when there is none; raises when the pool fails.
local function load_user(id)
  local rows, err = db.query({ USER_BY_ID, prepare = true }, id)
  if not rows then error(err) end
  return rows[1] and json.encode(rows[1]) or nil
end

function plugin.routes(r, conf)
  local services = {}
  local checked = os.date("!%Y-%m-%dT%H:%M:%SZ")
  for i = 0, conf.services - 1 do
    services[#services + 1] = { name = "service-" .. i, status = "up", uptime = 99.9,
                                responseTime = 12, lastCheckAt = checked }
  end
  local status = { services = services, degraded = false }
  r:get("/bench/status", { auth = "public", at_root = true }, function(_, res)
    send_json(res, json.encode(status))
  end)

  r:get("/bench/users/{id}", { auth = "public", at_root = true }, function(req, res)
    local body = load_user(user_id(req))
    if not body then errors.raise(404, "NOT_FOUND", "no such user") end
    send_json(res, body)
  end)

  r:get("/bench/users/{id}/cached", { auth = "public", at_root = true }, function(req, res)
    local id = user_id(req)
    local body, err = cache.fetch("bench:user:" .. id, { ttl = 60, neg_ttl = 5 },
      function() return load_user(id) end)
    if err then error(err) end
    if not body then errors.raise(404, "NOT_FOUND", "no such user") end
    send_json(res, body)
  end)
end

return plugin
