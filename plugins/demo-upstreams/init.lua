-- plugins/demo-upstreams/init.lua — faithful stand-ins for the services
-- MediaNest talks to (docs/demo-upstreams.md, shared/reference/external-apis.md), served
-- by MediaNest itself under /demo/<svc> (contracts.md): plex.tv
-- (plextv.lua), Plex Media Server (pms.lua over library.lua, posters by
-- image.lua), and, when their modules are present, Overseerr (overseerr.lua)
-- and Uptime Kuma (kuma.lua). `serve --demo` enables it; specs start it with
-- h.start({plugins = {"demo-upstreams"}}).
--
-- Every route is public: these are other services' APIs, each with its own
-- credentials (plex.tv tokens, the PMS token, API keys), checked by the fake.
local util = require "plugins.demo-upstreams.plexutil"

local plugin = {
  name = "demo-upstreams", version = "1.0.0", priority = 50,
  description = "Demo plex.tv, Plex Media Server, Overseerr and Uptime Kuma",
  schema = { fields = {
    latency_ms = { type = "number", default = 0, min = 0, max = 60000 },       -- every fake, before answering
    failure_rate = { type = "number", default = 0, min = 0, max = 1 },         -- share of requests answered with failure_status
    failure_status = { type = "integer", default = 500, min = 400, max = 599 },
    pin_ttl = { type = "integer", default = 1800, min = 1 },                   -- plex.tv PIN lifetime (s)
    seed = { type = "integer", default = 20240501 },                          -- the generated library's seed
    movies = { type = "integer", default = 5000, min = 0, max = 50000 },
    shows = { type = "integer", default = 500, min = 0, max = 5000 },
    videos = { type = "integer", default = 120, min = 0, max = 50000 },        -- the YouTube ("Other videos") section
    home_videos = { type = "integer", default = 40, min = 0, max = 50000 },    -- section 4, not shared with the friend
    scan_seconds = { type = "number", default = 0.5, min = 0, max = 600 },     -- how long a PMS refresh stays "refreshing"
    image_cache_ttl = { type = "number", default = 3600, min = 0 },            -- drawn posters kept in the L1 cache
    youtube_root = { type = "string" },                                        -- the YouTube section's folder (default: services.youtube.root)
    -- the other helpers' fakes read their own keys from here too
    overseerr = { type = "table", default = {} },
    kuma = { type = "table", default = {} },
  } },
}

local OTHERS = { "overseerr", "kuma" }
local others = {}

local function load_others()
  others = {}
  for _, name in ipairs(OTHERS) do
    local ok, mod = pcall(require, "plugins.demo-upstreams." .. name)
    if ok and type(mod) == "table" then
      others[#others + 1] = mod
    elseif not ok and not tostring(mod):find("no plugin file", 1, true)
      and not tostring(mod):find("not found", 1, true) then
      require("nest.log").warn("demo-upstreams: " .. name .. " did not load", { error = tostring(mod) })
    end
  end
end

function plugin.routes(r, settings)
  local plextv = require "plugins.demo-upstreams.plextv"
  local pms = require "plugins.demo-upstreams.pms"
  plextv.routes(r, settings, util.control(settings))
  pms.routes(r, settings, util.control(settings))
  load_others()
  for _, mod in ipairs(others) do
    if type(mod.routes) == "function" then mod.routes(r, settings) end
  end
end

function plugin.init(app, settings)
  require("plugins.demo-upstreams.pms").init(app, settings)
  for _, mod in ipairs(others) do
    if type(mod.init) == "function" then mod.init(app, settings) end
  end
end

function plugin.destroy()
  require("plugins.demo-upstreams.pms").destroy()
  for _, mod in ipairs(others) do
    if type(mod.destroy) == "function" then pcall(mod.destroy) end
  end
end

return plugin
