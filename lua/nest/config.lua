-- nest/config.lua — the settings: defaults, then config.lua, then the
-- environment, then overrides (specs). Every setting is listed with its
-- default and meaning in config.lua.example; an unknown top-level key is an
-- error, so a typo is caught by `medianest check` instead of being ignored.
local M = {}

local current

local function defaults()
  return {
    listen = "127.0.0.1:8080",          -- MEDIANEST_LISTEN (host:port)
    public_url = nil,                   -- how users reach us, for links
    data_dir = ".data/medianest",       -- MEDIANEST_DATA_DIR
    secret_key = nil,                   -- MEDIANEST_SECRET_KEY (64 hex chars)
    trusted_proxies = {},               -- addresses whose X-Forwarded-* we believe
    allowed_origins = {},               -- WebSocket Origins besides our own
    demo = false,                       -- serve --demo
    http = {
      max_header_bytes = 16 * 1024,
      max_body_bytes = 10 * 1024 * 1024,
      header_timeout = 10,
      idle_timeout = 60,
      max_connections = 10000,
      max_connections_per_ip = 256,     -- 0: no cap; trusted_proxies are never capped
      max_body_inflight = 256 * 1024 * 1024,
      send_timeout = 60,
      gzip_min_bytes = 1024,
      write_high_water = 1024 * 1024,
      drain_timeout = 10,
      slow_request = 1.0,
      access_log = true,
    },
    static = { dir = "static/dist" },
    security_headers = {
      content_security_policy = "default-src 'self'; img-src 'self' data:; "
        .. "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
        .. "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
      hsts = false,                     -- only behind a TLS proxy that says so
    },
    log = { level = "info", file = nil },
    database = {
      url = nil, pool_max = 20, idle_timeout = 30, connect_timeout = 2,
      statement_timeout = 30, queue_max = 1000, queue_timeout = 5,
      slow_query = 0.1, migrate_on_start = true,
    },
    redis = { url = nil, connect_timeout = 1, command_timeout = 2, reconnect_max = 5 },
    cache = { l1_bytes = 64 * 1024 * 1024 },
    fetch = { max_host_connections = 10, connect_timeout = 2, timeout = 10, max_size = 10 * 1024 * 1024 },
    metrics = { token = nil },
    rate_limits = {
      api = { limit = 100, window = 60 },
      auth = { limit = 10, window = 60, by = "ip" },
      auth_poll = { limit = 120, window = 60, by = "ip" },   -- PIN polls (not counted in api)
      auth_lookup = { limit = 30, window = 60, by = "ip" },  -- credentials that match no session
      search = { limit = 30, window = 60 },
      media_request = { limit = 20, window = 3600 },
      youtube = { limit = 5, window = 3600 },
      rum = { limit = 60, window = 60, by = "ip" },
    },
    websocket = {
      ping_interval = 25, pong_timeout = 60, close_timeout = 5,
      max_message = 1024 * 1024,
      queue_max = 1024, queue_bytes = 8 * 1024 * 1024,   -- a client this far behind is closed
      stall_timeout = 10,               -- reading stops above half a queue limit; this long: closed
      test_token = nil, test_user = "test",             -- spec-only upgrade hook (off when nil)
    },
    -- Integrations. The admin's saved settings (service_config) win over these;
    -- nest.services resolves the two. `serve --demo` points them at the demo
    -- upstreams served by this very process.
    services = {
      plextv = { url = "https://plex.tv", app_url = "https://app.plex.tv/auth", product = "MediaNest" },
      plex = { url = nil, token = nil },
      overseerr = { url = nil, api_key = nil, webhook_secret = nil },
      uptime_kuma = { url = nil, slug = nil, api_key = nil },
      youtube = { root = ".data/youtube", ytdlp = "yt-dlp", concurrency = 2,
                  quota_bytes = 10 * 1024 * 1024 * 1024,
                  -- hosts whose URLs may be downloaded, over http or https; nil:
                  -- youtube.com, www./m./music.youtube.com, youtu.be (plugins/youtube/urls.lua)
                  allowed_hosts = nil },
    },
    auth = {
      session_days = 30,                -- sliding expiry: days of inactivity
      setup_token_ttl = 86400,          -- the one-time setup link's lifetime (s)
      cookie = "mn_session",
      secure_cookie = "auto",           -- "auto": Secure when public_url is https
      pin_poll_interval = 1,            -- at most one plex.tv poll per PIN per this (s)
      cache_seconds = 5,                -- a resolved session/token is reused this long (0-5 s)
    },
    reload = { drain_timeout = 30, debounce = 0.25 },
    plugins = {
      paths = {},                       -- operator plugin dirs, searched first
      enabled = { "health", "ready", "metrics", "ratelimit", "ws", "auth", "admin", "runtime", "rum",
                  "notifications", "status", "library", "requests", "youtube", "errors", "serverinfo", "account" },
      settings = {},                    -- per-plugin config, by plugin name
    },
    dev = { watch = false },
    bench = { enabled = false },        -- the /bench/status route (on with --demo)
  }
end

-- Top-level settings whose default is nil (so defaults() does not list them).
local NIL_DEFAULTS = { public_url = true, secret_key = true }

local function is_array(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

-- Merge src into dst: tables merge key by key, arrays and scalars replace.
local function merge(dst, src, path, strict)
  for k, v in pairs(src) do
    local here = path .. k
    if strict and dst[k] == nil and path == "" then
      local known = defaults()
      if known[k] == nil and not NIL_DEFAULTS[k] then
        return nil, "unknown setting '" .. here .. "'"
      end
    end
    if type(v) == "table" and type(dst[k]) == "table" and not is_array(v) and not is_array(dst[k]) then
      local ok, err = merge(dst[k], v, here .. ".", false)
      if not ok then return nil, err end
    else
      dst[k] = v
    end
  end
  return true
end

local function load_file(path)
  local env = setmetatable({ os = { getenv = os.getenv } }, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
  if not chunk then return nil, "config: " .. err end
  local ok, t = pcall(chunk)
  if not ok then return nil, "config " .. path .. ": " .. tostring(t) end
  if type(t) ~= "table" then return nil, "config " .. path .. ": must return a table" end
  return t
end

local function env_overrides(cfg)
  local function env(name) local v = os.getenv(name); if v and v ~= "" then return v end end
  cfg.listen = env("MEDIANEST_LISTEN") or cfg.listen
  cfg.data_dir = env("MEDIANEST_DATA_DIR") or cfg.data_dir
  cfg.secret_key = env("MEDIANEST_SECRET_KEY") or cfg.secret_key
  cfg.database.url = env("DATABASE_URL") or cfg.database.url
  cfg.redis.url = env("REDIS_URL") or cfg.redis.url
  cfg.metrics.token = env("MEDIANEST_METRICS_TOKEN") or cfg.metrics.token
  cfg.log.level = env("MEDIANEST_LOG_LEVEL") or cfg.log.level
end

-- serve --demo: every integration points at the demo upstreams this process
-- serves itself (plugins/demo-upstreams); what config.lua set explicitly stays.
local DEMO = {
  plextv = { path = "/demo/plextv", app_path = "/demo/plextv/auth" },
  plex = { path = "/demo/plex", token = "demo-token-owner" },
  overseerr = { path = "/demo/overseerr", api_key = "demo-overseerr-key", webhook_secret = "demo-webhook-secret" },
  uptime_kuma = { path = "/demo/kuma", slug = "demo", api_key = "demo-kuma-key" },
}

local function apply_demo(cfg, explicit)
  local host = cfg.listen_host
  if host == "" or host == "0.0.0.0" or host == "::" then host = "127.0.0.1" end
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  local base = "http://" .. host .. ":" .. cfg.listen_port
  local given = explicit or {}
  for name, d in pairs(DEMO) do
    local s, g = cfg.services[name], given[name] or {}
    if g.url == nil then s.url = base .. d.path end
    if d.app_path and g.app_url == nil then s.app_url = base .. d.app_path end
    for _, k in ipairs({ "token", "api_key", "webhook_secret", "slug" }) do
      if d[k] ~= nil and g[k] == nil then s[k] = d[k] end
    end
  end
  if not (given.youtube and given.youtube.ytdlp) then
    cfg.services.youtube.ytdlp = (cfg.root or ".") .. "/bin/fake-yt-dlp"
  end
  local enabled = cfg.plugins.enabled
  local has = false
  for _, n in ipairs(enabled) do if n == "demo-upstreams" then has = true end end
  if not has then table.insert(enabled, "demo-upstreams") end
end

-- The demo signs whoever reaches it in as the owner (its fake plex.tv
-- approves any PIN), and bench/demo-upstreams serve test-only routes
-- (/bench/*, /demo/*/_control, PIN approval): they are for one machine.
local TEST_ONLY_PLUGINS = { bench = true, ["demo-upstreams"] = true }

local function loopback_host(host)
  host = host:lower()
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local function check_demo(cfg)
  local local_only = loopback_host(cfg.listen_host)
  if cfg.demo and not local_only and not cfg.demo_public then
    return nil, ("listen %s: with --demo anyone who reaches the port can sign in as the owner; "
      .. "listen on 127.0.0.1, or add --demo-public to expose the demo on purpose"):format(cfg.listen)
  end
  if not cfg.demo and not local_only then
    for _, n in ipairs(cfg.plugins.enabled) do
      if TEST_ONLY_PLUGINS[n] then
        return nil, ("plugins.enabled: %s serves test-only routes; enable it on a loopback listen "
          .. "or with --demo only"):format(n)
      end
    end
    if cfg.bench.enabled then
      return nil, "bench.enabled: the /bench routes are for a loopback listen or --demo only"
    end
  end
  return true
end

-- What serve logs once listening when the demo is public on purpose, or nil.
function M.demo_warning(cfg)
  if not (cfg.demo and cfg.demo_public and not loopback_host(cfg.listen_host)) then return nil end
  return "--demo-public: anyone who can reach " .. cfg.listen
    .. " can sign in as the owner of this demo; never expose it to the internet"
end

local function check(cfg)
  local host, port = tostring(cfg.listen):match("^%[?([^%]]*)%]?:(%d+)$")
  port = tonumber(port)
  if not host or not port or port > 65535 then
    return nil, "listen: expected host:port, got '" .. tostring(cfg.listen) .. "'"
  end
  cfg.listen_host, cfg.listen_port = host, port
  if cfg.secret_key ~= nil and not tostring(cfg.secret_key):match("^%x+$") then
    return nil, "secret_key: expected 64 hex characters (32 bytes)"
  end
  if cfg.secret_key and #cfg.secret_key ~= 64 then
    return nil, "secret_key: expected 64 hex characters (32 bytes), got " .. #cfg.secret_key
  end
  for _, k in ipairs({ "max_header_bytes", "max_body_bytes", "header_timeout", "idle_timeout",
                       "max_connections", "drain_timeout", "max_body_inflight", "send_timeout" }) do
    local v = cfg.http[k]
    if type(v) ~= "number" or v <= 0 then return nil, "http." .. k .. ": expected a positive number" end
  end
  local per_ip = cfg.http.max_connections_per_ip
  if type(per_ip) ~= "number" or per_ip < 0 or per_ip % 1 ~= 0 then
    return nil, "http.max_connections_per_ip: expected a whole number (0: no cap)"
  end
  if type(cfg.plugins.enabled) ~= "table" then return nil, "plugins.enabled: expected a list" end
  local ok, derr = check_demo(cfg)
  if not ok then return nil, derr end
  if cfg.demo then apply_demo(cfg, cfg._explicit_services) end
  cfg._explicit_services = nil
  if cfg.demo or cfg.bench.enabled then
    local has = false
    for _, n in ipairs(cfg.plugins.enabled) do if n == "bench" then has = true end end
    if not has then table.insert(cfg.plugins.enabled, "bench") end
  end
  return cfg
end

-- load(opts) -> cfg | nil, err. opts: config_path, overrides_json, demo,
-- demo_public (serve --demo-public: only from the command line), root.
function M.load(opts)
  local cfg = defaults()
  local explicit = {}    -- services the operator set, which --demo leaves alone
  if opts.config_path then
    local t, err = load_file(opts.config_path)
    if not t then return nil, err end
    if type(t.services) == "table" then for k, v in pairs(t.services) do explicit[k] = v end end
    local ok, merr = merge(cfg, t, "", true)
    if not ok then return nil, "config " .. opts.config_path .. ": " .. merr end
  end
  env_overrides(cfg)
  if opts.overrides_json then
    local t = require("nest.json").decode(opts.overrides_json)   -- keeps integers integers
    if type(t) ~= "table" then return nil, "overrides: not a JSON object" end
    for k, v in pairs(type(t.services) == "table" and t.services or {}) do explicit[k] = v end
    local ok, merr = merge(cfg, t, "", true)
    if not ok then return nil, "overrides: " .. merr end
  end
  if opts.demo then cfg.demo = true end
  cfg.demo_public = opts.demo_public and cfg.demo or nil
  cfg.root = opts.root
  cfg._explicit_services = explicit
  local checked, err = check(cfg)
  if not checked then return nil, err end
  current = cfg
  return cfg
end

-- The config of this generation (set by load).
function M.get()
  return current
end

-- Make cfg (a table load returned) this generation's config again: specs
-- that load other configs put the original back with it.
function M.use(cfg)
  current = cfg
end

-- Resolve a path from the config: relative ones are relative to the source root.
function M.path(p)
  if not p or p:sub(1, 1) == "/" then return p end
  return (current and current.root or ".") .. "/" .. p
end

M.defaults = defaults
return M
