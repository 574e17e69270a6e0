-- nest/invalidate.lua — invalidation maps declared by plugins (docs/architecture.md#cache).
--
--   plugin.invalidations = {
--     media_request_created = { "user:{userId}:requests", "stats:requests:*" },
--   }
--
--   invalidate.register(plugin_name, map)   -- validates and records a map
--   invalidate.load(plugins_list)           -- register every loaded plugin's map
--                                              ({name, plugin, config} entries)
--   invalidate.start()                      -- listen for other instances' events
--   invalidate.emit(event, fields) -> {keys = {...}, patterns = {...}}
--   invalidate.resolve(event, fields) -> keys, patterns   (no side effect)
--
-- emit substitutes {placeholders} from fields (a missing field raises: a
-- silent wildcard would drop far too much, or nothing), deletes exact keys
-- from L1 and L2, deletes patterns (a key with *, ?, [) from L1 by glob and
-- from L2 by SCAN + DEL (never KEYS), then publishes the resolved keys on
-- the Redis channel invalidate.CHANNEL so every other instance drops them
-- from its own L1. Messages carry an instance id so an instance ignores its
-- own. Substituted values are glob-escaped inside patterns.
--
-- Wiring (the lead, in lua/nest/server.lua after the plugins are loaded):
--   local invalidate = require "nest.invalidate"
--   invalidate.load(loaded)      -- loaded = plugins.load(cfg)
--   invalidate.start()           -- once per generation; ends when it retires
-- Both are idempotent, so a plugin may call them from its init meanwhile.
local cache = require "nest.cache"
local l1 = require "nest.core.cache"
local redis = require "nest.redis"
local json = require "nest.json"
local log = require "nest.log"

local invalidate = { CHANNEL = "medianest:invalidate" }

local maps = {}           -- plugin name -> map (this generation's)
local subscription        -- this generation's, once started

-- One id per app (kept in its L1, which outlives generations).
local ID_KEY = "__nest:instance_id"
function invalidate.instance_id()
  local id = l1.get(ID_KEY)
  if id then return id end
  id = ("%08x%08x"):format(math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  l1.add(ID_KEY, id, 0)
  return l1.get(ID_KEY) or id
end

function invalidate.register(name, map)
  assert(type(name) == "string", "invalidate.register: plugin name must be a string")
  assert(type(map) == "table", "invalidate.register: map must be a table")
  for ev, list in pairs(map) do
    if type(ev) ~= "string" or type(list) ~= "table" then
      error(("plugin %s: invalidations must map event names to lists of keys"):format(name), 2)
    end
    for _, k in ipairs(list) do
      if type(k) ~= "string" or k == "" then
        error(("plugin %s: invalidations.%s: keys must be non-empty strings"):format(name, ev), 2)
      end
    end
  end
  maps[name] = map
end

function invalidate.load(list)
  for _, entry in ipairs(list or {}) do
    local inv = entry.plugin and entry.plugin.invalidations
    if inv then invalidate.register(entry.name or entry.plugin.name, inv) end
  end
end

local function is_pattern(k) return k:find("[%*%?%[]") ~= nil end
local function glob_escape(s) return (s:gsub("[%*%?%[%]\\]", "\\%0")) end

local function substitute(template, fields, ev)
  local pattern = is_pattern(template)
  return (template:gsub("{([%w_]+)}", function(name)
    local v = fields and fields[name]
    if v == nil then
      error(("invalidate: event '%s' key '%s' needs field '%s'"):format(ev, template, name), 0)
    end
    v = tostring(v)
    return pattern and glob_escape(v) or v
  end)), pattern
end

function invalidate.resolve(ev, fields)
  local keys, patterns, seen = {}, {}, {}
  local names = {}
  for name in pairs(maps) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    for _, template in ipairs(maps[name][ev] or {}) do
      local k, pattern = substitute(template, fields, ev)
      if not seen[k] then
        seen[k] = true
        if pattern then patterns[#patterns + 1] = k else keys[#keys + 1] = k end
      end
    end
  end
  return keys, patterns
end

local function apply_local(keys, patterns)
  for _, k in ipairs(keys) do l1.delete(k) end
  for _, p in ipairs(patterns) do l1.delete_pattern(p) end
end

function invalidate.emit(ev, fields)
  local ok, keys, patterns = pcall(invalidate.resolve, ev, fields)
  if not ok then error(keys, 2) end
  if #keys == 0 and #patterns == 0 then return { keys = keys, patterns = patterns } end
  apply_local(keys, patterns)
  if redis.configured() and redis.available() then
    if #keys > 0 then
      local del = { "DEL" }
      for _, k in ipairs(keys) do del[#del + 1] = cache.PREFIX .. k end
      redis.call(table.unpack(del))
    end
    for _, p in ipairs(patterns) do
      local _, err = cache.l2_delete_pattern(p)
      if err then log.warn("invalidate: L2 pattern delete failed", { pattern = p, err = err }) end
    end
    redis.call("PUBLISH", invalidate.CHANNEL, json.encode({
      origin = invalidate.instance_id(), event = ev,
      keys = json.array(keys), patterns = json.array(patterns),
    }))
  end
  return { keys = keys, patterns = patterns }
end

local function on_message(_, msg)
  local m = json.decode(msg)
  if type(m) ~= "table" or m.origin == invalidate.instance_id() then return end
  apply_local(type(m.keys) == "table" and m.keys or {}, type(m.patterns) == "table" and m.patterns or {})
end

-- Subscribe once per generation; -> true | nil, err ("not configured" when
-- there is no Redis: then invalidation is local only, which is right for
-- a single instance).
function invalidate.start()
  if subscription then return true end
  local s, err = redis.subscribe(invalidate.CHANNEL, on_message)
  if not s then return nil, err end
  subscription = s
  return true
end

function invalidate.stop()
  if subscription then subscription.unsubscribe(); subscription = nil end
end

return invalidate
