-- plugins/serverinfo/init.lua — GET /api/v1/admin/server: what Admin ›
-- Runtime shows beside GET /admin/runtime (the runtime plugin's):
--   { plugins: [{name, version, description, priority}],   enabled, in load order
--     figures: {uptimeSeconds, requests, requestsPerSecond, p95Ms, meanMs, rssBytes},
--     pools: {redis: {configured, available}, fetch: {maxHostConnections}} }
-- (the PostgreSQL pool is in GET /admin/runtime)
-- The figures are this instance's, from the metrics registry (since start;
-- requests/s since the previous look). Admins only.
local config = require "nest.config"
local json = require "nest.json"
local figures = require "plugins.serverinfo.figures"

local plugin = { name = "serverinfo", version = "1.0.0", priority = 0,
                 description = "GET /admin/server: plugins with versions, the server's own figures" }

local function plugins_list()
  local out = json.array()
  for _, name in ipairs(config.get().plugins.enabled) do
    local p = package.loaded["plugins." .. name]
    if type(p) == "table" then
      out[#out + 1] = { name = name, version = p.version or json.null,
                        description = p.description or json.null, priority = p.priority or 0 }
    end
  end
  table.sort(out, function(a, b)
    if a.priority ~= b.priority then return a.priority > b.priority end
    return a.name < b.name
  end)
  return out
end

local function pools()
  local ok, redis = pcall(require, "nest.redis")
  local fetch = require("nest.fetch").stats()
  return {
    redis = ok and { configured = redis.configured(), available = redis.available() } or json.null,
    fetch = { maxHostConnections = fetch.max_host_connections },
  }
end

function plugin.routes(r)
  r:get("/admin/server", { auth = "admin" }, function(_, res)
    res:header("cache-control", "no-store")
    return res:json({ plugins = plugins_list(), figures = figures.read(), pools = pools() })
  end)
end

return plugin
