-- medianest check [-c FILE] — validates the config and every enabled plugin
-- (contract, schema, routes) without serving. Exit 0 when all is well,
-- 1 with a readable message otherwise.
local config = require "nest.config"
local cfg = config.get()
local built, err, plugin = require("nest.server").build(cfg, { check = true })
if not built then
  io.stderr:write("medianest check: ", tostring(err), plugin and (" (plugin " .. plugin .. ")") or "", "\n")
  return 1
end
local names = {}
for _, p in ipairs(built.plugins) do names[#names + 1] = p.name .. " " .. p.plugin.version end
print(("config ok; %d plugins: %s; %d routes"):format(#built.plugins, table.concat(names, ", "),
  #built.router:list()))
return 0
