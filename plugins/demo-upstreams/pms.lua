-- plugins/demo-upstreams/pms.lua — the Plex Media Server fake under
-- /demo/plex, over the generated library (library.lua).
--
-- As the real server: X-Plex-Token (header or query) on everything but
-- /identity, 401 otherwise; XML unless `Accept: application/json`; paging by
-- X-Plex-Container-Start/Size as headers or query parameters, with
-- totalSize; collections created and filled through a fully percent-encoded
-- `uri` (server://<machineId>/com.plexapp.plugins.library/library/metadata/<ids>);
-- refresh by GET or POST with an optional path=, which really scans that
-- folder for video files in the YouTube section; posters drawn as PNGs by
-- image.lua and kept in the L1 cache. The owner's token may do everything; the
-- friend's server token reads only (403 on writes) and sees only the sections
-- shared with them (SHARED): as Plex does for a shared user, an unshared
-- section is absent from /library/sections, search and recently added, and
-- its listings, items and images answer 401.
local json = require "nest.json"
local timer = require "nest.timer"
local util = require "plugins.demo-upstreams.plexutil"
local library = require "plugins.demo-upstreams.library"
local image = require "plugins.demo-upstreams.image"

local M = {}

local PREFIX = "/demo/plex"
local MACHINE_ID = "demo-pms-machine-0001"
local VERSION = "1.40.2.8395-c67dce28e"
local TOKENS = { ["demo-token-owner"] = "owner", ["demo-server-token-friend"] = "friend" }
-- The sections the owner shares with each user (the owner sees all).
local SHARED = { friend = { ["1"] = true, ["2"] = true, ["3"] = true } }
M.PREFIX, M.MACHINE_ID = PREFIX, MACHINE_ID

local settings, control
local lib                    -- made on first use
local refresh_log = {}
local scans = {}             -- section key -> timer handle
local transcodes = 0
local requests = 0           -- every authenticated request, for specs counting upstream calls

-- May `who` see section `key`?
local function sees(who, key)
  if key == nil then return true end
  local shared = SHARED[who]
  return shared == nil or shared[tostring(key)] == true
end
-- The set of section keys `who` sees (nil: all).
local function visible_set(who) return SHARED[who] end

local function get_lib()
  if lib then return lib end
  local root = settings.youtube_root
  if not root then
    local cfg = require("nest.config").get()
    local yt = cfg and cfg.services and cfg.services.youtube
    root = require("nest.config").path(yt and yt.root or ".data/youtube")
  end
  root = root:gsub("/+$", "")
  lib = library.new({ seed = settings.seed, movies = settings.movies, shows = settings.shows,
                      videos = settings.videos, home_videos = settings.home_videos,
                      youtube_root = root, machine_id = MACHINE_ID })
  return lib
end
M.library = get_lib

local function html_error(res, status, text)
  res:header("cache-control", "no-cache")
  return res:send(("<html><head><title>%s</title></head><body><h1>%d %s</h1></body></html>"):format(
    text, status, text), status, "text/html")
end

local ELEMENT = { movie = "Video", episode = "Video", clip = "Video", show = "Directory", season = "Directory",
  collection = "Directory", artist = "Directory", album = "Directory", track = "Track", photo = "Photo" }
local function element_name(key, item)
  if key == "Metadata" then return ELEMENT[item.type] or "Directory" end
  return key
end

local function container(req, res, mc, status)
  mc.size = mc.size or (mc.Metadata and #mc.Metadata) or (mc.Directory and #mc.Directory) or 0
  if util.wants_json(req) then
    return res:json({ MediaContainer = mc }, status or 200)
  end
  return res:send(util.pms_xml("MediaContainer", mc, element_name), status or 200, "application/xml")
end

local function section_dir(s)
  return { key = s.key, type = s.type, title = s.title, agent = s.agent, scanner = s.scanner,
           language = s.language, uuid = s.uuid, refreshing = s.refreshing, updatedAt = s.updatedAt,
           createdAt = 1672531200, scannedAt = s.scannedAt, content = true, directory = true,
           contentChangedAt = s.updatedAt, hidden = 0, allowSync = true,
           thumb = "/:/resources/" .. s.type .. ".png", art = "/:/resources/" .. s.type .. "-fanart.jpg",
           composite = "/library/sections/" .. s.key .. "/composite/" .. s.updatedAt,
           Location = { { id = tonumber(s.key), path = s.location } } }
end

-- Paging: X-Plex-Container-Start / -Size as headers or query parameters.
local function paging(req)
  local function int(name)
    local v = util.plex_param(req, name)
    if v == nil then return nil end
    local n = v:match("^%d+$") and math.tointeger(tonumber(v))
    if not n then return false end
    return n
  end
  local start, size = int("X-Plex-Container-Start"), int("X-Plex-Container-Size")
  if start == false or size == false then return nil end
  return start or 0, size
end

-- The raw (still encoded) value of a query parameter.
local function raw_param(req, name)
  for pair in (req.raw_query or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k == name then return v end
  end
  return nil
end

-- The items a collection uri names: {rk...} | nil, why. The value must be
-- percent-encoded whole (no raw ':' '/' ',' in the query string).
local function uri_items(req)
  local raw = raw_param(req, "uri")
  if not raw or raw == "" then return nil, "uri is required" end
  if raw:find("[:/,]") then return nil, "uri must be percent-encoded" end
  local uri = raw:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local machine, ids = uri:match("^server://([^/]+)/com%.plexapp%.plugins%.library/library/metadata/([%d,]+)$")
  if not machine then return nil, "uri must be server://<machineIdentifier>/com.plexapp.plugins.library/library/metadata/<ids>" end
  if machine ~= MACHINE_ID then return nil, "uri names another server" end
  local rks = {}
  for id in ids:gmatch("%d+") do rks[#rks + 1] = math.tointeger(tonumber(id)) end
  if #rks == 0 then return nil, "uri names no item" end
  return rks
end

local function scan(key, path, force)
  local L = get_lib()
  local sec = L:section(key)
  local found = 0
  if key == "3" then
    local dir = path or sec.location
    local ok, proc = pcall(require("nest.proc").spawn, { "find", dir, "-maxdepth", "4", "-type", "f" })
    if ok and proc then
      local files = {}
      for line in proc:lines() do files[#files + 1] = line end
      proc:wait()
      table.sort(files)
      found = L:add_files(files)
    end
  end
  sec.refreshing = false
  sec.scannedAt = os.time()
  if found > 0 then sec.updatedAt = sec.scannedAt end
  scans[key] = nil
  refresh_log[#refresh_log + 1] = { section = key, path = path, force = force, event = "done", added = found }
end

function M.routes(r, conf, ctl)
  settings, control = conf, ctl
  local opts = { auth = "public", at_root = true }

  -- wrap: latency/failure control, then the token (unless open), then fn(req, res, who)
  local function route(method, path, o, fn)
    r[method](r, PREFIX .. path, opts, function(req, res)
      if control:before() then return html_error(res, control.failure_status, "Internal Server Error") end
      local who
      if not o.open then
        who = TOKENS[util.plex_param(req, "X-Plex-Token") or ""]
        if not who then return html_error(res, 401, "Unauthorized") end
        if o.write and who ~= "owner" then return html_error(res, 403, "Forbidden") end
        requests = requests + 1
        -- a shared user asking for an unshared section or its items: 401, as Plex
        local sec = o.section and o.section(req)
        if sec ~= nil and not sees(who, sec) then return html_error(res, 401, "Unauthorized") end
      end
      return fn(req, res, who)
    end)
  end
  local READ, WRITE, OPEN = {}, { write = true }, { open = true }
  local function by_section(req) return req.params.id end
  local function by_item(req) return get_lib():section_of(req.params.rk) end
  local function by_collection(req) return get_lib():section_of(req.params.id) end
  local function by_transcode(req)
    local url = req:query_params().url or ""
    local rk = url:match("^/library/metadata/(%d+)/") or url:match("^/library/collections/(%d+)/")
    return rk and get_lib():section_of(rk)
  end
  local SECTION_READ, SECTION_WRITE = { section = by_section }, { write = true, section = by_section }
  local ITEM_READ = { section = by_item }
  local COLLECTION_READ, COLLECTION_WRITE = { section = by_collection }, { write = true, section = by_collection }

  route("get", "/identity", OPEN, function(req, res)
    return container(req, res, { size = 0, claimed = true, machineIdentifier = MACHINE_ID, version = VERSION })
  end)

  route("get", "/", READ, function(req, res)
    return container(req, res, { size = 0, friendlyName = "Demo Plex Server", machineIdentifier = MACHINE_ID,
      version = VERSION, platform = "Linux", platformVersion = "12", myPlex = true, allowSync = true,
      transcoderPhoto = true, multiuser = true })
  end)

  route("get", "/library/sections", READ, function(req, res, who)
    local dirs = {}
    for _, s in ipairs(get_lib().sections) do
      if sees(who, s.key) then dirs[#dirs + 1] = section_dir(s) end
    end
    return container(req, res, { size = #dirs, allowSync = false, title1 = "Plex Library", Directory = dirs })
  end)

  local function list_section(req, res, key, recent)
    local L = get_lib()
    local sec = L:section(key)
    if not sec then return html_error(res, 404, "Not Found") end
    local start, size = paging(req)
    if not start then return html_error(res, 400, "Bad Request") end
    local q = req:query_params()
    local type_num = q.type and q.type ~= "" and math.tointeger(tonumber(q.type)) or nil
    if q.type and q.type ~= "" and not type_num then return html_error(res, 400, "Bad Request") end
    local items, total
    if recent then
      items = L:recently_added({ key }, start, size or 50)
      total = #items
    else
      if size == 0 then
        total = L:entries(key, type_num)
        items = {}
      else
        items, total = L:list(key, { type = type_num, sort = q.sort, start = start, size = size })
      end
    end
    local mc = { size = #items, totalSize = total, offset = start, librarySectionID = tonumber(key),
                 librarySectionTitle = sec.title, librarySectionUUID = sec.uuid, allowSync = true,
                 identifier = "com.plexapp.plugins.library", mediaTagPrefix = "/system/bundle/media/flags/",
                 mediaTagVersion = 1700000000, title1 = sec.title,
                 title2 = recent and "Recently Added" or "All " .. sec.title,
                 viewGroup = (type_num == 3 and "season") or (type_num == 4 and "episode") or sec.type }
    if size ~= 0 then mc.Metadata = json.array(items) end
    return container(req, res, mc)
  end

  route("get", "/library/sections/{id}/all", SECTION_READ, function(req, res)
    return list_section(req, res, req.params.id, false)
  end)
  route("get", "/library/sections/{id}/recentlyAdded", SECTION_READ, function(req, res)
    return list_section(req, res, req.params.id, true)
  end)

  route("get", "/library/recentlyAdded", READ, function(req, res, who)
    local start, size = paging(req)
    if not start then return html_error(res, 400, "Bad Request") end
    local L = get_lib()
    local keys = {}
    for _, s in ipairs(L.sections) do
      if sees(who, s.key) then keys[#keys + 1] = s.key end
    end
    local items = L:recently_added(keys, start, size or 50)
    return container(req, res, { size = #items, offset = start, allowSync = false,
      identifier = "com.plexapp.plugins.library", mixedParents = true, title1 = "Recently Added",
      Metadata = json.array(items) })
  end)

  route("get", "/hubs/search", READ, function(req, res, who)
    local q = req:query_params()
    if not q.query or q.query == "" then return html_error(res, 400, "Bad Request") end
    local limit = math.tointeger(tonumber(q.limit or "")) or 10
    if limit < 1 then limit = 1 elseif limit > 100 then limit = 100 end
    local sid = q.sectionId ~= "" and q.sectionId or nil
    local hubs = get_lib():search(q.query, limit, sid, visible_set(who))
    for _, hb in ipairs(hubs) do hb.Metadata = hb.size > 0 and hb.Metadata or nil end
    return container(req, res, { size = #hubs, Hub = hubs })
  end)

  route("get", "/library/metadata/{rk}", ITEM_READ, function(req, res)
    local m = get_lib():get(req.params.rk)
    if not m then return html_error(res, 404, "Not Found") end
    return container(req, res, { size = 1, allowSync = true, identifier = "com.plexapp.plugins.library",
      librarySectionID = m.librarySectionID, librarySectionTitle = m.librarySectionTitle, Metadata = { m } })
  end)

  route("get", "/library/metadata/{rk}/children", ITEM_READ, function(req, res)
    local items, kind = get_lib():children(req.params.rk)
    if not items then return html_error(res, 404, "Not Found") end
    local start, size = paging(req)
    if not start then return html_error(res, 400, "Bad Request") end
    local total = #items
    local page = {}
    for i = start + 1, math.min(total, start + (size or total)) do page[#page + 1] = items[i] end
    local parent = get_lib():get(req.params.rk)
    return container(req, res, { size = #page, totalSize = total, offset = start, allowSync = true,
      key = req.params.rk, parentTitle = parent.parentTitle, title1 = parent.title,
      viewGroup = kind == "show" and "season" or kind == "season" and "episode" or nil,
      librarySectionID = parent.librarySectionID, Metadata = json.array(page) })
  end)

  local function send_image(res, rk, what, w, h)
    local L = get_lib()
    if not L:kind(rk) then return html_error(res, 404, "Not Found") end
    local cache = require "nest.core.cache"
    local key = ("demo-plex:img:%d:%s:%s:%dx%d"):format(settings.seed, rk, what, w, h)
    local png = cache.get(key)
    if not png then
      png = image.draw(math.tointeger(tonumber(rk)) * 2 + (what == "art" and 1 or 0) + settings.seed,
        w, h, { bar = what ~= "art" })
      cache.set(key, png, settings.image_cache_ttl, { "demo-plex:img" })
    end
    transcodes = transcodes + 1
    res:header("cache-control", "public, max-age=3600")
    return res:send(png, 200, "image/png")
  end

  for _, what in ipairs({ "thumb", "art" }) do
    route("get", "/library/metadata/{rk}/" .. what .. "/{ts}", ITEM_READ, function(req, res)
      if what == "art" then return send_image(res, req.params.rk, what, 640, 360) end
      return send_image(res, req.params.rk, what, 300, 450)
    end)
  end

  route("get", "/photo/:/transcode", { section = by_transcode }, function(req, res)
    local q = req:query_params()
    local url = q.url or ""
    local rk, what = url:match("^/library/metadata/(%d+)/(%a+)")
    if not rk then rk, what = url:match("^/library/collections/(%d+)/(%a+)") end
    if not rk then return html_error(res, 404, "Not Found") end
    local dw, dh = 300, 450
    if what == "art" then dw, dh = 640, 360 end
    local w = q.width and image.clamp_side(q.width, dw)
    local h = q.height and image.clamp_side(q.height, dh)
    if w and not h then h = math.max(1, w * dh // dw) end
    if h and not w then w = math.max(1, h * dw // dh) end
    w, h = w or dw, h or dh
    return send_image(res, rk, what == "art" and "art" or "thumb", w, h)
  end)

  -- collections
  route("get", "/library/sections/{id}/collections", SECTION_READ, function(req, res)
    local L = get_lib()
    local sec = L:section(req.params.id)
    if not sec then return html_error(res, 404, "Not Found") end
    local cols = L:section_collections(sec.key)
    return container(req, res, { size = #cols, totalSize = #cols, offset = 0, librarySectionID = tonumber(sec.key),
      librarySectionTitle = sec.title, title1 = sec.title, title2 = "Collections", viewGroup = "secondary",
      Metadata = json.array(cols) })
  end)

  route("post", "/library/collections", WRITE, function(req, res)
    local L = get_lib()
    local q = req:query_params()
    local sec = L:section(q.sectionId or "")
    if not sec or not q.title or q.title == "" then return html_error(res, 400, "Bad Request") end
    local rks, why = uri_items(req)
    if not rks then
      res:header("x-demo-error", why)
      return html_error(res, 400, "Bad Request")
    end
    local t, terr = L:items_type(rks, sec.key)
    local want = tonumber(q.type or "")
    if not t or (want and library.TYPE_NUM[t] ~= want) then
      res:header("x-demo-error", terr or "type does not match the items")
      return html_error(res, 400, "Bad Request")
    end
    local crk = L:create_collection(sec.key, q.title, rks)
    return container(req, res, { size = 1, Metadata = { L:collection_meta(crk) } })
  end)

  route("put", "/library/collections/{id}/items", COLLECTION_WRITE, function(req, res)
    local L = get_lib()
    local crk = math.tointeger(tonumber(req.params.id))
    local col = crk and L.collections[crk]
    if not col then return html_error(res, 404, "Not Found") end
    local rks, why = uri_items(req)
    if not rks then
      res:header("x-demo-error", why)
      return html_error(res, 400, "Bad Request")
    end
    local t, terr = L:items_type(rks, col.section)
    if not t or t ~= col.subtype then
      res:header("x-demo-error", terr or "items of another type than the collection's")
      return html_error(res, 400, "Bad Request")
    end
    L:add_to_collection(crk, rks)
    return container(req, res, { size = 1, Metadata = { L:collection_meta(crk) } })
  end)

  route("get", "/library/collections/{id}/children", COLLECTION_READ, function(req, res)
    local L = get_lib()
    local crk = math.tointeger(tonumber(req.params.id))
    if not (crk and L.collections[crk]) then return html_error(res, 404, "Not Found") end
    local items = L:children(crk)
    local start, size = paging(req)
    if not start then return html_error(res, 400, "Bad Request") end
    local page = {}
    for i = start + 1, math.min(#items, start + (size or #items)) do page[#page + 1] = items[i] end
    return container(req, res, { size = #page, totalSize = #items, offset = start,
      title1 = L.collections[crk].title, Metadata = json.array(page) })
  end)

  -- as Plex: POST /library/metadata/{rk}/posters?url= sets an item's or a
  -- collection's poster from a URL (Plex fetches it; the fake only records it)
  route("post", "/library/metadata/{rk}/posters", { write = true, section = by_item }, function(req, res)
    local L = get_lib()
    local crk = math.tointeger(tonumber(req.params.rk))
    local url = req:query_params().url
    if not (crk and L.collections[crk]) then return html_error(res, 404, "Not Found") end
    if not url or not url:match("^https?://") then return html_error(res, 400, "Bad Request") end
    L.collections[crk].poster_url = url
    return res:send("", 200, "text/plain")
  end)

  -- as Plex: DELETE /library/collections/{id}/items/{ratingKey} takes one item out
  route("delete", "/library/collections/{id}/items/{rk}", COLLECTION_WRITE, function(req, res)
    local L = get_lib()
    local crk = math.tointeger(tonumber(req.params.id))
    local rk = math.tointeger(tonumber(req.params.rk))
    if not (crk and rk and L:remove_from_collection(crk, rk)) then return html_error(res, 404, "Not Found") end
    return container(req, res, { size = 1, Metadata = { L:collection_meta(crk) } })
  end)

  route("delete", "/library/collections/{id}", COLLECTION_WRITE, function(req, res)
    local crk = math.tointeger(tonumber(req.params.id))
    if not (crk and get_lib():delete_collection(crk)) then return html_error(res, 404, "Not Found") end
    return res:send("", 200, "text/plain")
  end)

  -- refresh (scan): GET or POST, optional path= and force=1; DELETE cancels
  local function refresh(req, res)
    local L = get_lib()
    local sec = L:section(req.params.id)
    if not sec then return html_error(res, 404, "Not Found") end
    local q = req:query_params()
    local path = q.path ~= "" and q.path or nil
    local force = q.force == "1"
    refresh_log[#refresh_log + 1] = { section = sec.key, method = req.method, path = path, force = force,
                                      event = "start" }
    sec.refreshing = true
    if scans[sec.key] then scans[sec.key]:cancel() end
    local key = sec.key
    scans[key] = timer.at(settings.scan_seconds, function(premature)
      if premature then return end
      scan(key, path, force)
    end)
    return res:send("", 200, "text/plain")
  end
  route("get", "/library/sections/{id}/refresh", SECTION_WRITE, refresh)
  route("post", "/library/sections/{id}/refresh", SECTION_WRITE, refresh)
  route("delete", "/library/sections/{id}/refresh", SECTION_WRITE, function(req, res)
    local L = get_lib()
    local sec = L:section(req.params.id)
    if not sec then return html_error(res, 404, "Not Found") end
    if scans[sec.key] then scans[sec.key]:cancel() scans[sec.key] = nil end
    sec.refreshing = false
    refresh_log[#refresh_log + 1] = { section = sec.key, method = "DELETE", event = "cancel" }
    return res:send("", 200, "text/plain")
  end)

  util.control_routes(r, PREFIX, control, {
    state = function(s)
      s.refreshes = json.array(refresh_log)
      s.transcodes = transcodes
      s.requests = requests
      local L = get_lib()
      s.sections = json.array()
      for _, sec in ipairs(L.sections) do
        s.sections[#s.sections + 1] = { key = sec.key, refreshing = sec.refreshing, scannedAt = sec.scannedAt }
      end
      s.scanned = #L.scanned
    end,
    apply = function(body)
      if body.reset then refresh_log = {}; transcodes = 0; requests = 0 end
      if body.reset_library then
        for k, h in pairs(scans) do h:cancel() scans[k] = nil end
        lib = nil
      end
      return true
    end,
  })
end

function M.init(_, conf)
  settings = settings or conf
end

function M.destroy()
  for k, h in pairs(scans) do pcall(h.cancel, h) scans[k] = nil end
end

return M
