-- bench/ws_broadcast.lua — WebSocket clients for the broadcast benchmark,
-- run inside the runtime (nest.core.tcp, one task per connection):
--
--   medianest run bench/ws_broadcast.lua latency HOST PORT TOKEN CLIENTS ROUNDS [TRIGGER_PORT]
--       CLIENTS connections subscribe to room "bench"; one more connection
--       (to TRIGGER_PORT when given: another instance sharing a Redis)
--       sends "bench:broadcast" ROUNDS times (the server broadcasts it to the
--       room, see plugins/ws); each round is timed from the send until the
--       last client has read the message. Prints one RESULT line:
--       RESULT clients=N rounds=R p50=ms p99=ms max=ms mean=ms missing=0 fan_p50=ms fan_p99=ms
--       (fan_*: the server's own time in ws.broadcast, from bench:sent)
--   medianest run bench/ws_broadcast.lua idle HOST PORT TOKEN CLIENTS HOLD [OFFSET]
--       opens CLIENTS connections (users b<OFFSET+i>), prints "READY n",
--       keeps them open (answering pings) for HOLD seconds, then exits.
--
-- Connections are opened CONCURRENCY at a time (the listen backlog). The
-- figures include the clients' own reading: the clients run on the same
-- machine, in one Lua process, each frame read by its own task.
local tcp = require "nest.core.tcp"
local timer = require "nest.timer"
local event = require "nest.core.event"
local napp = require "nest.core.app"
local json = require "nest.json"

local mode, host, port, token = arg[1], arg[2], tonumber(arg[3]), arg[4]
local N = tonumber(arg[5] or "1000")
local CONCURRENCY = 64

if not (mode and host and port and token) then
  io.stderr:write("usage: ws_broadcast.lua latency|idle HOST PORT TOKEN CLIENTS ROUNDS|HOLD [OFFSET]\n")
  return 2
end

-- one client frame (masked with a zero key, which RFC 6455 allows)
local function frame(opcode, payload)
  local n = #payload
  local len
  if n < 126 then len = string.char(0x80 | n)
  else len = string.char(0x80 | 126) .. string.pack(">I2", n) end
  return string.char(0x80 | opcode) .. len .. "\0\0\0\0" .. payload
end

local function text(event_name, data)
  return frame(1, json.encode({ event = event_name, data = data == nil and json.null or data }))
end

local Client = {}
Client.__index = Client

local function connect(user, to_port)
  to_port = to_port or port
  local conn, err = tcp.connect(host, to_port, 30)
  if not conn then return nil, err end
  local ok, werr = conn:write(("GET /ws?token=%s&user=%s HTTP/1.1\r\nHost: %s:%d\r\n" ..
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" ..
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"):format(token, user, host, to_port))
  if not ok then conn:close() return nil, werr end
  local buf = ""
  while not buf:find("\r\n\r\n", 1, true) do
    local d, rerr = conn:read(30)
    if not d then conn:close() return nil, rerr end
    buf = buf .. d
  end
  if not buf:match("^HTTP/1%.1 101") then conn:close() return nil, buf:match("^[^\r]*") end
  return setmetatable({ conn = conn, buf = buf:sub(buf:find("\r\n\r\n", 1, true) + 4) }, Client)
end

-- The next data message (text), answering pings on the way; nil, err at the end.
function Client:recv()
  while true do
    local b = self.buf
    if #b >= 2 then
      local b1, b2 = b:byte(1, 2)
      local n, off = b2 & 0x7f, 3
      if n == 126 and #b >= 4 then n, off = string.unpack(">I2", b, 3), 5
      elseif n == 127 and #b >= 10 then n, off = string.unpack(">I8", b, 3), 11
      elseif n >= 126 then n = math.huge end
      if #b >= off - 1 + n then
        local payload = b:sub(off, off - 1 + n)
        self.buf = b:sub(off + n)
        local op = b1 & 0x0f
        if op == 9 then self.conn:write(frame(10, payload))
        elseif op == 8 then return nil, "close"
        elseif op == 1 then return payload end
        goto continue
      end
    end
    do
      local d, err = self.conn:read()
      if not d then return nil, err end
      self.buf = self.buf .. d
    end
    ::continue::
  end
end

-- Run fn(i) for i = 1..n, `width` at a time, each in its own task.
local function parallel(n, width, fn)
  local next_i, done, ev = 0, 0, event.new()
  local function worker()
    while next_i < n do
      next_i = next_i + 1
      fn(next_i)
    end
    done = done + 1
    if done == width then ev:signal(true) end
  end
  for _ = 1, width do timer.at(0, function() worker() end) end
  ev:wait()
end

local function open_all(n, offset, on_open)
  local clients, failures = {}, 0
  local t0 = napp.hrtime()
  parallel(n, math.min(CONCURRENCY, n), function(i)
    local c, err = connect("b" .. (offset + i))
    if not c then
      failures = failures + 1
      if failures <= 3 then io.stderr:write("connect ", i, ": ", tostring(err), "\n") end
      return
    end
    clients[#clients + 1] = c
    if on_open then on_open(c) end
  end)
  io.stderr:write(("opened %d connections in %.2f s (%d failed)\n"):format(#clients,
    napp.hrtime() - t0, failures))
  return clients
end

local function percentile(sorted, p)
  local k = math.max(1, math.ceil(#sorted * p / 100))
  return sorted[k]
end

if mode == "latency" then
  local rounds = tonumber(arg[6] or "50")
  local members = open_all(N, 0, function(c)
    c.conn:write(text("subscribe", { topic = "bench" }))
    local m = c:recv()
    assert(m and m:find('"subscribed"', 1, true), "subscribe failed: " .. tostring(m))
  end)
  assert(#members == N, "not every client connected")
  local trigger_port = tonumber(arg[7] or "") or port
  local sender = assert(connect("bench-sender", trigger_port))
  local got, ev, current, last_at = 0, event.new(), 0, 0
  for _, c in ipairs(members) do
    timer.at(0, function()
      while true do
        local m = c:recv()
        if not m then return end
        local seq = tonumber(m:match('"seq":(%d+)'))
        if seq == current then
          got = got + 1
          if got == N then last_at = napp.hrtime(); ev:signal(true) end
        end
      end
    end)
  end
  -- the sender's instance reaches the members directly or, on another
  -- instance, through Redis: wait until one round gets through
  local local_members = trigger_port == port and N or 0
  local function round(seq, wait)
    got, current = 0, seq
    local t0 = napp.hrtime()
    sender.conn:write(text("bench:broadcast", { seq = seq }))
    local ok = got == N or ev:wait(wait)
    local sent = sender:recv()
    assert(sent and sent:find('"reached":' .. local_members, 1, true), "server reached: " .. tostring(sent))
    return ok and (last_at - t0) * 1000 or nil, json.decode(sent).data.fanout_ms
  end
  local seq = 0
  for _ = 1, 50 do
    seq = seq + 1
    if round(seq, 0.5) then break end
  end
  local times, fanouts, missing = {}, {}, 0
  for r = 1, rounds + 3 do          -- 3 warm-up rounds, not counted
    seq = seq + 1
    local t, fanout = round(seq, 5)
    if not t then missing = missing + (N - got)
    elseif r > 3 then times[#times + 1] = t; fanouts[#fanouts + 1] = fanout end
    timer.sleep(0.05)
  end
  table.sort(times)
  table.sort(fanouts)
  local sum = 0
  for _, t in ipairs(times) do sum = sum + t end
  print(("RESULT clients=%d rounds=%d p50=%.2f p99=%.2f max=%.2f mean=%.2f missing=%d fan_p50=%.2f fan_p99=%.2f"):format(
    N, #times, percentile(times, 50), percentile(times, 99), times[#times], sum / #times, missing,
    percentile(fanouts, 50), percentile(fanouts, 99)))
  for _, c in ipairs(members) do c.conn:close() end
  sender.conn:close()
  return 0
elseif mode == "idle" then
  local hold = tonumber(arg[6] or "30")
  local offset = tonumber(arg[7] or "0")
  local clients = open_all(N, offset)
  for _, c in ipairs(clients) do
    timer.at(0, function() while c:recv() do end end)   -- answers pings
  end
  print("READY " .. #clients)
  io.stdout:flush()
  timer.sleep(hold)
  for _, c in ipairs(clients) do c.conn:close() end
  return 0
else
  io.stderr:write("unknown mode ", tostring(mode), "\n")
  return 2
end
