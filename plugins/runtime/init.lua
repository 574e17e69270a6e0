-- plugins/runtime/init.lua — the admin's view of the runtime and the hot
-- reload trigger (docs/operations.md#hot-reload).
--
--   POST /api/v1/admin/reload  {"force": false}
--       200 {"ok":true, "generation":N, "previous":M, "seconds":..., "message":...}
--       200 {"ok":true, "noop":true, ...}            nothing changed
--       409 {"ok":false, "busy":true, "error":...}   a reload is building
--       422 {"ok":false, "error":"...", "plugin":"name"|null, ...}
--           the new generation failed; the old one keeps serving
--   GET /api/v1/admin/runtime
--       current generation, draining ones (tasks, holds, Lua memory each),
--       the last reload, the DB pool, circuit breakers, WebSocket count,
--       the L1 cache, process memory.
-- Both are auth = "admin" (the framework guard answers 401/403).
local reload = require "nest.reload"
local json = require "nest.json"

local plugin = { name = "runtime", version = "1.0.0", priority = 100,
                 description = "GET /api/v1/admin/runtime, POST /api/v1/admin/reload" }

local function rss_bytes()
  local f = io.open("/proc/self/statm", "r")
  if not f then return nil end
  local _, res = f:read("n", "n")
  f:close()
  return res and math.tointeger(res * 4096) or nil
end

-- circuit_breaker_state{service="x"} v, read back from the registry
local function breakers()
  local ok, metrics = pcall(require, "nest.metrics")
  if not ok then return {} end
  local out = {}
  local text = metrics.expose()
  for service, v in text:gmatch('circuit_breaker_state{service="([^"]*)"} (%S+)') do
    local n = tonumber(v)
    out[service] = n == 0 and "closed" or n == 1 and "open" or n == 2 and "half_open" or v
  end
  return out
end

local function optional(modname, fn)
  local ok, m = pcall(require, modname)
  if not ok then return nil end
  local okc, v = pcall(fn, m)
  return okc and v or nil
end

function plugin.routes(r)
  r:post("/admin/reload", { auth = "admin", body_limit = 1024 }, function(req, res)
    local body = (req.body and req.body ~= "") and req:json() or {}
    local result = reload.run({ force = type(body) == "table" and body.force == true, trigger = "admin" })
    local status = result.busy and 409 or result.ok and 200 or 422
    if not result.ok and result.plugin == nil then result.plugin = json.null end
    return res:json(result, status)
  end)

  r:get("/admin/runtime", { auth = "admin" }, function(_, res)
    local rt = reload.runtime()
    local cfg = require("nest.config").get()
    local gens = json.array({})
    local draining = json.array({})
    for _, g in ipairs(rt.generations) do
      gens[#gens + 1] = g
      if g.state == "draining" then draining[#draining + 1] = g end
    end
    table.sort(gens, function(a, b) return a.id > b.id end)
    return res:json({
      generation = rt.current,
      reloading = rt.reloading,
      hash = rt.hash,
      reloads = rt.reloads,
      watching = rt.watching,
      drain_timeout = rt.drain_timeout,
      generations = gens,
      draining = draining,
      last_reload = rt.last_reload or json.null,
      pools = {
        database = cfg.database and cfg.database.url and optional("nest.db", function(db) return db.counts() end)
          or json.null,
      },
      breakers = breakers(),
      websocket = { connections = optional("nest.ws", function(ws) return ws.count() end) or 0 },
      cache = optional("nest.cache", function(c) return c.stats() end) or json.null,
      process = { pid = require("nest.core.app").pid(), rss_bytes = rss_bytes() },
    })
  end)
end

return plugin
