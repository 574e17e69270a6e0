-- plugins/bench/init.lua — the benchmark route: GET /bench/status encodes,
-- on every request, the shape of the dashboard status (8 services), so the
-- figure measures the runtime (parse, route, coroutine, JSON, write), not a
-- cache. Enabled by `serve --demo` or bench.enabled.
local json = require "cjson"

local plugin = { name = "bench", version = "1.0.0", priority = 100,
                 schema = { fields = { services = { type = "integer", default = 8, min = 1, max = 1000 } } } }

function plugin.routes(r, conf)
  local services = {}
  local checked = os.date("!%Y-%m-%dT%H:%M:%SZ")
  for i = 0, conf.services - 1 do
    services[#services + 1] = { name = "service-" .. i, status = "up", uptime = 99.9,
                                responseTime = 12, lastCheckAt = checked }
  end
  local status = { services = services, degraded = false }
  r:get("/bench/status", { auth = "public", at_root = true }, function(_, res)
    res.headers["content-type"] = "application/json"
    res.body = json.encode(status)
    res.done = true
  end)
end

return plugin
