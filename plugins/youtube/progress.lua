-- plugins/youtube/progress.lua — reads yt-dlp's machine-readable output
-- without trusting it. yt-dlp runs with two templates (ytdlp.lua):
--
--   --progress-template 'download:{"id":%(info.id)j,"progress":%(progress)j}'
--   --print 'after_move:{"moved":%(id)j,"path":%(filepath)j}'
--
-- so every line we care about is one JSON object starting with '{' (the
-- "download:" prefix selects the template's type and is not printed).
-- Anything else — warnings, a half-written line, junk, an object of the
-- wrong shape — is ignored and counted in `bad`; numbers are clamped to sane
-- bounds and strings are length-checked, so a lying or broken yt-dlp can at
-- worst show a wrong percentage, never crash a worker or poison a row.
-- (Pure Lua; property-tested in spec/plugins/youtube_progress_spec.lua.)
--
--   local parser = progress.new()
--   local ev = parser:feed(line)
--   -- ev = {type = "progress", id, status, downloaded, total, percent, speed, eta, filename}
--   --    | {type = "moved", id, path}
--   --    | nil (not ours, or bad: parser.bad counts the bad ones)
local json = require "nest.json"

local M = {}

M.MAX_LINE = 16384
local MAX_BYTES = 1 << 50          -- a PiB: anything above is a lie
local MAX_SPEED = 1 << 40
local MAX_ETA = 10 * 365 * 86400

-- A finite number within [0, max], or nil.
local function bounded(v, max)
  if type(v) ~= "number" or v ~= v or v < 0 then return nil end
  if v > max then return max end
  return v
end

local function int(v, max)
  v = bounded(v, max)
  return v and math.floor(v) or nil
end

local function video_id(v)
  if type(v) == "string" and #v >= 1 and #v <= 64 and v:match("^[%w_%-]+$") then return v end
  return nil
end

local function path(v)
  if type(v) == "string" and #v >= 1 and #v <= 4096 and not v:find("[%z\n\r]") then return v end
  return nil
end

local function progress_event(id, p)
  if type(p) ~= "table" then return nil end
  local status = p.status
  if status ~= "downloading" and status ~= "finished" and status ~= "error" then return nil end
  local done = int(p.downloaded_bytes, MAX_BYTES)
  local total = int(p.total_bytes, MAX_BYTES) or int(p.total_bytes_estimate, MAX_BYTES)
  if total == 0 then total = nil end
  if done and total and done > total then total = done end
  local percent
  if status == "finished" then percent = 100
  elseif done and total then percent = math.floor(done * 1000 / total) / 10 end
  return { type = "progress", id = id, status = status, downloaded = done, total = total,
           percent = percent, speed = int(p.speed, MAX_SPEED), eta = int(p.eta, MAX_ETA),
           filename = path(p.filename) }
end

local Parser = {}
Parser.__index = Parser

function M.new()
  return setmetatable({ bad = 0, lines = 0 }, Parser)
end

local function decode(line)
  if type(line) ~= "string" or #line > M.MAX_LINE or line:byte(1) ~= 123 then return nil end
  local ok, v = pcall(json.decode, line)
  if not ok or type(v) ~= "table" then return nil end
  return v
end

function Parser:feed(line)
  self.lines = self.lines + 1
  if type(line) ~= "string" or line:byte(1) ~= 123 then return nil end   -- not JSON: yt-dlp's chatter
  local v = decode(line)
  local ev
  if v then
    if v.moved ~= nil then
      local id, p = video_id(v.moved), path(v.path)
      if id and p then ev = { type = "moved", id = id, path = p } end
    elseif v.progress ~= nil then
      local id = video_id(v.id)
      if id then ev = progress_event(id, v.progress) end
    end
  end
  if not ev then self.bad = self.bad + 1 end
  return ev
end

return M
