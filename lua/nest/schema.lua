-- nest/schema.lua — validates a value against a schema and fills defaults.
--
-- A schema is a field spec: { type = "string"|"number"|"integer"|"boolean"|
-- "table"|"array"|"any", required, default, min, max (numbers: value;
-- strings and arrays: length), one_of = {...}, pattern (Lua pattern),
-- fields = { name = spec } (tables; unknown keys are refused), items = spec
-- (arrays) }. validate(spec, value) -> value (with defaults) | nil, "path: why".
local M = {}

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

local function typeof(v)
  local t = type(v)
  if t == "number" and math.type(v) == "integer" then return "integer" end
  if t == "table" then return (next(v) == nil or v[1] ~= nil) and "array" or "table" end
  return t
end

local function fits(want, v)
  local got = typeof(v)
  if want == "any" or want == got then return true end
  if want == "number" and got == "integer" then return true end
  if want == "table" and got == "array" and next(v) == nil then return true end
  if want == "array" and got == "table" and next(v) == nil then return true end
  return false
end

local check

local function check_table(spec, v, path)
  for k in pairs(v) do
    if not spec.fields[k] then return nil, path .. (path == "" and "" or ".") .. tostring(k) .. ": unknown field" end
  end
  for k, fspec in pairs(spec.fields) do
    local sub, err = check(fspec, v[k], path == "" and k or (path .. "." .. k))
    if err then return nil, err end
    v[k] = sub
  end
  return v
end

check = function(spec, v, path)
  if v == nil then
    if spec.default ~= nil then v = copy(spec.default)
    elseif spec.required then return nil, path .. ": is required"
    elseif spec.fields then v = {}
    else return nil end
  end
  local want = spec.type or (spec.fields and "table") or "any"
  if not fits(want, v) then
    return nil, ("%s: expected %s, got %s"):format(path, want, typeof(v))
  end
  local n = (type(v) == "string" or want == "array") and #v or (type(v) == "number" and v) or nil
  if n and spec.min and n < spec.min then return nil, ("%s: must be at least %s"):format(path, spec.min) end
  if n and spec.max and n > spec.max then return nil, ("%s: must be at most %s"):format(path, spec.max) end
  if spec.pattern and type(v) == "string" and not v:match(spec.pattern) then
    return nil, path .. ": has an invalid format"
  end
  if spec.one_of then
    local found = false
    for _, o in ipairs(spec.one_of) do if o == v then found = true break end end
    if not found then return nil, path .. ": must be one of " .. table.concat(spec.one_of, ", ") end
  end
  if spec.fields and type(v) == "table" then return check_table(spec, v, path) end
  if spec.items and type(v) == "table" then
    for i, x in ipairs(v) do
      local sub, err = check(spec.items, x, path .. "[" .. i .. "]")
      if err then return nil, err end
      v[i] = sub
    end
  end
  return v
end

function M.validate(spec, value, name)
  local v, err = check(spec, copy(value), name or "")
  if err then return nil, err end
  return v
end

return M
