-- plugins/youtube/urls.lua — which URLs the YouTube feature accepts, and
-- what they name. A URL is refused (400 INVALID_URL, with the reason) when it
-- is not an http(s) URL, carries credentials, names a host outside
-- services.youtube.allowed_hosts, or names nothing we can download. What it
-- names — a playlist or a video, and its canonical id — is what duplicate
-- detection compares: two spellings of one playlist are one download.
local M = {}

M.DEFAULT_HOSTS = { "youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be" }

local MAX_URL = 2048
local YOUTUBE = {}
for _, h in ipairs(M.DEFAULT_HOSTS) do YOUTUBE[h] = true end

local function query_params(q)
  local out = {}
  for k, v in (q or ""):gmatch("([^&=]+)=([^&]*)") do
    if out[k] == nil then out[k] = v end
  end
  return out
end

-- YouTube ids: videos are 11 characters of [A-Za-z0-9_-]; playlist ids are
-- longer, same alphabet.
local function video_id(s) return s and s:match("^[%w_%-]+$") and #s == 11 and s or nil end
local function list_id(s) return s and s:match("^[%w_%-]+$") and #s >= 2 and #s <= 64 and s or nil end

local function allowed(host, hosts)
  for _, h in ipairs(hosts) do
    if host == h:lower() then return true end
  end
  return false
end

-- parse(url, allowed_hosts) -> {url, host, kind = "video"|"playlist", id} | nil, reason
-- (kind and id are nil for an allowed host that is not YouTube's: the
-- preview tells)
function M.parse(url, hosts)
  if type(url) ~= "string" or url == "" then return nil, "a URL is required" end
  if #url > MAX_URL then return nil, ("the URL is longer than %d characters"):format(MAX_URL) end
  if url:find("[%c%s]") then return nil, "the URL contains spaces or control characters" end
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return nil, "not a URL (expected https://...)" end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return nil, "only http and https URLs are accepted" end
  if authority:find("@", 1, true) then return nil, "URLs with credentials (user@host) are refused" end
  local host, port = authority:match("^([^:]+):?(%d*)$")
  if not host or host == "" then return nil, "the URL has no host" end
  if port ~= "" and not (tonumber(port) and tonumber(port) <= 65535) then return nil, "the URL has a bad port" end
  host = host:lower():gsub("%.$", "")
  if not allowed(host, hosts or M.DEFAULT_HOSTS) then
    return nil, ("the host %s is not allowed (allowed: %s)"):format(host,
      table.concat(hosts or M.DEFAULT_HOSTS, ", "))
  end
  local path, query = rest:match("^([^?#]*)%??([^#]*)")
  local q = query_params(query)
  local out = { url = url, host = host }
  if not YOUTUBE[host] then
    -- an operator-added host: yt-dlp's preview says what it is
    return out
  end
  if host == "youtu.be" then
    local id = video_id(path:match("^/([^/]+)$"))
    if not id then return nil, "the youtu.be link names no video" end
    out.kind, out.id = "video", id
  elseif path == "/playlist" then
    out.kind, out.id = "playlist", list_id(q.list)
    if not out.id then return nil, "the playlist URL has no valid list= id" end
  elseif path == "/watch" then
    -- like yt-dlp without --no-playlist: watch?v=X&list=L is the playlist
    if list_id(q.list) then out.kind, out.id = "playlist", q.list
    elseif video_id(q.v) then out.kind, out.id = "video", q.v
    else return nil, "the watch URL has no valid v= video id" end
  else
    local id = path:match("^/shorts/([^/]+)$") or path:match("^/embed/([^/]+)$") or path:match("^/live/([^/]+)$")
    out.kind, out.id = "video", video_id(id)
    if not out.id then return nil, "the URL names no video or playlist" end
  end
  return out
end

return M
