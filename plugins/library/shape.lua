-- plugins/library/shape.lua — Plex metadata turned into what the web UI
-- needs, and nothing more: no Plex URL, key or token ever leaves this file.
-- Images become URLs on our proxy (/api/v1/images/plex?path=...&w=...);
-- every ratingKey whose image we hand out is collected in `seen` so the
-- proxy knows the user may fetch it (see images.lua).
--
--   item(m, seen)              a grid card
--   details(m, seen, machine)  the item page (adds summary, genres, "open in Plex")
--   section(dir, count)        a library tab
--   image_url(path, w, seen)   our proxy URL for a Plex image path, or nil
local fetch = require "nest.fetch"
local json = require "nest.json"

local M = {}

local POSTER_W, ART_W = 300, 1200
local IMAGE_PATH = "^/library/metadata/(%d+)/(%a+)/(%d+)$"
M.IMAGE_PATH = IMAGE_PATH

local function str(v) if type(v) == "string" and v ~= "" then return v end return nil end
local function int(v) return math.tointeger(tonumber(v)) end

function M.image_url(path, w, seen)
  path = str(path)
  if not path then return nil end
  local rk, what = path:match(IMAGE_PATH)
  if not rk or (what ~= "thumb" and what ~= "art") then return nil end
  if seen then seen[rk] = true end
  return "/api/v1/images/plex?path=" .. fetch.encode_uri_component(path) .. "&w=" .. w
end

local function genres(m)
  local out = json.array()
  for _, g in ipairs(type(m.Genre) == "table" and m.Genre or {}) do
    if str(g.tag) then out[#out + 1] = g.tag end
  end
  return out
end

-- A 2:3 poster: an episode's own thumb is a 16:9 still, so it shows its
-- show's poster (as Plex's own apps do in grids); others their thumb, else
-- their parent's.
function M.poster(m, seen)
  local order = m.type == "episode" and { m.grandparentThumb, m.thumb, n = 2 }
    or { m.thumb, m.parentThumb, m.grandparentThumb, n = 3 }
  for i = 1, order.n do                    -- not ipairs: a missing one is a nil hole
    local url = M.image_url(order[i], POSTER_W, seen)
    if url then return url end
  end
  return json.null
end

function M.item(m, seen)
  local it = {
    ratingKey = tostring(m.ratingKey), type = str(m.type) or "unknown", title = str(m.title) or "",
    year = int(m.year), addedAt = int(m.addedAt), duration = int(m.duration),
    rating = tonumber(m.rating), librarySectionID = int(m.librarySectionID),
    poster = M.poster(m, seen),
  }
  if m.type == "show" then
    it.childCount, it.leafCount = int(m.childCount), int(m.leafCount)
  elseif m.type == "season" then
    it.index, it.leafCount, it.parentTitle = int(m.index), int(m.leafCount), str(m.parentTitle)
  elseif m.type == "episode" then
    it.index, it.parentIndex = int(m.index), int(m.parentIndex)
    it.grandparentTitle, it.grandparentRatingKey = str(m.grandparentTitle), str(m.grandparentRatingKey)
  elseif m.type == "collection" then
    it.childCount = int(m.childCount)
  end
  return it
end

-- The Plex web app's page for an item on this server.
function M.plex_web_url(machine, rk)
  if not machine then return json.null end
  return ("https://app.plex.tv/desktop/#!/server/%s/details?key=%s"):format(
    fetch.encode_uri_component(machine), fetch.encode_uri_component("/library/metadata/" .. rk))
end

function M.details(m, seen, machine)
  local d = M.item(m, seen)
  d.summary = str(m.summary) or ""
  d.tagline = str(m.tagline)
  d.genres = genres(m)
  d.contentRating = str(m.contentRating)
  d.studio = str(m.studio)
  d.originallyAvailableAt = str(m.originallyAvailableAt)
  d.art = M.image_url(m.art, ART_W, seen) or json.null
  d.librarySectionTitle = str(m.librarySectionTitle)
  d.parentRatingKey, d.parentTitle = str(m.parentRatingKey), str(m.parentTitle)
  d.grandparentRatingKey, d.grandparentTitle = str(m.grandparentRatingKey), str(m.grandparentTitle)
  d.plexUrl = M.plex_web_url(machine, d.ratingKey)
  return d
end

function M.section(dir, count)
  return { key = tostring(dir.key), title = str(dir.title) or "", type = str(dir.type) or "unknown",
           count = count or json.null }
end

function M.items(list, seen)
  local out = json.array()
  for _, m in ipairs(type(list) == "table" and list or {}) do out[#out + 1] = M.item(m, seen) end
  return out
end

return M
