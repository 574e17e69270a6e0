-- plugins/youtube/ytdlp.lua — how MediaNest runs yt-dlp: the preview
-- (`-J --flat-playlist`, bounded in time and size), the argv of a download
-- (the flags of shared/reference/external-apis.md, argv only, the URL after
-- `--`), and what its errors mean in words a user understands.
local proc = require "nest.proc"
local json = require "nest.json"
local timer = require "nest.timer"

local M = {}

-- yt-dlp format expressions for the qualities the API offers.
M.FORMATS = {
  best = "bv*+ba/b",
  ["1080"] = "bv*[height<=1080]+ba/b[height<=1080]",
  ["720"] = "bv*[height<=720]+ba/b[height<=720]",
  ["480"] = "bv*[height<=480]+ba/b[height<=480]",
  audio = "ba[ext=m4a]/ba/b",
}
M.QUALITIES = { "best", "1080", "720", "480", "audio" }

M.PROGRESS_TEMPLATE = 'download:{"id":%(info.id)j,"progress":%(progress)j}'
M.MOVED_TEMPLATE = 'after_move:{"moved":%(id)j,"path":%(filepath)j}'

local MAX_PREVIEW = 16 * 1024 * 1024

-- Errors: the last "ERROR:" lines of stderr, each classified.
local REASONS = {
  { "private", "private video", { "[Pp]rivate video", "This video is private", "members%-only", "[Ss]ign in to confirm your age" } },
  { "removed", "the video was removed or is unavailable", { "Video unavailable", "has been removed", "does not exist",
      "account associated with this video has been terminated", "[Nn]ot available", "no longer available" } },
  { "disk_full", "the disk is full", { "No space left on device", "Errno 28", "[Dd]isk quota exceeded" } },
  { "network", "a network error", { "HTTP Error", "[Uu]nable to download", "[Tt]imed out", "[Cc]onnection",
      "getaddrinfo", "[Nn]etwork is unreachable", "[Tt]emporary failure in name resolution", "SSL" } },
  { "format", "the chosen quality is not available", { "Requested format is not available" } },
  { "unsupported", "yt-dlp does not support this URL", { "Unsupported URL", "is not a valid URL" } },
}

-- classify(message) -> code, words
function M.classify(msg)
  msg = tostring(msg or "")
  for _, r in ipairs(REASONS) do
    for _, pat in ipairs(r[3]) do
      if msg:find(pat) then return r[1], r[2] end
    end
  end
  return "error", "yt-dlp failed"
end

-- errors(stderr) -> list of {id?, code, words, message}
function M.errors(stderr)
  local out = {}
  for line in tostring(stderr or ""):gmatch("[^\n]+") do
    local msg = line:match("^ERROR: (.*)$")
    if msg and #out < 1000 then
      local id = msg:match("^%[[%w:_]+%] ([%w_%-]+): ")
      local code, words = M.classify(msg)
      out[#out + 1] = { id = id, code = code, words = words, message = msg:sub(1, 500) }
    end
  end
  return out
end

-- version(bin, timeout) -> "2024.04.09" | nil, why
function M.version(bin, timeout)
  local p, err = proc.spawn({ bin, "--version" })
  if not p then return nil, ("%s cannot be run: %s"):format(bin, tostring(err)) end
  local t = timer.at(timeout, function(premature) if not premature then p:kill("KILL") end end)
  local first
  for line in p:lines() do first = first or line end
  local code = p:wait()
  t:cancel()
  if code ~= 0 or not first then return nil, ("%s --version failed (exit %s)"):format(bin, tostring(code)) end
  return first:sub(1, 64)
end

-- run_json(bin, argv, timeout) -> decoded document | nil, code, words
local function run_json(argv, timeout)
  local p, err = proc.spawn(argv, { max_line = MAX_PREVIEW, max_buffer = MAX_PREVIEW + 65536 })
  if not p then return nil, "tool_missing", "yt-dlp cannot be run: " .. tostring(err) end
  local timed_out = false
  local t = timer.at(timeout, function(premature)
    if premature then return end
    timed_out = true
    p:kill("KILL")
  end)
  local doc
  for line in p:lines() do
    if not doc and line:byte(1) == 123 then doc = line end
  end
  local code = p:wait()
  t:cancel()
  if timed_out then return nil, "timeout", ("yt-dlp did not answer within %g s"):format(timeout) end
  if p:truncated() > 0 then return nil, "too_large", "the playlist is too large to preview" end
  if code ~= 0 then
    local errs = M.errors(p:stderr())
    local e = errs[#errs]
    if code == 2 then return nil, "usage", "yt-dlp refused its arguments (is it too old?)" end
    if e then return nil, e.code, e.words .. ": " .. e.message end
    return nil, "error", ("yt-dlp exited with %d"):format(code)
  end
  local v = doc and json.decode(doc)
  if type(v) ~= "table" then return nil, "error", "yt-dlp printed no JSON document" end
  return v
end

local function str(v, max)
  if type(v) ~= "string" then return nil end
  return v:sub(1, max or 500)
end

local function thumb_of(e)
  if type(e.thumbnail) == "string" then return str(e.thumbnail, 2048) end
  if type(e.thumbnails) == "table" then
    local last = e.thumbnails[#e.thumbnails]
    if type(last) == "table" then return str(last.url, 2048) end
  end
  return nil
end

-- preview(bin, url, {timeout, max_entries}) -> {kind, id, title, channel,
-- count, thumbnail, entries = {{id, title, duration, thumbnail}}} | nil, code, words
function M.preview(bin, url, opts)
  local doc, code, words = run_json({ bin, "--ignore-config", "--no-warnings", "-J", "--flat-playlist", "--", url },
                                    opts.timeout)
  if not doc then return nil, code, words end
  local out = { title = str(doc.title, 300) or "Untitled", channel = str(doc.channel or doc.uploader, 300),
                id = str(doc.id, 64), thumbnail = thumb_of(doc), entries = {} }
  if not (out.id and out.id:match("^[%w_%-]+$")) then return nil, "error", "yt-dlp gave no usable id" end
  if doc._type == "playlist" then
    out.kind = "playlist"
    local entries = type(doc.entries) == "table" and doc.entries or {}
    for _, e in ipairs(entries) do
      if #out.entries >= opts.max_entries then break end
      local id = type(e) == "table" and str(e.id, 64)
      if id and id:match("^[%w_%-]+$") then
        out.entries[#out.entries + 1] = { id = id, title = str(e.title, 300) or id,
          duration = math.type(e.duration) and math.floor(math.max(0, e.duration)) or nil,
          thumbnail = thumb_of(e) or ("https://i.ytimg.com/vi/" .. id .. "/hqdefault.jpg") }
      end
    end
    out.count = math.tointeger(doc.playlist_count) or #out.entries
    out.thumbnail = out.thumbnail or (out.entries[1] and out.entries[1].thumbnail)
  else
    out.kind = "video"
    out.entries[1] = { id = out.id, title = out.title,
      duration = math.type(doc.duration) and math.floor(math.max(0, doc.duration)) or nil,
      thumbnail = out.thumbnail or ("https://i.ytimg.com/vi/" .. out.id .. "/hqdefault.jpg") }
    out.count = 1
  end
  return out
end

-- download_argv(bin, job) -> argv. job = {url, kind, quality, archive, staging}
function M.download_argv(bin, job)
  local argv = { bin, "--ignore-config", "--newline", "--progress", "--no-colors",
    "--progress-template", M.PROGRESS_TEMPLATE, "--print", M.MOVED_TEMPLATE, "--no-simulate",
    "--download-archive", job.archive, "-P", job.staging, "-o", "%(id)s.%(ext)s",
    "-f", M.FORMATS[job.quality] or M.FORMATS.best,
    "--write-thumbnail", "--convert-thumbnails", "jpg", "--no-mtime", "--socket-timeout", "30" }
  argv[#argv + 1] = job.kind == "playlist" and "--yes-playlist" or "--no-playlist"
  argv[#argv + 1] = "--"
  argv[#argv + 1] = job.url
  return argv
end

return M
