-- plugins/metrics/init.lua — GET /metrics: every series of the app's
-- registry (nest.metrics) as Prometheus text 0.0.4 (docs/architecture.md#metrics-health-logs).
--
-- Who may read it: a client on loopback (127.0.0.0/8, ::1, ::ffff:127.x),
-- or anyone sending `Authorization: Bearer <metrics.token>` (config key
-- metrics.token, env MEDIANEST_METRICS_TOKEN), compared in constant time.
-- Everyone else gets 401 with the JSON error envelope. The route itself is
-- auth = "public" for the router: this check replaces the user check.
--
-- The client address: the peer's, unless the peer is one of the config's
-- trusted_proxies (exact addresses, or IPv4 CIDR blocks like "10.0.0.0/8");
-- then X-Forwarded-For is read from the right, skipping trusted addresses,
-- and the first untrusted one is the client. So behind a proxy on
-- 127.0.0.1 listed in trusted_proxies, a request forwarded for 10.1.2.3
-- needs the token, and without trusted_proxies the proxy's own loopback
-- address is what counts (list your proxy there if it is on loopback).
--
-- The runtime gauges (lua_memory_bytes of every generation,
-- runtime_generations) are refreshed in C at each exposition (app.c's
-- collector); the request histogram (http_request_duration_seconds) and the
-- in-flight gauge are kept in C by the HTTP bridge (core/lua_http.c).
local metrics = require "nest.metrics"
local config = require "nest.config"
local access = require "plugins.metrics.access"

local plugin = {
  name = "metrics",
  version = "1.0.0",
  priority = 900,
  description = "Prometheus metrics at GET /metrics",
}

-- ---- the route --------------------------------------------------------------

function plugin.routes(r)
  r:get("/metrics", { auth = "public", at_root = true }, function(req, res)
    if not access.allowed(req, config.get()) then
      res:header("www-authenticate", 'Bearer realm="metrics"')
      return res:error(401, "UNAUTHENTICATED", "Metrics are served to loopback or with the metrics token")
    end
    res:header("cache-control", "no-store")
    return res:send(metrics.expose(), 200, metrics.CONTENT_TYPE)
  end)
end

return plugin
