-- plugins/youtube/previews.lua — what a URL is, before anything is queued:
-- yt-dlp's -J --flat-playlist, cached for preview_ttl per URL, at most
-- `previews` yt-dlp processes at once per instance (each is a child process
-- a client could otherwise multiply with distinct URLs). Failures become
-- HTTP errors that say why.
local cache = require "nest.cache"
local crypto = require "nest.crypto"
local errors = require "nest.errors"
local json = require "nest.json"
local ytdlp = require "plugins.youtube.ytdlp"

local M = {}

M.ENTRIES_SHOWN = 50

local running = 0          -- previews running now (this generation)

local STATUS = { tool_missing = 503, usage = 503, timeout = 504 }
local CODE = { [503] = "YTDLP_UNAVAILABLE", [504] = "PREVIEW_TIMEOUT", [422] = "VIDEO_UNAVAILABLE" }

-- get(url, options, settings) -> preview (ytdlp.preview's shape) | raises
function M.get(url, o, s)
  local failure
  local v = cache.fetch("youtube:preview:" .. crypto.hex(crypto.sha256(url)), { ttl = s.preview_ttl }, function()
    if running >= s.previews then
      failure = { code = "busy" }
      return nil, "busy"
    end
    running = running + 1
    local _ <close> = setmetatable({}, { __close = function() running = running - 1 end })
    local p, code, words = ytdlp.preview(o.ytdlp, url, { timeout = s.preview_timeout, max_entries = s.max_items })
    if not p then failure = { code = code, words = words } return nil, words end
    return p
  end)
  if v then return v end
  failure = failure or { code = "error", words = "the preview failed" }
  if failure.code == "busy" then
    errors.raise(503, "PREVIEW_BUSY", "Too many previews at once; try again in a moment", { reason = "busy" },
      { ["Retry-After"] = "2" })
  end
  local status = STATUS[failure.code] or 422
  errors.raise(status, CODE[status], failure.words, { reason = failure.code })
end

-- view(p, have) -> the API's answer; have = set of video ids the user has
function M.view(p, have)
  local entries, already = json.array(), json.array()
  for i, e in ipairs(p.entries) do
    if have[e.id] then already[#already + 1] = e.id end
    if i <= M.ENTRIES_SHOWN then
      entries[i] = { id = e.id, title = e.title, duration = e.duration, thumbnail = e.thumbnail,
                     downloaded = have[e.id] == true }
    end
  end
  return { kind = p.kind, id = p.id, title = p.title, channel = p.channel, count = p.count,
           thumbnail = p.thumbnail, entries = entries, alreadyDownloaded = already }
end

return M
