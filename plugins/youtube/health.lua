-- plugins/youtube/health.lua — whether downloads can work here and now:
-- yt-dlp runs, the disk has room, Plex is there for the collections
-- (downloads work without it). GET /youtube/status answers it and the page
-- shows the reason; cached 30 s, as the page asks on every visit.
local cache = require "nest.cache"
local ytdlp = require "plugins.youtube.ytdlp"
local files = require "plugins.youtube.files"
local plex = require "plugins.youtube.plex"

local M = {}

-- check(options, settings) -> {available, reason, checks = {{name, ok, message}}, collections}
function M.check(o, s)
  return cache.fetch("youtube:health", { ttl = 30 }, function()
    local checks, reason = {}, nil
    local v, verr = ytdlp.version(o.ytdlp, 5)
    checks[#checks + 1] = { name = "ytdlp", ok = v ~= nil, message = v and ("yt-dlp " .. v) or verr }
    if not v then reason = "yt-dlp is not installed or does not run (" .. tostring(verr) .. ")" end
    files.mkdir(o.root)
    local free = files.free_bytes(o.root)
    local disk_ok = free == nil or free >= s.min_free_bytes
    checks[#checks + 1] = { name = "disk", ok = disk_ok, freeBytes = free,
      message = disk_ok and "enough free space" or "the disk is full" }
    if not disk_ok then reason = reason or "the download disk is full" end
    local section, perr = plex.section_for(o.root)
    checks[#checks + 1] = { name = "plex", ok = section ~= nil,
      message = section and ("Plex library \"" .. tostring(section.title) .. "\"") or perr }
    if not o.enabled then reason = "turned off by the administrator" end
    return { available = reason == nil, reason = reason, checks = checks, collections = section ~= nil }
  end)
end

return M
