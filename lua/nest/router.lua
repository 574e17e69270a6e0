-- nest/router.lua — routes declared by plugins, compiled for matching.
--
-- A route takes a request body only if it declares opts.body_limit (bytes,
-- a positive integer; GET routes cannot): the core asks before reading a
-- body and answers 413 at once to any other.
--
-- Paths are patterns with {name} segments ("/media/requests/{id}"); a
-- trailing {name*} takes the rest of the path. r:get(path, opts, handler)
-- declares an API route under /api/v1; opts.at_root = true declares it at
-- the path itself (/health, /metrics, /ws). /api/<x> without a version is
-- an alias of /api/v1/<x>. HEAD is answered by the GET route. Exact paths
-- are one table lookup; patterns are matched segment by segment.
local M = {}
M.__index = M

local API = "/api/v1"
local METHODS = { "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" }

function M.new()
  return setmetatable({ exact = {}, patterns = {}, all = {}, plugin = nil }, M)
end

local function split(path)
  local segs = {}
  for s in path:gmatch("[^/]+") do segs[#segs + 1] = s end
  return segs
end

local function compile(pattern)
  local segs = split(pattern)
  local out, names = {}, {}
  for i, s in ipairs(segs) do
    local name, rest = s:match("^{([%a_][%w_]*)(%*?)}$")
    if name then
      out[i] = { param = name, rest = rest == "*" }
      names[#names + 1] = name
      if rest == "*" and i ~= #segs then error("route " .. pattern .. ": {" .. name .. "*} must be last", 0) end
    elseif s:find("[{}]") then
      error("route " .. pattern .. ": bad segment '" .. s .. "'", 0)
    else
      out[i] = { lit = s }
    end
  end
  return out, #names > 0
end

-- Declare a route. Errors (raised at load, failing the generation) on a
-- duplicate or a malformed pattern.
function M:add(method, path, opts, handler)
  if type(opts) == "function" then opts, handler = {}, opts end
  opts = opts or {}
  assert(type(path) == "string" and path:sub(1, 1) == "/", "route path must start with '/'")
  assert(type(handler) == "function", "route " .. path .. ": handler must be a function")
  local full = opts.at_root and path or (API .. (path == "/" and "" or path))
  local key = method .. " " .. full
  if self.all[key] then
    error(("duplicate route %s %s (plugins %s and %s)"):format(method, full,
      self.all[key].plugin or "?", self.plugin or "?"), 0)
  end
  local bl = opts.body_limit
  if bl ~= nil and (math.type(bl) ~= "integer" or bl <= 0 or method == "GET") then
    error(("route %s %s: body_limit must be a positive integer (bytes), on a method that takes a body")
      :format(method, full), 0)
  end
  local segs, parametric = compile(full)
  local route = { method = method, pattern = full, segs = segs, handler = handler,
                  opts = opts, plugin = self.plugin, auth = opts.auth or "user",
                  body_limit = opts.body_limit }
  self.all[key] = route
  if parametric then
    self.patterns[#self.patterns + 1] = route
  else
    local norm = full:gsub("/+$", "")
    if norm == "" then norm = "/" end
    self.exact[norm] = self.exact[norm] or {}
    self.exact[norm][method] = route
  end
  return route
end

for _, m in ipairs(METHODS) do
  M[m:lower()] = function(self, path, opts, handler) return self:add(m, path, opts, handler) end
end

local function match_segs(route, segs)
  local rs = route.segs
  local params
  for i, r in ipairs(rs) do
    local s = segs[i]
    if not s then return nil end
    if r.rest then
      params = params or {}
      params[r.param] = table.concat(segs, "/", i)
      return params
    elseif r.param then
      params = params or {}
      params[r.param] = s
    elseif r.lit ~= s then
      return nil
    end
  end
  if #segs ~= #rs then return nil end
  return params or {}
end

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The routes for a path, by method, and the path params.
function M:lookup(path)
  local norm = path:gsub("/+$", "")
  if norm == "" then norm = "/" end
  local byMethod = self.exact[norm]
  if byMethod then return byMethod, nil end
  local segs
  local found, found_params
  for _, route in ipairs(self.patterns) do
    segs = segs or split(path)
    local params = match_segs(route, segs)
    if params then
      found = found or {}
      if not found[route.method] then
        for k, v in pairs(params) do params[k] = percent_decode(v) end
        found[route.method] = route
        found_params = found_params or {}
        found_params[route.method] = params
      end
    end
  end
  return found, found_params
end

-- match(method, path) -> route, params | nil, allow (a string, for 405) | nil
function M:match(method, path)
  if path:sub(1, 5) == "/api/" and path:sub(1, 8) ~= "/api/v1/" and path ~= "/api/v1" then
    path = API .. path:sub(5)
  end
  local byMethod, params = self:lookup(path)
  if not byMethod then return nil end
  local want = method == "HEAD" and "GET" or method
  local route = byMethod[want]
  if route then return route, params and params[want] or {} end
  local allow = {}
  for m in pairs(byMethod) do allow[#allow + 1] = m end
  if byMethod.GET then allow[#allow + 1] = "HEAD" end
  table.sort(allow)
  return nil, table.concat(allow, ", ")
end

-- Every route, for introspection (admin runtime, docs).
function M:list()
  local out = {}
  for _, r in pairs(self.all) do out[#out + 1] = { method = r.method, path = r.pattern, plugin = r.plugin, auth = r.auth,
                                               body_limit = r.body_limit } end
  table.sort(out, function(a, b) return a.path < b.path or (a.path == b.path and a.method < b.method) end)
  return out
end

M.API = API
return M
