-- plugins/status/features.lua — whether each feature can work right now,
-- for the web UI (greyed navigation, through GET /dashboard/status) and for
-- any plugin that wants to answer "unavailable" early instead of failing:
--
--   local features = require "plugins.status.features"
--   local f = features.get()          -- { library = {available, reason}, requests = ..., youtube = ... }
--   if not f.requests.available then errors.raise(503, "FEATURE_UNAVAILABLE", f.requests.reason) end
--   features.get("library")           -- one feature's { available, reason }
--
-- library needs Plex, requests needs Overseerr, youtube needs the YouTube
-- tool and Plex: a service that is down, under maintenance, not configured,
-- or that refuses MediaNest's token/key makes its features unavailable;
-- degraded (slow) and unknown (not checked yet) do not. reason is a string
-- when unavailable, json.null otherwise. Read from the status snapshot
-- (nest.cache, 60 s, refreshed by every poller cycle): cheap to call per
-- request. When the snapshot cannot be read (database down) every feature
-- is reported available — the feature's own call will say what failed.
local json = require "nest.json"
local view = require "plugins.status.view"

local M = {}

local function unknown()
  local a = { available = true, reason = json.null }
  return { library = a, requests = a, youtube = a }
end

function M.get(name)
  local snap = view.snapshot()
  local all = snap and view.features(snap) or unknown()
  if name then return all[name] end
  return all
end

return M
