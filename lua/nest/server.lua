-- nest/server.lua — builds a generation's HTTP side from its plugins and
-- dispatches each request.
--
-- build(cfg, opts) loads the enabled plugins, compiles their routes, runs
-- their init hooks and returns the hooks table for the C core (also what a
-- hot reload needs: reload_inputs, retire, data_dir, drain timeout, watch).
-- Failures answer nil, message, plugin name. dispatch()
-- runs in the request's own task: route match, the plugins' before hooks
-- (priority order), the auth guard, the handler — all under xpcall, so a
-- bug answers 500 with the request id and leaves a traceback in the log.
local router_mod = require "nest.router"
local request = require "nest.request"
local response = require "nest.response"
local errors = require "nest.errors"
local plugins = require "nest.plugins"
local log = require "nest.log"

local M = {}

local function is_api(path)
  return path == "/api" or path:sub(1, 5) == "/api/"
end

local function on_error(e)
  if errors.is(e) then return e end
  -- a dependency that is down (nest.db's UNAVAILABLE) keeps its code: 503
  if type(e) == "table" and e.code == "UNAVAILABLE" then return e end
  return debug.traceback(tostring(e), 2)
end

local function security_headers(cfg)
  local sh = cfg.security_headers
  local lines = {
    "Content-Security-Policy: " .. sh.content_security_policy,
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: strict-origin-when-cross-origin",
    "Permissions-Policy: camera=(), microphone=(), geolocation=(), payment=()",
    -- allow-popups: the Plex sign-in popup (app.plex.tv) must stay reachable
    -- from the page that opened it, or the page sees it as closed at once
    "Cross-Origin-Opener-Policy: same-origin-allow-popups",
  }
  if sh.hsts then lines[#lines + 1] = "Strict-Transport-Security: max-age=31536000; includeSubDomains" end
  return table.concat(lines, "\r\n") .. "\r\n"
end

local function static_has_index(dir)
  local f = io.open(dir .. "/index.html", "r")
  if f then f:close() return true end
  return false
end

-- The app object plugins' init(app, conf) and handlers see.
local function new_app(cfg, router, loaded)
  return { config = cfg, router = router, plugins = loaded, log = log }
end

function M.build(cfg, opts)
  local loaded, err, culprit = plugins.load(cfg)
  if not loaded then return nil, err, culprit end
  -- invalidation maps: every plugin's, applied on every instance (Redis pub/sub)
  local invalidate = require "nest.invalidate"
  local ok_inv, inv_err = pcall(invalidate.load, loaded)
  if not ok_inv then return nil, "invalidations: " .. tostring(inv_err) end
  local router = router_mod.new()
  local befores = {}
  for _, p in ipairs(loaded) do
    router.plugin = p.name
    if p.plugin.routes then
      local ok, rerr = pcall(p.plugin.routes, router, p.config)
      if not ok then return nil, "plugin " .. p.name .. ": routes: " .. tostring(rerr), p.name end
    end
    if p.plugin.before then befores[#befores + 1] = { fn = p.plugin.before, name = p.name } end
  end
  router.plugin = nil
  local app = new_app(cfg, router, loaded)
  if opts.check then return { router = router, plugins = loaded } end
  for _, p in ipairs(loaded) do
    if p.plugin.init then
      local ok, ierr = xpcall(p.plugin.init, on_error, app, p.config)
      if not ok then
        log.error("plugin init failed", { plugin = p.name, error = tostring(ierr) })
        return nil, "plugin " .. p.name .. ": init: " .. tostring(ierr), p.name
      end
    end
  end

  invalidate.start()

  local static_dir = require("nest.config").path(cfg.static.dir)
  local spa = static_has_index(static_dir)

  local function run(route, req, res)
    for i = 1, #befores do
      befores[i].fn(req, res, route)
      if res.done then return end
    end
    if route.auth ~= "public" then
      if not req.user then
        return res:error(401, "UNAUTHENTICATED", "Sign in first")
      end
      if route.auth == "admin" and req.user.role ~= "admin" then
        return res:error(403, "FORBIDDEN", "Administrators only")
      end
    end
    route.handler(req, res)
    if not res.done then res:status(204) end
  end

  local function dispatch(raw)
    local req = request.new(raw)
    local res = response.new(req)
    local route, params = router:match(raw.method, raw.path)
    if not route then
      if params then
        res:header("allow", params)
        res:error(405, "METHOD_NOT_ALLOWED", "Method " .. raw.method .. " is not allowed here")
      elseif spa and (raw.method == "GET" or raw.method == "HEAD") and not is_api(raw.path) then
        res:file("/index.html")
      else
        res:error(404, "NOT_FOUND", "Not found")
      end
      return res:finish(nil, nil)
    end
    req.params = params
    req.route = route
    local ok, e = xpcall(run, on_error, route, req, res)
    if not ok then
      if type(e) == "table" and e.code == "UNAVAILABLE" then
        -- a dependency (PostgreSQL) is down: the client may retry later
        res = response.new(req)
        res:error(503, "UNAVAILABLE", "A service MediaNest depends on is unavailable; try again shortly")
      elseif errors.is(e) then
        res = response.new(req)
        for k, v in pairs(e.headers or {}) do res:header(k, v) end
        res:error(e.status, e.code, e.message, e.details, e.retry_after)
      else
        log.error("unhandled error", { requestId = req.id, route = route.pattern, error = e })
        res = response.new(req)
        res:error(500, "INTERNAL", "Internal server error")
      end
    end
    local user = req.user
    return res:finish(route.pattern, user and tostring(user.id) or nil)
  end

  -- The body a request may carry, asked by the core before reading it: a
  -- route takes one only if it declared body_limit; GET and HEAD, unknown
  -- URLs and every other route get 0 (413 at once, nothing buffered).
  local function body_limit(method, path)
    if method == "GET" or method == "HEAD" then return 0 end
    local route = router:match(method, path)
    return route and route.body_limit or 0
  end

  -- A hot reload retired this generation: its plugins' destroy(), lowest
  -- priority first (the reverse of init), each under xpcall.
  local function retire()
    for i = #loaded, 1, -1 do
      local p = loaded[i]
      if p.plugin.destroy then
        local ok, derr = xpcall(p.plugin.destroy, on_error, app, p.config)
        if not ok then log.error("plugin destroy failed", { plugin = p.name, error = tostring(derr) }) end
      end
    end
  end

  local hooks = {
    dispatch = dispatch,
    body_limit = body_limit,
    router = router,
    app = app,
    drain_timeout = cfg.http.drain_timeout,
    generation = opts.generation,
    retire = retire,
    reload_inputs = plugins.inputs(cfg, opts.config_path),
    reload_drain_timeout = cfg.reload and cfg.reload.drain_timeout or 30,
    reload_debounce = cfg.reload and cfg.reload.debounce or 0.25,
    watch = (cfg.dev and cfg.dev.watch) == true,
    log_level = cfg.log and cfg.log.level or "info",
    data_dir = require("nest.config").path(cfg.data_dir),
    server = {
      host = cfg.listen_host,
      port = cfg.listen_port,
      max_header_bytes = cfg.http.max_header_bytes,
      max_body_bytes = cfg.http.max_body_bytes,
      header_timeout = cfg.http.header_timeout,
      idle_timeout = cfg.http.idle_timeout,
      max_connections = cfg.http.max_connections,
      max_connections_per_ip = cfg.http.max_connections_per_ip,
      max_body_inflight = cfg.http.max_body_inflight,
      send_timeout = cfg.http.send_timeout,
      -- a trusted proxy carries many clients on one address
      uncapped_peers = cfg.trusted_proxies,
      gzip_min_bytes = cfg.http.gzip_min_bytes,
      write_high_water = cfg.http.write_high_water,
      slow_request = cfg.http.slow_request,
      access_log = cfg.http.access_log,
      headers = security_headers(cfg),
      static_dir = static_dir,
      log_file = cfg.log.file,
    },
  }
  function hooks.on_listening(port)
    io.stdout:write(("MediaNest listening on http://%s:%d/\n"):format(
      cfg.listen_host:find(":") and "[" .. cfg.listen_host .. "]" or cfg.listen_host, port))
    io.stdout:flush()
    local demo_warning = require("nest.config").demo_warning(cfg)
    if demo_warning then log.warn(demo_warning) end
    for _, p in ipairs(loaded) do
      if p.plugin.on_listening then p.plugin.on_listening(app, port) end
    end
  end
  return hooks
end

return M
