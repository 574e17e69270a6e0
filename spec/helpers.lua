-- spec/helpers.lua — what every spec uses: start a MediaNest app inside the
-- spec's process (on an ephemeral port, with real sockets), talk HTTP/1.1 to
-- it with a small client of our own (keep-alive, chunked, cookies), speak
-- raw bytes when a spec needs to, and wait for conditions.
--
--   local h = require "spec.helpers"
--   local app = h.start({ config = { ... }, demo = true })
--   local res = app:get("/health")          -- {status, headers, body, json}
--   local c = app:client()                  -- its own connection and cookie jar
--   h.wait_until(function() return cond() end, 5)
--   app:stop()
local tcp = require "nest.core.tcp"
local napp = require "nest.core.app"
local timer = require "nest.timer"
local cjson = require "cjson.safe"

local h = {}

h.root = napp.info().root

local tmp_counter = 0
function h.tmpname(suffix)
  tmp_counter = tmp_counter + 1
  return ("/tmp/medianest-spec-%d-%d%s"):format(math.floor(napp.now() * 1000) % 100000000,
    tmp_counter, suffix or "")
end

-- read_file(path) -> its contents | nil when it cannot be opened.
function h.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- bin() -> the medianest binary running these specs, for specs that start it
-- as a child process: MEDIANEST_BIN when scripts/test sets it (so the ASan
-- run tests the ASan build), else the executable of this process.
function h.bin()
  local env = os.getenv("MEDIANEST_BIN")
  if env and env ~= "" then return env end
  local p = io.popen("readlink /proc/$PPID/exe 2>/dev/null")
  local exe = p and p:read("l")
  if p then p:close() end
  if exe and exe:match("medianest$") then return exe end
  return h.root .. "/build/medianest"
end

-- wait_until(fn, timeout=5, interval=0.01): calls fn until it returns a truthy
-- value (returned) or the timeout passes (error naming what was awaited).
function h.wait_until(fn, timeout, interval, what)
  local deadline = napp.hrtime() + (timeout or 5)
  while true do
    local v = fn()
    if v then return v end
    if napp.hrtime() > deadline then
      error("wait_until: timed out" .. (what and (" waiting for " .. what) or ""), 2)
    end
    timer.sleep(interval or 0.01)
  end
end

---------------------------------------------------------------------------
-- HTTP/1.1 response parsing over a tcp conn with a read buffer
---------------------------------------------------------------------------

local Stream = {}
Stream.__index = Stream

function h.stream(conn)
  return setmetatable({ conn = conn, buf = "" }, Stream)
end

function Stream:fill(timeout)
  local data, err = self.conn:read(timeout)
  if not data then return nil, err end
  self.buf = self.buf .. data
  return true
end

function Stream:read_until(sep, timeout)
  while true do
    local i = self.buf:find(sep, 1, true)
    if i then
      local out = self.buf:sub(1, i - 1)
      self.buf = self.buf:sub(i + #sep)
      return out
    end
    local ok, err = self:fill(timeout)
    if not ok then return nil, err end
  end
end

function Stream:read_n(n, timeout)
  while #self.buf < n do
    local ok, err = self:fill(timeout)
    if not ok then return nil, err end
  end
  local out = self.buf:sub(1, n)
  self.buf = self.buf:sub(n + 1)
  return out
end

function Stream:read_all(timeout)
  while true do
    local ok, err = self:fill(timeout)
    if not ok then
      if err == "closed" then break end
      return nil, err
    end
  end
  local out = self.buf
  self.buf = ""
  return out
end

local function gunzip_maybe(res)
  -- the client never asks for gzip unless a spec sets Accept-Encoding itself
  return res
end

-- Read one response. opts.head: the request was HEAD (no body follows).
function Stream:read_response(opts)
  opts = opts or {}
  local timeout = opts.timeout or 10
  local head, err = self:read_until("\r\n\r\n", timeout)
  if not head then return nil, err end
  local status_line, rest = head:match("^([^\r\n]*)\r?\n?(.*)$")
  local version, status, reason = status_line:match("^HTTP/(%d%.%d) (%d%d%d) ?(.*)$")
  if not status then return nil, "bad status line: " .. status_line end
  local res = { status = tonumber(status), reason = reason, version = version, headers = {}, raw_headers = {} }
  for line in rest:gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then
      local lk = k:lower()
      res.raw_headers[#res.raw_headers + 1] = { k, v }
      if res.headers[lk] then res.headers[lk] = res.headers[lk] .. ", " .. v else res.headers[lk] = v end
    end
  end
  if res.status == 100 then return self:read_response(opts) end
  local te, cl = res.headers["transfer-encoding"], tonumber(res.headers["content-length"])
  if opts.head or res.status == 204 or res.status == 304 or (res.status >= 100 and res.status < 200) then
    res.body = ""
  elseif te and te:lower():find("chunked") then
    local parts = {}
    while true do
      local size_line, e2 = self:read_until("\r\n", timeout)
      if not size_line then return nil, e2 end
      local size = tonumber(size_line:match("^%x+"), 16)
      if not size then return nil, "bad chunk size: " .. size_line end
      if size == 0 then self:read_until("\r\n", timeout) break end
      parts[#parts + 1] = self:read_n(size, timeout)
      self:read_n(2, timeout)
    end
    res.body = table.concat(parts)
  elseif cl then
    local body, e3 = self:read_n(cl, timeout)
    if not body then return nil, e3 end
    res.body = body
  else
    res.body = self:read_all(timeout) or ""
    res.closed = true
  end
  if (res.headers["content-type"] or ""):find("json", 1, true) and res.body ~= "" then
    res.json = cjson.decode(res.body)
  end
  return gunzip_maybe(res)
end

-- A request as raw bytes; headers is a list of "Name: value" lines.
function h.request_bytes(method, path, headers, body)
  local t = { method .. " " .. path .. " HTTP/1.1", "Host: spec" }
  for _, line in ipairs(headers or {}) do t[#t + 1] = line end
  if body then t[#t + 1] = "Content-Length: " .. #body end
  return table.concat(t, "\r\n") .. "\r\n\r\n" .. (body or "")
end

---------------------------------------------------------------------------
-- A client: one keep-alive connection and a cookie jar
---------------------------------------------------------------------------

local Client = {}
Client.__index = Client

function h.client(host, port)
  return setmetatable({ host = host, port = port, cookies = {}, headers = {} }, Client)
end

function Client:connect()
  if self.stream then return self.stream end
  local conn, err = tcp.connect(self.host, self.port, 5)
  if not conn then return nil, err end
  self.stream = h.stream(conn)
  return self.stream
end

function Client:close()
  if self.stream then self.stream.conn:close() self.stream = nil end
end

local function encode_request(method, path, headers, body)
  local lines = { ("%s %s HTTP/1.1"):format(method, path) }
  for k, v in pairs(headers) do
    if type(v) == "table" then
      for _, x in ipairs(v) do lines[#lines + 1] = k .. ": " .. x end
    else
      lines[#lines + 1] = k .. ": " .. tostring(v)
    end
  end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

function Client:cookie_header()
  local parts = {}
  for k, v in pairs(self.cookies) do parts[#parts + 1] = k .. "=" .. v end
  table.sort(parts)
  return #parts > 0 and table.concat(parts, "; ") or nil
end

function Client:remember_cookies(res)
  for _, kv in ipairs(res.raw_headers) do
    if kv[1]:lower() == "set-cookie" then
      local name, value = kv[2]:match("^([^=]+)=([^;]*)")
      local max_age = kv[2]:match("[Mm]ax%-[Aa]ge=(%-?%d+)")
      if name then
        if value == "" or (max_age and tonumber(max_age) <= 0) then self.cookies[name] = nil
        else self.cookies[name] = value end
      end
    end
  end
end

-- request(method, path, {headers, body, json, timeout}) -> res | nil, err
function Client:request(method, path, opts)
  opts = opts or {}
  local headers = { Host = self.host .. ":" .. self.port }
  for k, v in pairs(self.headers) do headers[k] = v end
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local body = opts.body
  if opts.json ~= nil then
    body = cjson.encode(opts.json)
    headers["Content-Type"] = headers["Content-Type"] or "application/json"
  end
  if body then headers["Content-Length"] = #body end
  local ck = self:cookie_header()
  if ck and not headers.Cookie then headers.Cookie = ck end
  for attempt = 1, 2 do
    local stream, err = self:connect()
    if not stream then return nil, err end
    local ok, werr = stream.conn:write(encode_request(method, path, headers, body))
    local res, rerr
    if ok then res, rerr = stream:read_response({ head = method == "HEAD", timeout = opts.timeout }) end
    if res then
      self:remember_cookies(res)
      if (res.headers.connection or ""):lower() == "close" or res.closed then self:close() end
      return res
    end
    self:close()
    -- a keep-alive connection the server closed meanwhile: retry once, fresh
    if attempt == 2 or (rerr ~= "closed" and werr ~= "closed") then return nil, rerr or werr end
  end
end

for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head", "options" }) do
  Client[m] = function(self, path, opts_or_json, opts)
    local o
    if m == "get" or m == "head" or m == "delete" or m == "options" then o = opts_or_json
    else
      o = opts or {}
      if opts_or_json ~= nil then o.json = opts_or_json end
    end
    return self:request(m:upper(), path, o)
  end
end

---------------------------------------------------------------------------
-- Apps
---------------------------------------------------------------------------

local App = {}
App.__index = function(self, k)
  if App[k] then return App[k] end
  local cm = Client[k]
  if cm then
    return function(s, ...) return cm(s:default_client(), ...) end
  end
end

local function deep_merge(dst, src)
  for k, v in pairs(src) do
    if type(v) == "table" and type(dst[k]) == "table" and v[1] == nil then deep_merge(dst[k], v)
    else dst[k] = v end
  end
  return dst
end

-- start(opts) -> app. opts.config: settings merged over the spec defaults;
-- opts.plugins: list of plugins to enable (default: health); opts.demo.
function h.start(opts)
  opts = opts or {}
  local log_file = h.tmpname(".log")
  local cfg = {
    listen = "127.0.0.1:0",
    log = { file = log_file },
    plugins = { enabled = opts.plugins or { "health" } },
    -- no web UI unless a spec asks for one: whether static/dist was built
    -- must not change what an unknown path answers
    static = { dir = h.root .. "/spec/fixtures/no-static" },
  }
  deep_merge(cfg, opts.config or {})
  local handle, err = napp.start({ overrides_json = cjson.encode(cfg), demo = opts.demo,
                                   config_path = opts.config_path })
  if not handle then error("h.start: " .. tostring(err), 2) end
  local self = setmetatable({ handle = handle, port = handle:port(), host = "127.0.0.1",
                              log_file = log_file, clients = {} }, App)
  return self
end

-- start_fixtures(names, cfg): an app with health plus the spec-only plugins
-- of spec/fixtures/plugins named in `names`.
function h.start_fixtures(names, cfg)
  cfg = cfg or {}
  local enabled = { "health" }
  for _, n in ipairs(names) do enabled[#enabled + 1] = n end
  cfg.plugins = { paths = { h.root .. "/spec/fixtures/plugins" }, enabled = enabled }
  return h.start({ config = cfg })
end

function App:url(path)
  return ("http://%s:%d%s"):format(self.host, self.port, path or "/")
end

function App:client()
  local c = h.client(self.host, self.port)
  self.clients[#self.clients + 1] = c
  return c
end

function App:default_client()
  if not self._client then self._client = self:client() end
  return self._client
end

-- A raw connection to the app: { conn = tcp conn, stream = h.stream }.
function App:raw()
  local conn = assert(tcp.connect(self.host, self.port, 5))
  return h.stream(conn)
end

-- The access log lines written so far, decoded.
function App:log_lines()
  local f = io.open(self.log_file, "r")
  if not f then return {} end
  local out = {}
  for line in f:lines() do out[#out + 1] = cjson.decode(line) or { raw = line } end
  f:close()
  return out
end

function App:stop()
  for _, c in ipairs(self.clients) do c:close() end
  self.handle:stop()
  os.remove(self.log_file)
end

return h
