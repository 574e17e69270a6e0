-- plugins/errors/init.lua — client error reports (issue 15; docs/admin.md).
--
--   POST /api/v1/errors  {message, stack?, url, line?, column?, userAgent?, release}
--       204 stored (grouped by fingerprint: message + top stack frame)
--       400 INVALID_JSON | VALIDATION_ERROR (details.field), 413 over 16 KB,
--       429 RATE_LIMITED (per IP, and per user when signed in)
--   GET /api/v1/admin/errors?page=&perPage=   the groups, last seen first
--   DELETE /api/v1/admin/errors/{id}          forget one group (dealt with)
--
-- Public: the sign-in page reports too. csrf = false, like the RUM beacon:
-- a report changes nothing of the user's, and its only abuse — filling the
-- table — is bounded by the rate limit and by grouping. Long strings are
-- cut, not refused; query strings, fragments and anything secret-looking
-- are scrubbed before anything is stored (plugins/errors/report.lua).
local errors = require "nest.errors"
local rl = require "nest.ratelimit"
local report = require "plugins.errors.report"
local store = require "plugins.errors.store"

local plugin = {
  name = "errors", version = "1.0.0", priority = 0,
  description = "Client error reports: POST /errors, GET /admin/errors",
  schema = { fields = {
    rate_limit = { type = "number", default = 20, min = 1, max = 10000 },   -- reports per window
    rate_window = { type = "number", default = 60, min = 1, max = 86400 },  -- seconds
  } },
}

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end
  return v
end

-- Both the client's IP and (signed in) the user must be under the limit:
-- one user cannot flood from many addresses, nor one address as many users.
local function limited(req, res, limit)
  local keys = { "ip:" .. tostring(req.ip or "unknown") }
  if req.user then keys[2] = "u:" .. tostring(req.user.id) end
  for _, key in ipairs(keys) do
    local d = rl.check("errors", key, limit)
    if not d.allowed then
      res:header("retry-after", tostring(d.retry_after))
      res:error(429, "RATE_LIMITED", "Too many error reports; retry in " .. d.retry_after .. " s",
        { limit = "errors" }, d.retry_after)
      return true
    end
  end
  return false
end

function plugin.routes(r, settings)
  settings = settings or {}
  local limit = { limit = settings.rate_limit or 20, window = settings.rate_window or 60 }

  r:post("/errors", { auth = "public", csrf = false, rate = false, body_limit = report.MAX_BODY },
    function(req, res)
      if limited(req, res, limit) then return end
      local r1, message, field = report.parse(req:json(), req.headers["user-agent"])
      if not r1 then errors.raise(400, "VALIDATION_ERROR", message, { field = field }) end
      r1.browser = report.browser(r1.userAgent)
      check(store.record(r1, req.user and req.user.id))
      return res:status(204)
    end)

  r:get("/admin/errors", { auth = "admin" }, function(req, res)
    local page = req:query_int("page", { default = 1, min = 1, max = 100000 })
    local per_page = req:query_int("perPage", { default = 25, min = 1, max = 100 })
    return res:json(check(store.list(page, per_page)))
  end)

  r:delete("/admin/errors/{id}", { auth = "admin" }, function(req, res)
    if not check(store.remove(req:param_int("id"))) then
      errors.raise(404, "NOT_FOUND", "No such error report")
    end
    return res:status(204)
  end)
end

return plugin
