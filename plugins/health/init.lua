-- plugins/health/init.lua — liveness: GET /health answers while the process
-- can run Lua at all. Readiness (dependencies) is /ready, in the data layer.
local plugin = { name = "health", version = "1.0.0", priority = 1000 }

function plugin.routes(r)
  local function alive(_, res) return res:json({ status = "ok" }) end
  r:get("/health", { auth = "public", at_root = true }, alive)
  r:get("/health", { auth = "public" }, alive)
end

return plugin
