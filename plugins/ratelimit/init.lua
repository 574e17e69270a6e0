-- plugins/ratelimit/init.lua — applies the named rate limits of config
-- `rate_limits` to routes (docs/architecture.md#rate-limits): `api` to every /api route (public
-- ones too, per IP for anonymous callers), plus whatever a route names with opts.rate ("search", or a list);
-- opts.rate = false opts a route out. The mechanism is nest.ratelimit.
--
-- Priority 100: it runs after the sign-in plugin's before hook (higher
-- priority), so signed-in users are limited by user id, others by IP.
local rl = require "nest.ratelimit"

local plugin = { name = "ratelimit", version = "1.0.0", priority = 100,
                 description = "Per-user / per-IP rate limits on routes" }

-- A route naming an unknown limit is a configuration error: fail the
-- generation at load, not the request at run time.
-- So is a route that leaves `api` (opts.api_rate = false) without naming
-- its own limit: every /api route is behind one.
function plugin.init(app)
  for _, route in pairs(app.router.all) do
    local names = rl.route_limits(route)
    if route.opts and route.opts.api_rate == false and route.opts.rate ~= false and #names == 0 then
      error(("route %s %s: api_rate = false needs a limit of its own (opts.rate)"):format(
        route.method, route.pattern), 0)
    end
    for _, name in ipairs(names) do
      local ok, err = rl.limit(name)
      if not ok then error(("route %s %s: %s"):format(route.method, route.pattern, err), 0) end
    end
  end
end

function plugin.before(req, res, route)
  local names = route.rate_limits
  if not names then
    names = rl.route_limits(route)
    route.rate_limits = names                 -- routes live as long as this generation
  end
  if #names > 0 then rl.apply(req, res, names) end
end

return plugin
