-- nest/response.lua — the res object handlers fill; finish() turns it into
-- what the core writes: status, headers, body, route, user, file.
local json = require "nest.json"
local errors = require "nest.errors"

local Response = {}
Response.__index = Response

local M = {}

function M.new(req)
  return setmetatable({ req = req, code = 200, headers = {}, body = nil }, Response)
end

function Response:status(code)
  self.code = code
  return self
end

function Response:header(name, value)
  name = name:lower()
  if name == "set-cookie" then
    local cur = self.headers[name]
    if type(cur) == "table" then cur[#cur + 1] = value
    elseif cur then self.headers[name] = { cur, value }
    else self.headers[name] = { value } end
  else
    self.headers[name] = value
  end
  return self
end

function Response:json(value, code)
  if code then self.code = code end
  local body, err = json.encode(value)
  if not body then error("res:json: cannot encode: " .. tostring(err), 2) end
  self.headers["content-type"] = "application/json"
  self.body = body
  self.done = true
  return self
end

function Response:send(body, code, content_type)
  if code then self.code = code end
  self.body = body
  if content_type then self.headers["content-type"] = content_type
  elseif not self.headers["content-type"] then self.headers["content-type"] = "text/plain; charset=utf-8" end
  self.done = true
  return self
end

function Response:redirect(url, code)
  self.code = code or 302
  self.headers.location = url
  self.done = true
  return self
end

-- cookie(name, value, {max_age, path, http_only, same_site, secure, expires})
function Response:cookie(name, value, o)
  o = o or {}
  local parts = { name .. "=" .. value, "Path=" .. (o.path or "/") }
  if o.max_age then parts[#parts + 1] = "Max-Age=" .. math.floor(o.max_age) end
  if o.http_only ~= false then parts[#parts + 1] = "HttpOnly" end
  parts[#parts + 1] = "SameSite=" .. (o.same_site or "Lax")
  if o.secure then parts[#parts + 1] = "Secure" end
  return self:header("set-cookie", table.concat(parts, "; "))
end

-- Serve a file of the static directory (SPA fallback, downloads).
function Response:file(path)
  self.file_path = path
  self.done = true
  return self
end

-- error(status, code, message, details): the JSON error envelope.
function Response:error(status, code, message, details, retry_after)
  return self:json(errors.envelope(code, message, self.req.id, details, retry_after), status)
end

-- Stream: begin the response now and write chunks as they come.
-- res:stream(status, content_type) -> write(chunk) -> true | nil, "closed"
function Response:stream(code, content_type)
  local http = require "nest.core.http"
  self.headers["content-type"] = content_type or self.headers["content-type"]
  http.begin(self.req.handle, code or self.code, self.headers)
  self.streaming = true
  self.done = true
  local handle = self.req.handle
  return function(chunk) return http.write(handle, chunk) end
end

-- The 7th value is the client's address for the access log, when it is not
-- the TCP peer's (a trusted proxy's X-Forwarded-For, see nest.clientip).
function Response:finish(route, user)
  local req = self.req
  local client_ip = req and req.ip ~= req.peer_ip and req.ip or nil
  return self.code, self.headers, self.body, route, user, self.file_path, client_ip
end

M.Response = Response
return M
