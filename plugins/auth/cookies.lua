-- plugins/auth/cookies.lua — the session and PIN cookies: HttpOnly,
-- SameSite=Lax, Path=/ (the PIN nonce: Path=/api), Secure when public_url is
-- https or auth.secure_cookie = true (false forces it off).
local config = require "nest.config"

local M = {}

function M.secure()
  local cfg = config.get() or {}
  local s = (cfg.auth or {}).secure_cookie
  if s == true or s == false then return s end
  return type(cfg.public_url) == "string" and cfg.public_url:lower():sub(1, 8) == "https://"
end

function M.session_name()
  local cfg = config.get() or {}
  return (cfg.auth or {}).cookie or "mn_session"
end

function M.set(res, name, value, o)
  return res:cookie(name, value, { max_age = o.max_age, path = o.path or "/", http_only = true,
                                   same_site = "Lax", secure = M.secure() })
end

function M.clear(res, name, path)
  return res:cookie(name, "", { max_age = 0, path = path or "/", http_only = true,
                                same_site = "Lax", secure = M.secure() })
end

function M.set_session(res, raw)
  local days = ((config.get() or {}).auth or {}).session_days or 30
  return M.set(res, M.session_name(), raw, { max_age = days * 86400 })
end

return M
