-- nest/plugins.lua — finds, loads and checks plugins.
--
-- A plugin is plugins/<name>/init.lua returning its table (docs/architecture.md#plugins).
-- Operator directories (config plugins.paths) are searched before the
-- shipped plugins/ directory, both for init.lua and for the plugin's own
-- modules, which it requires as "plugins.<name>.<module>".
local schema = require "nest.schema"

local M = {}

local FIELDS = {
  name = "string", version = "string", priority = "number", schema = "table",
  routes = "function", ws = "table", invalidations = "table", jobs = "table",
  init = "function", destroy = "function", before = "function", description = "string",
  on_listening = "function",
}

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- The directories searched, in order.
function M.dirs(cfg)
  local dirs = {}
  for _, d in ipairs(cfg.plugins.paths or {}) do dirs[#dirs + 1] = d end
  dirs[#dirs + 1] = cfg.root .. "/plugins"
  return dirs
end

-- Resolve "plugins.<name>[.<mod>]" against the plugin directories.
local function install_searcher(dirs)
  table.insert(package.searchers, 2, function(modname)
    local name, rest = modname:match("^plugins%.([%w_%-]+)%.?(.*)$")
    if not name then return nil end
    local rel = rest == "" and "init" or rest:gsub("%.", "/")
    for _, d in ipairs(dirs) do
      local p = d .. "/" .. name .. "/" .. rel .. ".lua"
      if file_exists(p) then
        local chunk, err = loadfile(p)
        if not chunk then error(err, 0) end
        return chunk, p
      end
    end
    return "\n\tno plugin file for '" .. modname .. "'"
  end)
end

local function check_contract(name, p, path)
  if type(p) ~= "table" then return nil, ("plugin %s (%s): init.lua must return a table"):format(name, path) end
  for k, v in pairs(p) do
    local want = FIELDS[k]
    if not want then return nil, ("plugin %s: unknown field '%s'"):format(name, tostring(k)) end
    if type(v) ~= want then return nil, ("plugin %s: %s must be a %s"):format(name, k, want) end
  end
  if p.name ~= name then
    return nil, ("plugin %s: its name field says '%s'"):format(name, tostring(p.name))
  end
  if type(p.version) ~= "string" then return nil, ("plugin %s: version is required"):format(name) end
  if math.type(p.priority) ~= "integer" then return nil, ("plugin %s: priority must be an integer"):format(name) end
  return true
end

-- The paths whose content a hot reload hashes and dev.watch watches: the
-- config file, lua/, and every directory that holds (or would shadow) an
-- enabled plugin. Sorted, no duplicates.
function M.inputs(cfg, config_path)
  local seen, out = {}, {}
  local function add(p) if p and not seen[p] then seen[p] = true out[#out + 1] = p end end
  add(config_path)
  add(cfg.root .. "/lua")
  for _, name in ipairs(cfg.plugins.enabled or {}) do
    for _, d in ipairs(M.dirs(cfg)) do add(d .. "/" .. tostring(name)) end
  end
  table.sort(out)
  return out
end

-- load(cfg) -> list of {plugin, config, path}, highest priority first | nil, err, plugin name
function M.load(cfg)
  local dirs = M.dirs(cfg)
  install_searcher(dirs)
  local list, seen = {}, {}
  for _, name in ipairs(cfg.plugins.enabled) do
    if seen[name] then return nil, "plugin " .. name .. " is enabled twice", name end
    seen[name] = true
    if not tostring(name):match("^[%w_%-]+$") then return nil, "bad plugin name '" .. tostring(name) .. "'", name end
    local path
    for _, d in ipairs(dirs) do
      if file_exists(d .. "/" .. name .. "/init.lua") then path = d .. "/" .. name .. "/init.lua" break end
    end
    if not path then return nil, "plugin " .. name .. " not found in " .. table.concat(dirs, ", "), name end
    local ok, p = pcall(require, "plugins." .. name)
    if not ok then return nil, "plugin " .. name .. ": " .. tostring(p), name end
    local okc, err = check_contract(name, p, path)
    if not okc then return nil, err, name end
    local settings = cfg.plugins.settings[name] or {}
    local conf = settings
    if p.schema then
      local verr
      conf, verr = schema.validate(p.schema, settings, "plugins.settings." .. name)
      if not conf then return nil, "plugin " .. name .. ": invalid config: " .. verr, name end
    end
    list[#list + 1] = { plugin = p, config = conf, path = path, name = name }
  end
  table.sort(list, function(a, b)
    if a.plugin.priority ~= b.plugin.priority then return a.plugin.priority > b.plugin.priority end
    return a.name < b.name
  end)
  return list
end

return M
