-- nest/log.lua — structured logs: one JSON object per line on stderr.
--
--   log.debug(msg[, fields]) / log.info / log.warn / log.error
--       {"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"...",
--        "requestId":"...", <fields>}
--   log.set_level(name) / log.get_level() / log.enabled(name)
--       records below the threshold (default "info") cost one comparison
--   log.set_context(ctx) / log.get_context()
--       fields added to every record logged from the current coroutine (each
--       request runs in its own): a table, or a string taken as the requestId;
--       nil clears. The caller's own fields win over the context's.
--   log.with(fields) -> a logger with the same four functions that adds fields
--   log.set_writer(fn) — fn(line) receives each line without its newline
--       (specs capture records this way); nil restores stderr
--   log.set_clock(fn) — fn() -> seconds since the epoch, with a fraction
--
-- Logging never raises because of its fields: values JSON cannot hold
-- (functions, userdata, cycles, tables nested deeper than 8) are written as
-- text. Any field whose name contains token, password, passwd, secret,
-- apikey/api_key, authorization or cookie (any case, at any depth) is
-- written as "[redacted]".
-- Each record is written with a single write to unbuffered stderr, so lines
-- from concurrent writers do not interleave.
local json = require "nest.json"
local cjson = require "cjson"

local type, pairs, next, tostring, getmetatable, pcall, rawequal =
  type, pairs, next, tostring, getmetatable, pcall, rawequal
local format, lower, gsub, find, floor = string.format, string.lower, string.gsub,
  string.find, math.floor
local concat = table.concat
local running = coroutine.running
local mathtype = math.type

local log = {}

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40 }
local threshold = LEVELS.info
local MAX_DEPTH = 8
local REDACTED = "[redacted]"
local RESERVED = { time = true, level = true, msg = true, requestId = true }

-- One cjson instance for scalars: strings are escaped in C, fast.
local cj = cjson.new()
cj.encode_invalid_numbers("null")
cj.encode_number_precision(14)
local encode_scalar = cj.encode
local null = json.null

-- clock --------------------------------------------------------------------

-- Millisecond wall time comes from the runtime (nest.core.app.now); plain
-- Lua, outside it, only has whole seconds.
local default_clock = os.time
do
  local ok, app = pcall(require, "nest.core.app")
  if ok and type(app) == "table" and type(app.now) == "function" then default_clock = app.now end
end
local clock = default_clock

function log.set_clock(fn)
  clock = fn or default_clock
end

local last_sec, last_prefix = -1, ""

local function timestamp()
  local ms = floor(clock() * 1000 + 0.5)
  local sec = ms // 1000
  if sec ~= last_sec then
    last_sec, last_prefix = sec, os.date("!%Y-%m-%dT%H:%M:%S", sec)
  end
  return format("%s.%03dZ", last_prefix, ms % 1000)
end

-- writer -------------------------------------------------------------------

local stderr = io.stderr
local function default_writer(line)
  stderr:write(line .. "\n")
end
local writer = default_writer

function log.set_writer(fn)
  writer = fn or default_writer
end

-- levels -------------------------------------------------------------------

function log.set_level(name)
  local n = type(name) == "string" and LEVELS[lower(name)]
  if not n then
    error("nest.log.set_level: unknown level " .. tostring(name)
      .. " (debug, info, warn, error)", 2)
  end
  threshold = n
end

function log.get_level()
  for name, n in pairs(LEVELS) do
    if n == threshold then return name end
  end
end

function log.enabled(name)
  local n = LEVELS[name]
  return n ~= nil and n >= threshold
end

-- context ------------------------------------------------------------------

local contexts = setmetatable({}, { __mode = "k" })  -- coroutine -> fields

function log.set_context(ctx)
  local co = running()
  if ctx == nil then
    contexts[co] = nil
  elseif type(ctx) == "table" then
    local copy = {}
    for k, v in pairs(ctx) do copy[k] = v end
    contexts[co] = copy
  else
    contexts[co] = { requestId = tostring(ctx) }
  end
end

function log.get_context()
  return contexts[running()]
end

-- secrets ------------------------------------------------------------------

local SECRET_WORDS = { "token", "password", "passwd", "secret", "apikey", "authorization",
                       "cookie" }
local secret_memo, memo_size = {}, 0

local function is_secret(key)
  local hit = secret_memo[key]
  if hit ~= nil then return hit end
  local k = gsub(lower(key), "[_%-]", "")
  hit = false
  for i = 1, #SECRET_WORDS do
    if find(k, SECRET_WORDS[i], 1, true) then hit = true break end
  end
  if memo_size > 1000 then secret_memo, memo_size = {}, 0 end
  secret_memo[key], memo_size = hit, memo_size + 1
  return hit
end

-- encoding -----------------------------------------------------------------

-- A copy of a table value that JSON can hold: secrets redacted, keys made
-- strings, everything else JSON cannot hold turned into text.
local function sanitize(v, depth, seen)
  local tv = type(v)
  if tv == "string" or tv == "boolean" or tv == "number" or rawequal(v, null) then return v end
  if tv ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "[cycle]" end
  if depth > MAX_DEPTH then return "[too deep]" end
  seen[v] = true
  local out = json.is_array(v) and json.array() or {}
  for k, x in next, v do
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" then k = tostring(k) end
    if type(k) == "string" and is_secret(k) then
      out[k] = REDACTED
    else
      out[k] = sanitize(x, depth + 1, seen)
    end
  end
  seen[v] = nil
  return out
end

local function encode_value(v)
  local tv = type(v)
  if tv == "string" then return encode_scalar(v) end
  if tv == "number" then
    if mathtype(v) == "integer" then return format("%d", v) end
    return encode_scalar(v)
  end
  if tv == "boolean" then return v and "true" or "false" end
  if rawequal(v, null) then return "null" end
  if tv == "table" then
    local ok, s = pcall(json.encode, sanitize(v, 1, {}))
    if ok then return s end
  end
  return encode_scalar(tostring(v))
end

-- ',"key":' for each field name seen, and whether its value is a secret;
-- bounded, so dynamic keys cannot grow it without limit.
local key_prefix, key_secret, keys_cached = {}, {}, 0

local function append_field(parts, n, k, v)
  local prefix = key_prefix[k]
  if not prefix then
    local name = type(k) == "string" and k or tostring(k)
    if RESERVED[name] then name = "field_" .. name end
    prefix = "," .. encode_scalar(name) .. ":"
    if keys_cached >= 1000 then key_prefix, key_secret, keys_cached = {}, {}, 0 end
    key_prefix[k], key_secret[k], keys_cached = prefix, is_secret(name), keys_cached + 1
  end
  parts[n + 1] = prefix
  parts[n + 2] = key_secret[k] and '"[redacted]"' or encode_value(v)
  return n + 2
end

local function emit(level, msg, fields, bound)
  if type(msg) ~= "string" then msg = tostring(msg) end
  if fields ~= nil and type(fields) ~= "table" then fields = { data = fields } end
  local ctx = contexts[running()]
  local rid = fields and fields.requestId
  if rid == nil and bound then rid = bound.requestId end
  if rid == nil and ctx then rid = ctx.requestId end

  local parts = { '{"time":"', timestamp(), '","level":"', level, '","msg":', encode_scalar(msg) }
  local n = 6
  if rid ~= nil then
    parts[7], parts[8] = ',"requestId":', encode_value(rid)
    n = 8
  end
  if ctx then
    for k, v in next, ctx do
      if k ~= "requestId" and not (fields and fields[k] ~= nil) and not (bound and bound[k] ~= nil) then
        n = append_field(parts, n, k, v)
      end
    end
  end
  if bound then
    for k, v in next, bound do
      if k ~= "requestId" and not (fields and fields[k] ~= nil) then
        n = append_field(parts, n, k, v)
      end
    end
  end
  if fields then
    for k, v in next, fields do
      if k ~= "requestId" then n = append_field(parts, n, k, v) end
    end
  end
  parts[n + 1] = "}"
  writer(concat(parts))
end

for name, n in pairs(LEVELS) do
  log[name] = function(msg, fields)
    if n < threshold then return end
    emit(name, msg, fields)
  end
end

--- log.with(fields) -> a logger: logger.info(msg[, fields]) etc. add fields
-- to every record (e.g. { plugin = "requests" }).
function log.with(fields)
  local bound = {}
  for k, v in pairs(fields or {}) do bound[k] = v end
  local logger = {}
  for name, n in pairs(LEVELS) do
    logger[name] = function(msg, more)
      if n < threshold then return end
      emit(name, msg, more, bound)
    end
  end
  return logger
end

log.LEVELS = LEVELS

return log
