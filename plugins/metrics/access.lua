-- plugins/metrics/access.lua — who may read /metrics: a loopback client
-- (req.ip: X-Forwarded-For counts only from trusted_proxies, see
-- nest.clientip), or a request bearing the metrics token.
local crypto = require "nest.crypto"
local clientip = require "nest.clientip"

local M = {}

local function token_ok(req, token)
  if type(token) ~= "string" or token == "" then return false end
  local given = req:bearer()
  if not given then return false end
  return crypto.equal(given, token)
end

--- allowed(req, cfg) -> true when this request may read /metrics.
function M.allowed(req, cfg)
  if clientip.is_loopback(req.ip) then return true end
  return token_ok(req, cfg.metrics and cfg.metrics.token)
end

return M
