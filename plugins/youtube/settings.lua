-- plugins/youtube/settings.lua — the YouTube service's settings as they
-- apply now: config.lua's services.youtube under what an admin saved
-- (nest.services), and the hourly limit of rate_limits.youtube.
local config = require "nest.config"
local services = require "nest.services"
local urls = require "plugins.youtube.urls"

local M = {}

-- options() -> {root, ytdlp, concurrency, quota_bytes, allowed_hosts, enabled}
function M.options()
  local s = services.get("youtube") or { options = {} }
  local o = s.options or {}
  return {
    root = config.path(o.root or ".data/youtube"):gsub("/+$", ""),
    ytdlp = o.ytdlp or "yt-dlp",
    concurrency = math.tointeger(o.concurrency) or 2,
    quota_bytes = math.tointeger(o.quota_bytes) or (10 << 30),
    allowed_hosts = type(o.allowed_hosts) == "table" and #o.allowed_hosts > 0 and o.allowed_hosts or urls.DEFAULT_HOSTS,
    enabled = s.enabled ~= false,
  }
end

-- hourly() -> limit, window (s): new downloads per user
function M.hourly()
  local rl = (config.get().rate_limits or {}).youtube or {}
  return math.tointeger(rl.limit) or 5, math.tointeger(rl.window) or 3600
end

return M
