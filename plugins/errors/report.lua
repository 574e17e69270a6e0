-- plugins/errors/report.lua — one client error report, from the JSON body
-- of POST /errors to what is stored: checked (types, sizes, known fields),
-- scrubbed (no query strings, fragments, bearer tokens or key=value secrets
-- survive), and reduced to the fingerprint that groups repeats of the same
-- bug: sha256 of the message + the top stack frame.
local crypto = require "nest.crypto"

local M = {}

M.MAX_BODY = 16384

-- {name, max length (longer is cut: losing a report is worse than losing
-- its tail), required, number}, checked in this order
local FIELDS = {
  { "message", max = 2000, required = true },
  { "url", max = 2048, required = true },
  { "release", max = 64, required = true },
  { "stack", max = 16000 },
  { "line", number = true },
  { "column", number = true },
  { "userAgent", max = 512 },
}
local KNOWN = {}
for _, f in ipairs(FIELDS) do KNOWN[f[1]] = true end

local SECRET_WORDS = { "token", "key", "secret", "password", "passwd", "cookie", "session", "csrf", "auth" }

-- Cut s to n bytes on a UTF-8 boundary.
local function cut(s, n)
  if #s <= n then return s end
  local i = n
  while i > 0 and (s:byte(i + 1) or 0) & 0xC0 == 0x80 do i = i - 1 end
  return s:sub(1, i)
end

-- Remove what may identify a person or unlock an account: query strings and
-- fragments of URLs (tokens travel there: ?token=, #access_token=), bearer
-- tokens, and any word naming a secret written as word=value / "word": value.
-- Every pattern is linear in the input (a frontier or a fixed first
-- character, never a leading `.*` that backtracks), so a 16 KB report costs
-- microseconds, not seconds.
local function names_secret(word)
  local w = word:lower()
  for _, k in ipairs(SECRET_WORDS) do
    if w:find(k, 1, true) then return true end
  end
  return false
end

-- word=value / word: "value" where the word names a secret -> word=[scrubbed]
local function scrub_pairs(s)
  local out, last = {}, 1
  for at, word, after in s:gmatch("()([%w_%-]+)()") do
    if at >= last and names_secret(word) then
      local _, sep_end = s:find("^[\"']?%s*[=:]%s*[\"']?", after)
      local _, value_end = s:find("^[^%s\"'&,;)}]+", (sep_end or after) + 1)
      if sep_end and value_end then
        out[#out + 1] = s:sub(last, sep_end) .. "[scrubbed]"
        last = value_end + 1
      end
    end
  end
  out[#out + 1] = s:sub(last)
  return table.concat(out)
end

function M.scrub(s)
  s = s:gsub("([%w/._~%%%-])[?#][^%s\"'():]+", "%1")
  s = s:gsub("%f[%w]([Bb][Ee][Aa][Rr][Ee][Rr])%s+[%w%-._~+/=]+", "%1 [scrubbed]")
  return scrub_pairs(s)
end

-- The page a URL names: its path only ("/library/12"), "?" when it is not
-- a URL of ours.
function M.page(url)
  local path = url:match("^https?://[^/?#]+(/[^?#]*)") or url:match("^(/[^?#]*)")
  return path and cut(path, 200) or "?"
end

-- "Firefox 121", "Chrome 120", "Edge 120", "Safari 17", "other".
function M.browser(ua)
  if not ua then return "unknown" end
  for _, b in ipairs({ { "Edg/(%d+)", "Edge" }, { "OPR/(%d+)", "Opera" }, { "Firefox/(%d+)", "Firefox" },
                       { "HeadlessChrome/(%d+)", "Headless Chrome" }, { "Chrome/(%d+)", "Chrome" },
                       { "Version/(%d+)[%d.]* [%w ]*Safari/", "Safari" } }) do
    local v = ua:match(b[1])
    if v then return b[2] .. " " .. v end
  end
  return "other"
end

-- The first line of the stack that points into a file ("at f (app.js:1:2)",
-- "f@app.js:1:2"), without the function's own column noise; else url:line.
function M.top_frame(r)
  if r.stack then
    for l in r.stack:gmatch("[^\n]+") do
      local loc = l:match("([^%s()@]+:%d+:%d+)")
      if loc then return (loc:gsub("^https?://[^/]+", "")) end
    end
  end
  return ("%s:%s:%s"):format(M.page(r.url), r.line or "?", r.column or "?")
end

-- parse(doc, user_agent_header) -> report | nil, message, field
function M.parse(doc, ua_header)
  if type(doc) ~= "table" or doc[1] ~= nil then return nil, "The body must be a JSON object" end
  for k in pairs(doc) do
    if not KNOWN[k] then return nil, "Unknown field: " .. tostring(k), tostring(k) end
  end
  local r = {}
  for _, f in ipairs(FIELDS) do
    local name = f[1]
    local v = doc[name]
    if v == nil or v == require("nest.json").null then
      if f.required then return nil, name .. " is required", name end
    elseif f.number then
      if math.type(v) ~= "integer" or v < 0 or v > 10000000 then
        return nil, name .. " must be a whole number from 0", name
      end
      r[name] = v
    elseif type(v) ~= "string" then
      return nil, name .. " must be a string", name
    else
      v = cut(M.scrub(v), f.max)
      if f.required and v:match("^%s*$") then return nil, name .. " must not be empty", name end
      r[name] = v
    end
  end
  r.userAgent = r.userAgent or (ua_header and cut(ua_header, 512)) or nil
  r.url = cut(M.scrub(r.url), 2048)
  r.frame = M.top_frame(r)
  r.fingerprint = crypto.sha256_hex(r.message .. "\n" .. r.frame)
  return r
end

return M
