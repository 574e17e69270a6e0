-- plugins/youtube/files.lua — where downloads live on disk and how they get
-- there. Layout (docs/youtube.md):
--
--   <root>/<user>-<id>/<playlist title>/NNN - <video title> [<video id>].<ext>
--                                       NNN - ... [<id>].jpg   the thumbnail
--                                       NNN - ... [<id>].nfo   the metadata
--   <root>/<user>-<id>/.archive.txt     yt-dlp's download archive (per user)
--   <root>/<user>-<id>/.incoming/<download id>/   yt-dlp's working folder
--
-- yt-dlp writes only into the hidden .incoming folder (Plex skips hidden
-- folders); a finished video is moved into place with rename(2) on the same
-- file system, and the .nfo is written to a temporary name then renamed, so
-- Plex never scans half a file. Names are ours, not yt-dlp's: no '/', no
-- '..', no control characters, nothing Windows or macOS refuse, bounded
-- length; folders that would differ only by case get the playlist id.
local fs = require "nest.core.fs"
local proc = require "nest.proc"
local crypto = require "nest.crypto"

local M = {}

local MAX_NAME = 120     -- bytes of title in a name; the rest is index, id and extension
local RESERVED = { con = 1, prn = 1, aux = 1, nul = 1 }
for i = 1, 9 do RESERVED["com" .. i] = 1; RESERVED["lpt" .. i] = 1 end

-- Cut s to at most n bytes without splitting a UTF-8 sequence.
local function cut(s, n)
  if #s <= n then return s end
  local i = n
  while i > 0 and (s:byte(i + 1) or 0) & 0xC0 == 0x80 do i = i - 1 end
  return s:sub(1, i)
end

-- sanitise(name) -> a file or folder name safe on every common file system.
function M.sanitise(name)
  local s = tostring(name or "")
  if not utf8.len(s) then s = s:gsub("[\128-\255]", "_") end        -- invalid UTF-8: drop to ASCII
  s = s:gsub("[%c\127]", " ")                                        -- control characters
  s = s:gsub('[/\\:%*%?"<>|]', "-")                                   -- separators, Windows' forbidden
  s = s:gsub("%s+", " "):gsub("^[%s%.]+", ""):gsub("[%s%.]+$", "")    -- no leading dots, no trailing dots/spaces
  s = cut(s, MAX_NAME):gsub("[%s%.]+$", "")
  if s == "" then s = "Untitled" end
  if RESERVED[(s:match("^[^%.]*") or ""):lower()] then s = "_" .. s end
  return s
end

function M.user_dir(root, user)
  return root .. "/" .. M.sanitise(user.username):lower() .. "-" .. math.tointeger(user.id)
end

-- output_dir(user_dir, kind, title, playlist_id, taken) -> the folder of a
-- new download: single videos share "Videos"; a playlist gets its title,
-- plus its id when taken(dir) says another playlist of the user has a
-- folder of that name in another case.
function M.output_dir(user_dir, kind, title, playlist_id, taken)
  if kind ~= "playlist" then return user_dir .. "/Videos" end
  local dir = user_dir .. "/" .. M.sanitise(title)
  if taken(dir) then dir = dir .. " [" .. playlist_id .. "]" end
  return dir
end

function M.archive(user_dir) return user_dir .. "/.archive.txt" end
function M.staging(user_dir, download_id) return user_dir .. "/.incoming/" .. math.tointeger(download_id) end

-- The file stem of a video in its folder: "007 - Title [id]".
function M.stem(position, title, video_id)
  return ("%03d - %s [%s]"):format(position + 1, M.sanitise(title or video_id), video_id)
end

function M.mkdir(dir) return fs.mkdir_p(dir, tonumber("755", 8)) end

-- write_atomic(path, content) -> true | nil, err: a temporary name beside
-- it, then rename(2).
function M.write_atomic(path, content)
  local tmp = path:gsub("([^/]+)$", ".%1.tmp-" .. crypto.hex(crypto.random(4)))
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(content)
  local cok, cerr = f:close()
  if not ok or not cok then os.remove(tmp) return nil, werr or cerr end
  local rok, rerr = os.rename(tmp, path)
  if not rok then os.remove(tmp) return nil, rerr end
  return true
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function M.size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- Run a small command (rm, df, ls) to its end; -> code, stdout lines.
local function run(argv)
  local p, err = proc.spawn(argv)
  if not p then return nil, err end
  local out = {}
  for line in p:lines() do if #out < 10000 then out[#out + 1] = line end end
  return p:wait(), out
end

-- remove_tree(dir): rm -rf, refusing anything that is not under root.
function M.remove_tree(root, dir)
  if not dir or dir:sub(1, #root + 1) ~= root .. "/" or dir:find("/%.%./") or dir:find("/%.%.$") then
    return nil, "refusing to remove " .. tostring(dir)
  end
  return run({ "rm", "-rf", "--", dir })
end

-- The files directly in dir (names only), or {}.
function M.list(dir)
  local code, out = run({ "find", dir, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\\n" })
  if code ~= 0 then return {} end
  return out
end

-- free_bytes(dir) -> bytes available to us on dir's file system | nil, err
function M.free_bytes(dir)
  local code, out = run({ "df", "-P", "-B1", "--", dir })
  if code ~= 0 or not out[2] then return nil, "df failed for " .. dir end
  local avail = out[#out]:match("^%S+%s+%d+%s+%d+%s+(%d+)")
  return avail and math.tointeger(tonumber(avail)) or nil
end

local function xml(s)
  return (tostring(s or ""):gsub("[%z\1-\8\11\12\14-\31]", ""):gsub("[&<>\"]",
    { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- The .nfo of a video (Kodi's <movie> layout, which Plex's XBMCnfo agents
-- and Jellyfin read too).
function M.nfo(item, download)
  return table.concat({
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
    "<movie>",
    "  <title>" .. xml(item.title or item.video_id) .. "</title>",
    "  <sorttitle>" .. ("%03d"):format(item.position + 1) .. "</sorttitle>",
    "  <studio>" .. xml(type(download.channel) == "string" and download.channel or "") .. "</studio>",
    "  <set><name>" .. xml(download.title) .. "</name></set>",
    math.type(item.duration_seconds) == "integer"
      and ("  <runtime>" .. math.max(1, item.duration_seconds // 60) .. "</runtime>") or "  <runtime/>",
    '  <uniqueid type="youtube" default="true">' .. xml(item.video_id) .. "</uniqueid>",
    "  <trailer>https://www.youtube.com/watch?v=" .. xml(item.video_id) .. "</trailer>",
    "</movie>", "" }, "\n")
end

return M
