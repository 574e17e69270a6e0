-- medianest routes [-c FILE] [--demo] [--json] — every URL the server
-- answers and where its code is: the one place a newcomer looks a URL up.
--
-- Loads the config and the enabled plugins as `serve` does, without
-- listening or running their init (nest.server.build in check mode, as
-- `medianest check`), and prints each route: method, path as served, whether
-- the unversioned /api alias applies, auth, the rate limits the ratelimit
-- plugin applies to it, its declared body limit, CSRF, the plugin that
-- declared it and the file:line of its handler (debug.getinfo). Then what
-- the core serves that is not a route (static files, the SPA fallback).
-- Exit 0; 1 when the config or a plugin does not load; 2 on a usage error.
local USAGE = [[
usage: medianest routes [-c FILE] [--demo] [--json]

Lists every route of the enabled plugins, sorted by path: METHOD, PATH (as
served; ALIAS "yes" when /api/<rest> answers too), AUTH (public, user,
admin), RATE (the named rate limits applied), BODY (the declared body limit),
CSRF (on/off for unsafe methods), PLUGIN and HANDLER (file:line of the
function that answers). Then the URLs the core serves without a route.
--demo lists what `serve --demo` adds (demo upstreams, bench routes);
--json prints one JSON object for scripts.]]

local args = { ... }
local want_json, demo, config_path = false, false, os.getenv("MEDIANEST_CONFIG")
do
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-c" or a == "--config" then config_path = args[i + 1]; i = i + 1
    elseif a == "--json" then want_json = true
    elseif a == "--demo" then demo = true
    elseif a == "--help" or a == "-h" then print(USAGE) return 0
    else io.stderr:write("medianest routes: unknown option '", a, "'\n\n", USAGE, "\n") return 2 end
    i = i + 1
  end
end

local config = require "nest.config"
local json = require "nest.json"
local ratelimit = require "nest.ratelimit"

local function fail(msg)
  io.stderr:write("medianest routes: ", tostring(msg), "\n")
  return 1
end

local cfg = config.get()
if demo and not cfg.demo then
  -- main.c hands --demo to `serve` only: load the config again the way it does
  local err
  cfg, err = config.load({ config_path = config_path, demo = true, root = cfg.root })
  if not cfg then return fail(err) end
end

local built, err, culprit = require("nest.server").build(cfg, { check = true })
if not built then return fail(tostring(err) .. (culprit and (" (plugin " .. culprit .. ")") or "")) end

---------------------------------------------------------------------------
-- where a function is
---------------------------------------------------------------------------

local root = cfg.root:gsub("/+$", "")

-- A path under the source root relative to it; others as they are.
local function rel(path)
  return path:sub(1, #root + 1) == root .. "/" and path:sub(#root + 2) or path
end

-- "plugins/auth/pins.lua", 61 for a Lua function (paths under the source
-- root are relative to it, others absolute); "[C]", nil for a C function.
local function where(fn)
  local info = debug.getinfo(fn, "S")
  if info.what == "C" then return "[C]", nil end
  local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  return rel(file), info.linedefined
end

-- A handler made by a factory (plugins/demo-upstreams/overseerr.lua's
-- handler(fn) wraps each route's function) shows the factory's inner
-- function for every route. When several closures share one definition and
-- the same upvalue of each holds a function defined somewhere else for each
-- (not merely another closure of one helper), that function is the route's
-- own code: report it, and the wrapper as `via`.
local function wrapped_upvalue(group)
  for i = 1, math.huge do
    if not debug.getupvalue(group[1], i) then return nil end
    local seen, n = {}, 0
    for _, fn in ipairs(group) do
      local _, v = debug.getupvalue(fn, i)
      local k = type(v) == "function" and table.concat({ where(v) }, ":")
      if k and not seen[k] then seen[k] = true; n = n + 1 end
    end
    if n == #group then return i end
  end
end

local function unwrap(handlers)
  local by_def = {}
  for fn in pairs(handlers) do
    local file, line = where(fn)
    local k = file .. ":" .. tostring(line)
    by_def[k] = by_def[k] or {}
    table.insert(by_def[k], fn)
  end
  local inner = {}
  for _, group in pairs(by_def) do
    local i = #group > 1 and wrapped_upvalue(group)
    if i then
      for _, fn in ipairs(group) do inner[fn] = select(2, debug.getupvalue(fn, i)) end
    end
  end
  return inner
end

---------------------------------------------------------------------------
-- the routes
---------------------------------------------------------------------------

local loaded = {}
for _, p in ipairs(built.plugins) do loaded[p.name] = p end

local SAFE = { GET = true, HEAD = true, OPTIONS = true }
local API = "/api/v1/"

-- The limits as the ratelimit plugin's before hook applies them.
local function rate_limits(route)
  if not loaded.ratelimit then return {} end
  local out = {}
  for _, name in ipairs(ratelimit.route_limits(route)) do
    local l = ratelimit.limit(name) or {}
    out[#out + 1] = { name = name, limit = l.limit, window = l.window, by = l.by or "user" }
  end
  return out
end

-- true / false for unsafe methods (the auth plugin's check), nil when it
-- does not apply (safe method, or no auth plugin).
local function csrf(route)
  if SAFE[route.method] or not loaded.auth then return nil end
  return route.opts.csrf ~= false
end

-- router.all ("METHOD /path" -> route) is the router's own table of what
-- was declared, read also by plugins/ratelimit.
local function collect()
  local routes, handlers = {}, {}
  for _, route in pairs(built.router.all) do
    routes[#routes + 1] = route
    handlers[route.handler] = true
  end
  local inner = unwrap(handlers)
  local out = {}
  for _, route in ipairs(routes) do
    local file, line = where(inner[route.handler] or route.handler)
    local r = {
      method = route.method, path = route.pattern,
      alias = route.pattern:sub(1, #API) == API and "/api/" .. route.pattern:sub(#API + 1) or json.null,
      auth = route.auth, rate_limits = json.array(rate_limits(route)),
      body_limit = route.body_limit or json.null, csrf = csrf(route),
      plugin = route.plugin or json.null,
      handler = { file = file, line = line or json.null },
    }
    if r.csrf == nil then r.csrf = json.null end
    if inner[route.handler] then
      local vf, vl = where(route.handler)
      r.handler.via = vf .. ":" .. vl
    end
    out[#out + 1] = r
  end
  table.sort(out, function(a, b) return a.path < b.path or (a.path == b.path and a.method < b.method) end)
  return out
end

-- The line of `file` (under the root) holding `needle`, for code that is
-- not a function value we could ask debug.getinfo about.
local function line_of(file, needle)
  local f = io.open(root .. "/" .. file, "r")
  if not f then return nil end
  local n = 0
  for l in f:lines() do
    n = n + 1
    if l:find(needle, 1, true) then f:close() return n end
  end
  f:close()
  return nil
end

-- What answers without a route: the core's static files (tried first for
-- GET/HEAD outside /api) and the SPA fallback of nest.server's dispatch.
local function others()
  local dir = config.path(cfg.static.dir)
  local reldir = rel(dir)
  local f = io.open(dir .. "/index.html", "r")
  if f then f:close() end
  local spa_line = line_of("lua/nest/server.lua", 'res:file("/index.html")')
  return {
    { methods = json.array({ "GET", "HEAD" }), path = "/<file>",
      what = "a file under " .. reldir .. " (ETag, Range, precompressed .gz/.br); tried before routes, never for /api",
      code = "core/http_static.c" },
    { methods = json.array({ "GET", "HEAD" }), path = "/<any other path>",
      what = f and "no route and no file: " .. reldir .. "/index.html (client-side routing)"
        or "no route and no file: 404 (no " .. reldir .. "/index.html: build the web UI)",
      code = "lua/nest/server.lua" .. (spa_line and (":" .. spa_line) or "") },
  }
end

---------------------------------------------------------------------------
-- output
---------------------------------------------------------------------------

local function size(n)
  n = math.tointeger(n)
  if not n then return "-" end
  if n % (1024 * 1024) == 0 then return (n // (1024 * 1024)) .. "MiB" end
  if n % 1024 == 0 then return (n // 1024) .. "KiB" end
  return tostring(n) .. "B"
end

local function text_row(r)
  local names = {}
  for _, l in ipairs(r.rate_limits) do names[#names + 1] = l.name end
  local csrf_text = r.csrf == json.null and "-" or (r.csrf and "on" or "off")
  local loc = r.handler.file .. (r.handler.line ~= json.null and (":" .. r.handler.line) or "")
  return { r.method, r.path, r.alias ~= json.null and "yes" or "-", r.auth,
           #names > 0 and table.concat(names, ",") or "-", size(r.body_limit), csrf_text,
           r.plugin ~= json.null and r.plugin or "-", loc }
end

local function print_table(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #cell) end
  end
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      cells[i] = i < #row and cell .. (" "):rep(widths[i] - #cell) or cell
    end
    print(table.concat(cells, "  "))
  end
end

local routes = collect()
local other = others()

if want_json then
  local plugins = json.array()
  for _, p in ipairs(built.plugins) do
    plugins[#plugins + 1] = { name = p.name, version = p.plugin.version, priority = p.plugin.priority,
                              path = rel(p.path) }
  end
  print(json.encode({ routes = json.array(routes), other = json.array(other), plugins = plugins }))
  return 0
end

local rows = { { "METHOD", "PATH", "ALIAS", "AUTH", "RATE", "BODY", "CSRF", "PLUGIN", "HANDLER" } }
for _, r in ipairs(routes) do rows[#rows + 1] = text_row(r) end
print_table(rows)
print()
print("Not routes (the core answers these itself):")
local orows = {}
for _, o in ipairs(other) do orows[#orows + 1] = { table.concat(o.methods, ","), o.path, o.code, o.what } end
print_table(orows)
print()
print(("%d routes from %d plugins. HEAD is answered by the GET route; ALIAS yes: /api/<rest> "
  .. "answers as /api/v1/<rest>. Where a request goes: docs/architecture.md."):format(#routes, #built.plugins))
return 0
