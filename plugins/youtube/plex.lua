-- plugins/youtube/plex.lua — what the YouTube feature asks of Plex, through
-- the server configured as services.plex (owner's token; never sent to a
-- browser): find the library section whose folder holds a download, scan
-- just that folder (refresh?path=) and wait for the scan to end, find the
-- new items by file path, and create or extend the collection named after
-- the playlist, in playlist order.
local fetch = require "nest.fetch"
local services = require "nest.services"
local timer = require "nest.timer"
local napp = require "nest.core.app"

local M = {}

local enc = fetch.encode_uri_component
local TYPE_NUM = { movie = 1, show = 2, season = 3, episode = 4, artist = 8, album = 9, track = 10, clip = 12 }

local function server()
  local s = services.get("plex")
  if not (s and s.enabled ~= false and s.url and s.url ~= "" and s.token and s.token ~= "") then
    return nil, "Plex is not configured"
  end
  return s
end

-- call(method, path, query_string) -> MediaContainer | nil, err
local function call(method, path, qs, timeout)
  local s, err = server()
  if not s then return nil, err end
  local url = s.url:gsub("/+$", "") .. path .. (qs and qs ~= "" and ("?" .. qs) or "")
  local res
  res, err = fetch(url, { method = method, timeout = timeout or 10, service = "plex",
    headers = { Accept = "application/json", ["X-Plex-Token"] = s.token } })
  if not res then return nil, "Plex: " .. tostring(err) end
  if res.status >= 300 then return nil, ("Plex answered %d to %s %s"):format(res.status, method, path) end
  local body = res.body ~= "" and res:json()
  return type(body) == "table" and body.MediaContainer or {}
end

-- The section whose folder (Location) holds dir: the longest prefix wins.
function M.section_for(dir)
  local mc, err = call("GET", "/library/sections")
  if not mc then return nil, err end
  local best, best_len
  for _, d in ipairs(mc.Directory or {}) do
    for _, loc in ipairs(d.Location or {}) do
      local p = tostring(loc.path or ""):gsub("/+$", "")
      if p ~= "" and (dir == p or dir:sub(1, #p + 1) == p .. "/") and #p > (best_len or -1) then
        best, best_len = d, #p
      end
    end
  end
  if not best then return nil, "no Plex library holds " .. dir end
  return best
end

local function section_state(key)
  local mc, err = call("GET", "/library/sections")
  if not mc then return nil, err end
  for _, d in ipairs(mc.Directory or {}) do
    if tostring(d.key) == tostring(key) then return d end
  end
  return nil, "the Plex section " .. key .. " is gone"
end

-- scan(section_key, dir, timeout) -> true | nil, err: a partial scan of dir,
-- waited for (refreshing back to false, scannedAt moved).
function M.scan(key, dir, timeout)
  local before, err = section_state(key)
  if not before then return nil, err end
  local ok
  ok, err = call("POST", "/library/sections/" .. enc(key) .. "/refresh", "path=" .. enc(dir))
  if not ok then return nil, err end
  -- Ended: refreshing seen and gone, or scannedAt moved. Plex's scannedAt
  -- has whole seconds, so a scan that began and ended between two looks in
  -- the second of the last one shows neither: after a grace of quiet, done.
  local started = napp.hrtime()
  local deadline, seen = started + timeout, false
  while napp.hrtime() < deadline do
    timer.sleep(0.1)
    local now = section_state(key)
    if now then
      if now.refreshing then seen = true
      elseif seen or (now.scannedAt or 0) ~= (before.scannedAt or 0) or napp.hrtime() - started > 3 then
        return true
      end
    end
  end
  return nil, ("the Plex scan of %s did not end within %d s"):format(dir, timeout)
end

-- find(section_key, paths) -> {path = {ratingKey, type}} for the paths Plex
-- knows. Newest first, so a big library is read only as far as needed.
function M.find(key, paths)
  local want, left = {}, 0
  for _, p in ipairs(paths) do if not want[p] then want[p] = true left = left + 1 end end
  local found, start, size = {}, 0, 200
  while left > 0 and start < 50000 do
    local mc, err = call("GET", "/library/sections/" .. enc(key) .. "/all",
      ("sort=addedAt%%3Adesc&X-Plex-Container-Start=%d&X-Plex-Container-Size=%d"):format(start, size))
    if not mc then return nil, err end
    local items = mc.Metadata or {}
    for _, m in ipairs(items) do
      for _, media in ipairs(m.Media or {}) do
        for _, part in ipairs(media.Part or {}) do
          if want[part.file] and not found[part.file] then
            found[part.file] = { ratingKey = tostring(m.ratingKey), type = m.type }
            left = left - 1
          end
        end
      end
    end
    if #items < size then break end
    start = start + size
  end
  return found
end

local function machine_id()
  local mc, err = call("GET", "/identity")
  if not mc then return nil, err end
  return mc.machineIdentifier
end

-- The address of a collection in Plex's web app (app.plex.tv reaches the
-- server wherever it is); nil when Plex cannot say who it is.
function M.web_url(crk)
  local mid = require("nest.cache").fetch("youtube:plex:machine", { ttl = 3600 }, function()
    local id, err = machine_id()
    if not id then return nil, err end
    return id
  end)
  if not mid then return nil end
  return ("https://app.plex.tv/desktop#!/server/%s/details?key=%s"):format(enc(mid),
    enc("/library/collections/" .. crk))
end

local function items_uri(machine, rks)
  return enc(("server://%s/com.plexapp.plugins.library/library/metadata/%s"):format(machine, table.concat(rks, ",")))
end

local function collection_exists(crk)
  return call("GET", "/library/collections/" .. enc(crk) .. "/children", "X-Plex-Container-Size=0") ~= nil
end

local function by_title(key, title)
  local mc, err = call("GET", "/library/sections/" .. enc(key) .. "/collections")
  if not mc then return nil, err end
  for _, c in ipairs(mc.Metadata or {}) do
    if c.title == title then return tostring(c.ratingKey) end
  end
  return false
end

-- collect(section_key, title, rks (playlist order), known_key, item_type,
-- poster_url) -> collection ratingKey | nil, err. Extends the collection when
-- it exists (by its key, else by title); Plex ignores items already in it.
-- A new collection gets the playlist's thumbnail as its poster when Plex
-- takes it (it fetches the URL itself; a refusal is not an error).
function M.collect(key, title, rks, known, item_type, poster)
  if #rks == 0 then return nil, "no item to collect" end
  local machine, err = machine_id()
  if not machine then return nil, err end
  local crk = known and collection_exists(known) and known or nil
  if not crk then
    crk, err = by_title(key, title)
    if crk == nil then return nil, err end
  end
  if crk then
    local ok
    ok, err = call("PUT", "/library/collections/" .. enc(crk) .. "/items", "uri=" .. items_uri(machine, rks))
    if not ok then return nil, err end
    return crk
  end
  local mc
  mc, err = call("POST", "/library/collections", ("sectionId=%s&smart=0&title=%s&type=%d&uri=%s"):format(
    enc(key), enc(title), TYPE_NUM[item_type] or 1, items_uri(machine, rks)))
  if not mc then return nil, err end
  local c = (mc.Metadata or {})[1]
  if not (c and c.ratingKey) then return nil, "Plex made no collection" end
  crk = tostring(c.ratingKey)
  -- keep the playlist's order rather than Plex's default (release date)
  call("PUT", "/library/metadata/" .. enc(crk) .. "/prefs", "collectionSort=2")
  if poster then call("POST", "/library/metadata/" .. enc(crk) .. "/posters", "url=" .. enc(poster)) end
  return crk
end

-- Remove items from a collection (a download deleted); errors are ignored
-- by the caller: the files are gone either way and Plex drops them at its
-- next scan.
function M.uncollect(crk, rks)
  for _, rk in ipairs(rks) do
    local ok, err = call("DELETE", "/library/collections/" .. enc(crk) .. "/items/" .. enc(rk))
    if not ok then return nil, err end
  end
  return true
end

function M.available()
  return server() ~= nil
end

return M
