-- spec/helpers_ws.lua — a WebSocket client for specs, over nest.core.tcp.
--
--   local hw = require "spec.helpers_ws"
--   local c, res = hw.connect(app, "/ws?token=t", { headers = {...} })
--       c: the client after a 101; otherwise nil and the HTTP response
--          {status, headers (lower-case), body, json}
--   c:send(event, data)                  a JSON message in one text frame
--   c:send_frame(opcode, payload, {fin=true, mask=true, zero_mask=false, rsv=0})
--   c:recv_frame(timeout) -> {opcode, fin, payload} | nil, err   (raw)
--   c:recv(timeout) -> opcode, payload    one whole message; pings are
--          answered (unless c.auto_pong = false) and skipped; a close frame
--          is returned as opcode 8 with payload = its body
--   c:recv_event(timeout) -> {event, data}   the next text message, decoded
--   c:expect_close(timeout) -> code, reason  waits for the server's close
--          frame (skipping data) or the end of the connection (code nil)
--   c:close([code])                      close handshake, then drop
--   c.conn                               the tcp conn (:pause(), :resume())
local tcp = require "nest.core.tcp"
local crypto = require "nest.crypto"
local json = require "nest.json"

local hw = {}

local Client = {}
Client.__index = Client

local function b64(s)
  local t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return t:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
hw.b64 = b64

function hw.key() return b64(crypto.random(16)) end

local function fill(self, timeout)
  local data, err = self.conn:read(timeout or 5)
  if not data then return nil, err end
  self.buf = self.buf .. data
  return true
end

local function take(self, n, timeout)
  while #self.buf < n do
    local ok, err = fill(self, timeout)
    if not ok then return nil, err end
  end
  local out = self.buf:sub(1, n)
  self.buf = self.buf:sub(n + 1)
  return out
end

-- connect(app, path, {headers = {...}, key = ..., no_defaults = bool})
function hw.connect(app, path, opts)
  opts = opts or {}
  local conn = assert(tcp.connect(app.host, app.port, 5))
  local self = setmetatable({ conn = conn, buf = "", auto_pong = true }, Client)
  local hd = {}
  if not opts.no_defaults then
    hd["Upgrade"] = "websocket"
    hd["Connection"] = "Upgrade"
    hd["Sec-WebSocket-Version"] = "13"
    hd["Sec-WebSocket-Key"] = opts.key or hw.key()
  end
  for k, v in pairs(opts.headers or {}) do hd[k] = v end
  local lines = { ("GET %s HTTP/1.1"):format(path), ("Host: %s:%d"):format(app.host, app.port) }
  for k, v in pairs(hd) do
    if v ~= false then lines[#lines + 1] = k .. ": " .. v end
  end
  assert(conn:write(table.concat(lines, "\r\n") .. "\r\n\r\n"))
  -- read the response head
  local head
  while true do
    local i = self.buf:find("\r\n\r\n", 1, true)
    if i then
      head = self.buf:sub(1, i - 1)
      self.buf = self.buf:sub(i + 4)
      break
    end
    local ok, err = fill(self, 5)
    if not ok then error("ws connect: no response head: " .. tostring(err), 2) end
  end
  local status = tonumber(head:match("^HTTP/1%.1 (%d%d%d)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
  local res = { status = status, headers = headers }
  if status ~= 101 then
    local n = tonumber(headers["content-length"] or "0")
    res.body = take(self, n, 5) or ""
    res.json = json.decode(res.body)
    conn:close()
    return nil, res
  end
  self.headers = headers
  return self, res
end

-- One frame from a client: masked unless opts.mask == false.
function hw.frame(opcode, payload, opts)
  opts = opts or {}
  payload = payload or ""
  local fin = opts.fin == false and 0 or 0x80
  local b1 = fin | ((opts.rsv or 0) << 4) | opcode
  local mask = opts.mask ~= false
  local n = #payload
  local len
  local mbit = mask and 0x80 or 0
  if n < 126 then len = string.char(mbit | n)
  elseif n < 65536 then len = string.char(mbit | 126) .. string.pack(">I2", n)
  else len = string.char(mbit | 127) .. string.pack(">I8", n) end
  if not mask then return string.char(b1) .. len .. payload end
  if opts.zero_mask then return string.char(b1) .. len .. "\0\0\0\0" .. payload end
  local key = crypto.random(4)
  local k = { key:byte(1, 4) }
  local out, i = {}, 1
  while i <= n do
    local chunk = { payload:byte(i, math.min(i + 3999, n)) }
    for j = 1, #chunk do chunk[j] = chunk[j] ~ k[((i + j - 2) % 4) + 1] end
    out[#out + 1] = string.char(table.unpack(chunk))
    i = i + 4000
  end
  return string.char(b1) .. len .. key .. table.concat(out)
end

function Client:send_frame(opcode, payload, opts)
  return self.conn:write(hw.frame(opcode, payload, opts))
end

function Client:send_text(s, opts) return self:send_frame(1, s, opts) end

function Client:send(event, data)
  return self:send_text(json.encode({ event = event, data = data == nil and json.null or data }))
end

function Client:recv_frame(timeout)
  local h, err = take(self, 2, timeout)
  if not h then return nil, err end
  local b1, b2 = h:byte(1, 2)
  local n = b2 & 0x7f
  if n == 126 then
    local e = take(self, 2, timeout); if not e then return nil, "closed" end
    n = string.unpack(">I2", e)
  elseif n == 127 then
    local e = take(self, 8, timeout); if not e then return nil, "closed" end
    n = string.unpack(">I8", e)
  end
  local key
  if b2 & 0x80 ~= 0 then key = take(self, 4, timeout) end
  local payload = n > 0 and take(self, n, timeout) or ""
  if not payload then return nil, "closed" end
  return { fin = b1 & 0x80 ~= 0, opcode = b1 & 0x0f, payload = payload, masked = key ~= nil }
end

function Client:recv(timeout)
  local parts, op = {}, nil
  while true do
    local f, err = self:recv_frame(timeout)
    if not f then return nil, err end
    if f.opcode == 9 then
      if self.auto_pong then self:send_frame(10, f.payload) end
      self.pings = (self.pings or 0) + 1
    elseif f.opcode == 10 then
      -- unsolicited pong: ignore
    elseif f.opcode == 8 then
      return 8, f.payload
    else
      if f.opcode ~= 0 then op = f.opcode end
      parts[#parts + 1] = f.payload
      if f.fin then return op, table.concat(parts) end
    end
  end
end

function Client:recv_event(timeout)
  local op, payload = self:recv(timeout)
  if not op then return nil, payload end
  if op == 8 then return nil, "close", payload end
  return json.decode(payload)
end

function Client:expect_close(timeout)
  while true do
    local op, payload = self:recv(timeout)
    if not op then return nil, payload end
    if op == 8 then
      if #payload >= 2 then return string.unpack(">I2", payload), payload:sub(3) end
      return 1005, ""
    end
  end
end

function Client:close(code)
  pcall(function()
    self:send_frame(8, string.pack(">I2", code or 1000))
    self:expect_close(1)
  end)
  self.conn:close()
end

return hw
