-- plugins/youtube/thumbnails.lua — video thumbnails for the page, from our
-- own origin (the CSP allows images from 'self' only, and the browser never
-- talks to Google): GET /youtube/thumbnails/{videoId} fetches
-- https://i.ytimg.com/vi/<id>/mqdefault.jpg (the URL is ours, built from a
-- checked id: no open proxy), keeps it in the cache for a day, and answers
-- a neutral SVG placeholder when YouTube cannot be reached (offline
-- installs, the demo), so a page never shows a broken image.
local fetch = require "nest.fetch"
local cache = require "nest.cache"

local M = {}

local MAX = 256 * 1024
local PLACEHOLDER = table.concat({
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 180">',
  '<rect width="320" height="180" fill="#1f232c"/>',
  '<path d="M140 62v56l48-28z" fill="#a3abba"/></svg>' })

-- get(video_id) -> body, content_type
function M.get(id)
  local v = cache.fetch("youtube:thumb:" .. id, { ttl = 86400, neg_ttl = 300 }, function()
    local res, err = fetch("https://i.ytimg.com/vi/" .. id .. "/mqdefault.jpg",
      { timeout = { connect = 2, total = 5 }, max_size = MAX, service = "youtube" })
    if not res then return nil, err end
    local ct = res.headers["content-type"] or ""
    if res.status ~= 200 or not ct:find("^image/") then return nil, "no thumbnail" end
    return { body = res.body, type = ct }
  end)
  if v then return v.body, v.type end
  return PLACEHOLDER, "image/svg+xml"
end

return M
