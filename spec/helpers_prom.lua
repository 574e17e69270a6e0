-- spec/helpers_prom.lua — a strict parser for the Prometheus text exposition
-- format 0.0.4, for specs that check /metrics.
--
--   local prom = require "spec.helpers_prom"
--   local m = prom.parse(body)      -- raises "line N: why" on a malformed line
--   m.families["http_requests_in_flight"]  -- {name, type, help, samples = {...}}
--   m.samples                               -- every sample, in order:
--                                           -- {name, labels = {k = v}, value, family}
--   prom.value(m, "process_open_fds")       -- the value of the one matching sample
--   prom.histogram(m, "http_request_duration_seconds", { route = "/health" })
--     -> { buckets = { {le = 0.005, count = n}, ..., {le = math.huge, count = n} },
--          sum = s, count = n }   (label filters match a subset of the labels)
--
-- What is checked: HELP/TYPE syntax (at most one of each per family, TYPE
-- before the family's samples, a known type), metric and label names, label
-- value escapes (\\ \" \n only), no duplicate label in a sample, no
-- duplicate sample, values (floats, NaN, +Inf, -Inf) and optional integer
-- timestamps, and that a histogram's _bucket/_sum/_count belong to it.
local M = {}

local NAME = "^[a-zA-Z_:][a-zA-Z0-9_:]*"
local LABEL = "^[a-zA-Z_][a-zA-Z0-9_]*"
local TYPES = { counter = true, gauge = true, histogram = true, summary = true, untyped = true }

local function parse_value(s)
  if s == "NaN" then return 0 / 0 end
  if s == "+Inf" or s == "Inf" then return math.huge end
  if s == "-Inf" then return -math.huge end
  if not s:match("^[+-]?%d*%.?%d*[eE]?[+-]?%d*$") or not s:match("%d") then return nil end
  return tonumber(s)
end

local function unescape_help(s, fail)
  return (s:gsub("\\(.?)", function(c)
    if c == "\\" then return "\\" end
    if c == "n" then return "\n" end
    fail("bad escape in HELP: \\" .. c)
  end))
end

-- Labels from position i (just after "{"): returns labels table, position
-- after "}".
local function parse_labels(line, i, fail)
  local labels = {}
  while true do
    if line:sub(i, i) == "}" then return labels, i + 1 end
    local name = line:match(LABEL, i)
    if not name then fail("bad label name at column " .. i) end
    i = i + #name
    if line:sub(i, i + 1) ~= '="' then fail("expected =\" after label " .. name) end
    i = i + 2
    local buf = {}
    while true do
      local c = line:sub(i, i)
      if c == "" then fail("unterminated label value for " .. name) end
      if c == '"' then i = i + 1 break end
      if c == "\\" then
        local e = line:sub(i + 1, i + 1)
        if e == "\\" then buf[#buf + 1] = "\\"
        elseif e == '"' then buf[#buf + 1] = '"'
        elseif e == "n" then buf[#buf + 1] = "\n"
        else fail("bad escape \\" .. e .. " in label " .. name) end
        i = i + 2
      else
        buf[#buf + 1] = c
        i = i + 1
      end
    end
    if labels[name] ~= nil then fail("duplicate label " .. name) end
    labels[name] = table.concat(buf)
    local c = line:sub(i, i)
    if c == "," then i = i + 1
    elseif c ~= "}" then fail("expected , or } after label " .. name) end
  end
end

-- The family a sample name belongs to, given the families typed so far.
local function family_of(families, name)
  local f = families[name]
  if f and f.type ~= "histogram" and f.type ~= "summary" then return f end
  for _, suffix in ipairs({ "_bucket", "_sum", "_count" }) do
    local base = name:sub(1, -#suffix - 1)
    if name:sub(-#suffix) == suffix and families[base] then
      local t = families[base].type
      if t == "histogram" or (t == "summary" and suffix ~= "_bucket") then return families[base] end
    end
  end
  if f and f.type == "summary" then return f end    -- quantile samples
  return nil
end

local function sample_key(name, labels)
  local keys = {}
  for k in pairs(labels) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = { name }
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. labels[k] end
  return table.concat(parts, "\0")
end

--- parse(text) -> { families = {name -> family}, samples = {...}, order = {names} }
function M.parse(text)
  assert(type(text) == "string", "prom.parse: text must be a string")
  local out = { families = {}, samples = {}, order = {} }
  local families, seen = out.families, {}
  local function family(name)
    local f = families[name]
    if not f then
      f = { name = name, samples = {} }
      families[name] = f
      out.order[#out.order + 1] = name
    end
    return f
  end
  if text ~= "" and text:sub(-1) ~= "\n" then error("the exposition must end with a newline", 2) end
  local n = 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    local function fail(why) error(("line %d: %s: %q"):format(n, why, line), 0) end
    if line:find("\r", 1, true) then fail("carriage return") end
    if line:match("^%s*$") then
      -- blank lines are allowed
    elseif line:sub(1, 1) == "#" then
      local kw, rest = line:match("^#%s+(%u+)%s+(.*)$")
      if kw == "HELP" then
        local name, doc = rest:match("^(%S+) ?(.*)$")
        if not name or not name:match(NAME .. "$") then fail("bad metric name in HELP") end
        local f = family(name)
        if f.help ~= nil then fail("second HELP for " .. name) end
        f.help = unescape_help(doc, fail)
      elseif kw == "TYPE" then
        local name, t = rest:match("^(%S+)%s+(%S+)%s*$")
        if not name or not name:match(NAME .. "$") then fail("bad TYPE line") end
        if not TYPES[t] then fail("unknown type " .. tostring(t)) end
        local f = family(name)
        if f.type then fail("second TYPE for " .. name) end
        if #f.samples > 0 then fail("TYPE after samples of " .. name) end
        f.type = t
      end
      -- any other comment is ignored, as the format says
    else
      local name = line:match(NAME)
      if not name then fail("bad metric name") end
      local i = #name + 1
      local labels = {}
      if line:sub(i, i) == "{" then labels, i = parse_labels(line, i + 1, fail) end
      local rest = line:sub(i)
      local v, ts = rest:match("^ +(%S+)$")
      if not v then v, ts = rest:match("^ +(%S+) +(%S+)$") end
      if not v then fail("expected ' value [timestamp]'") end
      local value = parse_value(v)
      if value == nil then fail("bad value " .. v) end
      if ts and not ts:match("^%-?%d+$") then fail("bad timestamp " .. ts) end
      local f = family_of(families, name)
      if not f then
        -- an untyped family of its own (legal in the format; checked by specs)
        f = family(name)
        if f.type == "histogram" or f.type == "summary" then fail("sample " .. name .. " without suffix") end
      end
      if name:sub(-7) == "_bucket" and f.type == "histogram" then
        if labels.le == nil then fail("bucket without le") end
        if parse_value(labels.le) == nil then fail("bad le " .. labels.le) end
      end
      local key = sample_key(name, labels)
      if seen[key] then fail("duplicate sample") end
      seen[key] = true
      local s = { name = name, labels = labels, value = value, family = f.name,
                  timestamp = ts and tonumber(ts) }
      f.samples[#f.samples + 1] = s
      out.samples[#out.samples + 1] = s
    end
  end
  return out
end

local function subset(filter, labels)
  for k, v in pairs(filter or {}) do
    if labels[k] ~= tostring(v) then return false end
  end
  return true
end

--- find(parsed, name, [labels]) -> list of samples named name whose labels include these
function M.find(parsed, name, labels)
  local found = {}
  for _, s in ipairs(parsed.samples) do
    if s.name == name and subset(labels, s.labels) then found[#found + 1] = s end
  end
  return found
end

--- value(parsed, name, [labels]) -> the value of the single matching sample,
-- or nil when none matches; raises when several do.
function M.value(parsed, name, labels)
  local found = M.find(parsed, name, labels)
  if #found > 1 then error(("prom.value: %d samples of %s match"):format(#found, name), 2) end
  return found[1] and found[1].value
end

--- histogram(parsed, name, [labels]) -> {buckets = {{le, count}...} sorted by le, sum, count}
-- for the one series matching labels (besides le); nil when there is none.
function M.histogram(parsed, name, labels)
  local buckets = {}
  local key
  for _, s in ipairs(M.find(parsed, name .. "_bucket", labels)) do
    local l = {}
    for k, v in pairs(s.labels) do if k ~= "le" then l[k] = v end end
    local k = sample_key("", l)
    if key and key ~= k then error("prom.histogram: several series of " .. name .. " match", 2) end
    key = k
    buckets[#buckets + 1] = { le = parse_value(s.labels.le), count = s.value }
  end
  if #buckets == 0 then return nil end
  table.sort(buckets, function(a, b) return a.le < b.le end)
  return { buckets = buckets, sum = M.value(parsed, name .. "_sum", labels),
           count = M.value(parsed, name .. "_count", labels) }
end

return M
