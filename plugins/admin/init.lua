-- plugins/admin/init.lua — the admin area's API: users (list, inspect, change
-- role, disable, delete) and service configuration (view, save, test).
-- Every route is auth = "admin": the framework's guard answers 401 to nobody
-- and 403 to a plain user before a handler runs. (GET /admin/runtime and
-- POST /admin/reload belong to the runtime plugin.)
--
-- Rules an admin cannot break: they cannot demote, disable or delete
-- themself (409 SELF_CHANGE_REFUSED), so an instance always keeps an admin;
-- disabling a user revokes every session and token of theirs at once.
-- Service secrets are sealed (nest.secrets) and never leave the server: GET
-- shows only whether each one is set.
local errors = require "nest.errors"
local schema = require "nest.schema"
local invalidate = require "nest.invalidate"
local services = require "nest.services"
local users = require "plugins.admin.users"
local forms = require "plugins.admin.forms"
local probes = require "plugins.admin.probes"

local plugin = {
  name = "admin", version = "1.0.0", priority = 400,
  description = "Admin API: users and service configuration",
  schema = { fields = {
    -- each network call or child process of POST /admin/services/{name}/test
    test_timeout = { type = "number", default = 5, min = 0.1, max = 30 },
  } },
}

local ADMIN = { auth = "admin" }
-- what the forms below send: a user's role, a service's settings
local ADMIN_FORM = { auth = "admin", body_limit = 16 * 1024 }

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end   -- a database failure: the server answers 500/503
  return v
end

local function user_id(req)
  local id = req:param_int("id")
  if id > math.maxinteger // 2 then errors.raise(404, "NOT_FOUND", "No such user") end
  return id
end

local function service_name(req)
  local name = req.params.name
  if not forms.FORMS[name] then
    errors.raise(404, "UNKNOWN_SERVICE", "No such service: " .. tostring(name),
      { services = services.NAMES })
  end
  return name
end

local function refuse_self(req, id, what)
  if req.user.id == id then
    errors.raise(409, "SELF_CHANGE_REFUSED",
      "You cannot " .. what .. " yourself; ask another administrator", { userId = id })
  end
end

local PATCH_USER = { type = "table", fields = {
  role = { type = "string", one_of = { "user", "admin" } },
  disabled = { type = "boolean" },
} }

function plugin.routes(r, settings)
  local test_timeout = (settings or {}).test_timeout or probes.DEFAULT_TIMEOUT
  -- Users -------------------------------------------------------------------
  r:get("/admin/users", ADMIN, function(req, res)
    local page = req:query_int("page", { default = 1, min = 1, max = 100000 })
    local per_page = req:query_int("perPage", { default = 25, min = 1, max = 100 })
    local q = req:query_string("q", { max = 100 })
    return res:json(check(users.list(page, per_page, q)))
  end)

  r:get("/admin/users/{id}", ADMIN, function(req, res)
    local u = check(users.get(user_id(req)))
    if not u then errors.raise(404, "NOT_FOUND", "No such user") end
    return res:json(u)
  end)

  r:patch("/admin/users/{id}", ADMIN_FORM, function(req, res)
    local id = user_id(req)
    local body = req:json()
    local change, err = schema.validate(PATCH_USER, body, "body")
    if not change then
      errors.raise(400, "VALIDATION_ERROR", err, { field = err:match("^body%.([%w_]+)") })
    end
    if change.role == nil and change.disabled == nil then
      errors.raise(400, "VALIDATION_ERROR", "Nothing to change: give role and/or disabled",
        { fields = { "role", "disabled" } })
    end
    if change.role == "user" then refuse_self(req, id, "demote") end
    if change.disabled == true then refuse_self(req, id, "disable") end
    local u = check(users.update(id, change))
    if not u then errors.raise(404, "NOT_FOUND", "No such user") end
    invalidate.emit("user_changed", { userId = id })
    return res:json(u)
  end)

  r:delete("/admin/users/{id}", ADMIN, function(req, res)
    local id = user_id(req)
    refuse_self(req, id, "delete")
    if not check(users.delete(id)) then errors.raise(404, "NOT_FOUND", "No such user") end
    invalidate.emit("user_changed", { userId = id })
    return res:status(204)
  end)

  -- Services ----------------------------------------------------------------
  local function view(name)
    return forms.view(check(services.public_view(name)))
  end

  r:get("/admin/services", ADMIN, function(_, res)
    local list = {}
    for i, name in ipairs(services.NAMES) do list[i] = view(name) end
    return res:json({ services = list })
  end)

  r:get("/admin/services/{name}", ADMIN, function(req, res)
    return res:json(view(service_name(req)))
  end)

  r:put("/admin/services/{name}", ADMIN_FORM, function(req, res)
    local name = service_name(req)
    local fields, errs = forms.parse(name, req:json())
    if not fields then
      errors.raise(400, "VALIDATION_ERROR", errs[1].message, { errors = errs })
    end
    check(services.save(name, fields, req.user.id))
    -- this instance forgets now (save did); the others within the memo's 5 s
    invalidate.emit("service_config_changed", { service = name })
    return res:json(view(name))
  end)

  r:post("/admin/services/{name}/test", { auth = "admin", body_limit = 1024 }, function(req, res)
    return res:json(probes.run(service_name(req), test_timeout))
  end)
end

return plugin
