-- plugins/rum/pages.lua — the page labels RUM reports may carry: the web
-- UI's pages. One list, static/src/page-keys.json, owned by the web UI
-- (routes.js imports it into the bundle); read here when the plugin loads.
local json = require "nest.json"

local path = require("nest.core.app").info().root .. "/static/src/page-keys.json"
local f = assert(io.open(path, "r"), "plugins/rum: cannot read " .. path)
local list = json.decode(f:read("a"))
f:close()

local pages = {}
for _, key in ipairs(list) do pages[key] = true end
return pages
