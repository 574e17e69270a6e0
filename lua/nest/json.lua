-- nest/json.lua — JSON for the framework and plugins, over lua-cjson.
--
--   json.encode(v)        -> text; raises on a value JSON cannot hold (a
--                            function, a cycle, nesting deeper than MAX_DEPTH)
--   json.decode(text)     -> value | nil, err; never raises, whatever the input;
--                            refuses text that is not UTF-8 and strings that
--                            hold NUL (\u0000), see "Strings" below
--   json.null             JSON null: decode yields it, encode writes it
--   json.empty_array      a read-only empty table that encodes as []
--   json.array([t])       marks t (default: a new table) as an array, so that
--                         it encodes as [] even while empty; returns t
--   json.is_array(t)      true for tables marked by json.array or decoded from []
--
-- Debian's lua-cjson is 2.1.0: no empty_array/array_mt, and every number is a
-- double. This module adds, for a Lua walk over the value (about half of
-- cjson's own time):
--   * integers stay integers. decode gives 42, not 42.0, so tostring(id) and
--     cache keys stay sane; encode writes integers of any size exactly and
--     floats with 14 significant digits (99.9 -> 99.9, 0.1 + 0.2 -> 0.3).
--     JSON integers beyond 2^53 lose precision on decode (cjson parses doubles).
--   * [] survives a round trip: decode marks the tables of empty arrays
--     (metatable json.array_mt), encode writes [] for every marked table that
--     is empty, so an upstream's {"results":[]} passed through a plugin is
--     still {"results":[]}.
-- Strings: cjson 2.1.0 passes any bytes through and decodes \u0000 to a NUL
-- byte. Text that is not UTF-8 is not JSON (RFC 8259 8.1), and no text
-- column in PostgreSQL (nor any C string) takes a NUL, so a body with
-- either would otherwise reach a query and come back as a 500. decode
-- refuses both, so every route (req:json()), WebSocket message and
-- upstream answer is clean text once decoded.
-- Other settings: excessively sparse arrays ({[1000] = x}) encode as objects
-- instead of raising; NaN and infinities encode as null; decode rejects
-- NaN/Infinity/hex literals and nesting deeper than MAX_DEPTH. '/' is written
-- as "\/" (valid JSON; cjson 2.1.0 always escapes it).
local cjson = require "cjson"

local find, gsub, sub, format = string.find, string.gsub, string.sub, string.format
local concat = table.concat
local tointeger, mathtype = math.tointeger, math.type
local next, pcall, type, tostring, error = next, pcall, type, tostring, error
local rawset, rawget, rawlen = rawset, rawget, rawlen
local utf8_len = utf8.len
local setmetatable, getmetatable = setmetatable, getmetatable

local MAX_DEPTH = 128

local cj = cjson.new()
cj.encode_number_precision(14)
cj.encode_sparse_array(true, 2, 10)
cj.encode_invalid_numbers("null")
cj.decode_invalid_numbers(false)
cj.encode_max_depth(MAX_DEPTH)
cj.decode_max_depth(MAX_DEPTH)
cj.encode_keep_buffer(true)
local cj_encode, cj_decode = cj.encode, cj.decode

local json = { null = cj.null, MAX_DEPTH = MAX_DEPTH }

-- Placeholders smuggled through cjson and swapped back afterwards. They are
-- random per Lua state so that no input can forge them.
local function digits(n)
  local t = {}
  for i = 1, n do t[i] = math.random(0, 9) end
  return concat(t)
end
local EMPTY = "nest_json_empty_" .. digits(24)  -- an empty array's only element (encode)
local BIG = "nest_json_int_" .. digits(24)      -- prefix of a large integer's digits (encode)
local EMPTY_ENCODED = '%["' .. EMPTY .. '"%]'   -- how cjson writes {EMPTY}
local BIG_ENCODED = '"' .. BIG .. '(%-?%d+)"'
-- decode: [] becomes [MARK], a number no real document contains
local MARK_TEXT = "-1." .. digits(15) .. "1e-300"
local MARK = tonumber(MARK_TEXT)
local MARK_PATTERN = gsub(MARK_TEXT, "[%-%.]", "%%%0")

-- Marked arrays: the metatable, or (for a table that already had a
-- metatable of its own) membership of a weak set.
local array_mt = { __name = "nest.json.array" }
local empty_mt = {
  __name = "nest.json.empty_array",
  __newindex = function() error("nest.json.empty_array is read-only", 2) end,
}
local marked = setmetatable({}, { __mode = "k" })
json.array_mt = array_mt
json.empty_array = setmetatable({}, empty_mt)

function json.array(t)
  if t == nil then return setmetatable({}, array_mt) end
  if type(t) ~= "table" then error("nest.json.array: expected a table, got " .. type(t), 2) end
  if getmetatable(t) == nil then setmetatable(t, array_mt) else marked[t] = true end
  return t
end

local function is_array(t)
  local mt = getmetatable(t)
  return mt == array_mt or mt == empty_mt or (mt ~= nil and marked[t] == true)
end

function json.is_array(t)
  return type(t) == "table" and is_array(t)
end

-- encode -------------------------------------------------------------------

local BIG_MIN = 1e14  -- from here cjson's %.14g would print an exponent

-- Temporary patches for one encode call: rawset(ptab[i], pkey[i], pval[i])
-- undoes patch i. encode neither yields nor runs user code, so one buffer
-- per Lua state is enough.
local ptab, pkey, pval, npatch, nempty = {}, {}, {}, 0, 0

local function patch(t, k, old, new)
  npatch = npatch + 1
  ptab[npatch], pkey[npatch], pval[npatch] = t, k, old
  rawset(t, k, new)
end

-- Give every empty marked table an element cjson can see (so it writes an
-- array) and turn large integers into strings; both are swapped back in the
-- text afterwards.
local function prepare(t, depth)
  if depth > MAX_DEPTH then return false end  -- a cycle, or too deep: stop here
  for k, v in next, t do
    local tv = type(v)
    if tv == "table" then
      if next(v) == nil then
        if is_array(v) then
          nempty = nempty + 1
          patch(v, 1, nil, EMPTY)
        end
      elseif not prepare(v, depth + 1) then
        return false
      end
    elseif tv == "number" and mathtype(v) == "integer" and (v >= BIG_MIN or v <= -BIG_MIN) then
      patch(t, k, v, BIG .. format("%d", v))
    end
  end
  return true
end

local function encode_table(t)
  if not prepare(t, 1) then error(format("excessive nesting (deeper than %d)", MAX_DEPTH), 0) end
  return cj_encode(t)
end

local function undo()
  for i = npatch, 1, -1 do
    rawset(ptab[i], pkey[i], pval[i])
    ptab[i], pval[i], pkey[i] = nil, nil, nil
  end
  local n, e = npatch, nempty
  npatch, nempty = 0, 0
  return n, e
end

function json.encode(v)
  local tv = type(v)
  local ok, out
  if tv == "table" then
    if next(v) == nil and is_array(v) then return "[]" end
    ok, out = pcall(encode_table, v)
  elseif tv == "number" and mathtype(v) == "integer" then
    return format("%d", v)
  else
    ok, out = pcall(cj_encode, v)
  end
  local n, e = undo()
  if not ok then
    error("nest.json.encode: " .. gsub(tostring(out), "^[^:]*:%d+: ", ""), 2)
  end
  if n > 0 then
    if e > 0 then out = gsub(out, EMPTY_ENCODED, "[]") end
    if n > e then out = gsub(out, BIG_ENCODED, "%1") end
  end
  return out
end

-- decode -------------------------------------------------------------------

-- Compact text (what nearly every API sends): every "[]" becomes "[MARK]",
-- found with plain searches. A "[]" inside a string is rewritten too and put
-- back by restore_strings, which runs only when fewer MARKs were found in
-- the tree than were written.
local function mark_compact(s)
  local parts, np, last, n = {}, 0, 1, 0
  while true do
    local a = find(s, "[]", last, true)
    if not a then break end
    parts[np + 1], parts[np + 2] = sub(s, last, a), MARK_TEXT
    np, last, n = np + 2, a + 1, n + 1
  end
  parts[np + 1] = sub(s, last)
  return concat(parts), n
end

-- Text with whitespace after a '[' (pretty-printed): "[ ]" inside a string
-- cannot be put back exactly, so only the brackets outside strings are
-- rewritten. A bracket is inside a string when an odd number of quotes
-- precede it, once escapes are blanked out ("\x" -> "__", same length).
local function mark_spaced(s)
  local plain = find(s, "\\", 1, true) and gsub(s, "\\.", "__") or s
  local parts, np, n = {}, 0, 0
  local last, counted, quotes, from = 1, 1, 0, 1
  while true do
    local a, e = find(plain, "%[[ \t\r\n]*%]", from)
    if not a then break end
    local _, q = gsub(sub(plain, counted, a - 1), '"', "")
    quotes, counted = quotes + q, a
    if quotes % 2 == 0 then
      parts[np + 1], parts[np + 2] = sub(s, last, a), MARK_TEXT .. "]"
      np, last, n = np + 2, e + 1, n + 1
    end
    from = e + 1
  end
  parts[np + 1] = sub(s, last)
  return concat(parts), n
end

local found = 0  -- MARKs turned back into empty arrays by the current fix()

local function is_mark(t)
  return rawget(t, 1) == MARK and rawlen(t) == 1 and next(t, 1) == nil
end

local function make_empty(t)
  rawset(t, 1, nil)
  setmetatable(t, array_mt)
  found = found + 1
end

-- cjson yields every number as a float: make integral ones integers, and
-- turn [MARK] tables back into (marked) empty arrays.
local function fix(t, marks)
  for k, v in next, t do
    local tv = type(v)
    if tv == "number" then
      local i = tointeger(v)
      if i then t[k] = i end
    elseif tv == "table" then
      if marks and is_mark(v) then make_empty(v) else fix(v, marks) end
    end
  end
end

-- Put "[]" back in strings (values and keys) that contained it.
local function restore_strings(t)
  local rekey
  for k, v in next, t do
    if type(v) == "string" and find(v, MARK_TEXT, 1, true) then
      t[k] = gsub(v, MARK_PATTERN, "")
    elseif type(v) == "table" then
      restore_strings(v)
    end
    if type(k) == "string" and find(k, MARK_TEXT, 1, true) then
      rekey = rekey or {}
      rekey[#rekey + 1] = k
    end
  end
  for _, k in ipairs(rekey or {}) do
    t[gsub(k, MARK_PATTERN, "")], t[k] = t[k], nil
  end
end

local function has_spaced_bracket(s)
  return find(s, "[ ", 1, true) or find(s, "[\n", 1, true) or find(s, "[\r", 1, true)
    or find(s, "[\t", 1, true)
end

-- A NUL in any key or string of v (decode has made sure it holds one).
local function has_nul(v)
  if type(v) == "string" then return find(v, "\0", 1, true) ~= nil end
  if type(v) ~= "table" then return false end
  for k, x in next, v do
    if has_nul(k) or has_nul(x) then return true end
  end
  return false
end

function json.decode(s)
  if type(s) ~= "string" then
    return nil, "nest.json.decode: expected a string, got " .. type(s)
  end
  if not utf8_len(s) then return nil, "invalid JSON: the text is not valid UTF-8" end
  local src, marks = s, 0
  if has_spaced_bracket(s) then
    src, marks = mark_spaced(s)
  elseif find(s, "[]", 1, true) then
    src, marks = mark_compact(s)
  end
  local ok, v = pcall(cj_decode, src)
  if not ok then
    -- Report positions in the caller's text, not in the rewritten one.
    if marks > 0 then ok, v = pcall(cj_decode, s) end
    return nil, "invalid JSON: " .. (ok and "bad input" or tostring(v))
  end
  local tv = type(v)
  if tv == "table" then
    found = 0
    if marks > 0 and is_mark(v) then make_empty(v) else fix(v, marks > 0) end
    if found < marks then restore_strings(v) end
  elseif tv == "number" then
    v = tointeger(v) or v
  elseif tv == "string" and marks > 0 then
    v = gsub(v, MARK_PATTERN, "")
  end
  if (find(s, "\\u0000", 1, true) or find(s, "\0", 1, true)) and has_nul(v) then
    return nil, "invalid JSON: strings may not contain NUL (\\u0000)"
  end
  return v
end

return json
