-- 0004_services.sql — the services MediaNest talks to (Plex, Overseerr,
-- Uptime Kuma, ...): their configuration, the results of checking them, and
-- which monitors users may see (docs/architecture.md#service-status).

-- Configuration an admin edits in the UI (GET/PUT /admin/services/{name}).
-- When a service is also configured in config.lua, which one wins is the
-- application's rule; this table holds what was saved from the UI.
CREATE TABLE service_config (
  name               text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  enabled            boolean NOT NULL DEFAULT true,
  url                text CHECK (char_length(url) <= 2048),
  -- Secrets, encrypted (see 0001): the API key (Overseerr, Uptime Kuma), the
  -- shared secret Overseerr's webhook presents, and any other secret values
  -- of the service as an encrypted JSON object.
  api_key_enc        bytea,
  webhook_secret_enc bytea,
  secrets_enc        bytea,
  -- Non-secret options (timeouts, library ids, status page slug...).
  settings           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  -- Who saved it last; kept if that user is deleted.
  updated_by         bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER service_config_touch BEFORE UPDATE ON service_config
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();

-- Check results, appended by the poller (write-through with the cache). The
-- current status of a service is its newest row, which the seed's index
-- finds directly (SELECT DISTINCT ON (service_name) ... ORDER BY
-- service_name, last_check_at DESC). Rows are kept for the history charts and
-- pruned by age by the application. No foreign key to service_config: Uptime
-- Kuma monitors are services here too and are not configured in MediaNest.
CREATE TABLE service_status (
  id               bigserial PRIMARY KEY,
  -- "plex", "overseerr", or "kuma:<monitor id>" for an Uptime Kuma monitor.
  service_name     text NOT NULL,
  source           text NOT NULL CHECK (source IN ('self', 'uptime_kuma')),
  status           text NOT NULL
                   CHECK (status IN ('up', 'degraded', 'down', 'maintenance', 'unknown')),
  response_time_ms integer CHECK (response_time_ms >= 0),
  -- Percentages, as reported by Uptime Kuma or computed from our own checks.
  uptime_24h       numeric(6, 3) CHECK (uptime_24h BETWEEN 0 AND 100),
  uptime_30d       numeric(6, 3) CHECK (uptime_30d BETWEEN 0 AND 100),
  message          text,
  last_check_at    timestamptz NOT NULL DEFAULT now()
);
-- The seed's index.
CREATE INDEX idx_service_status_name_updated ON service_status (service_name, last_check_at DESC);
-- Pruning by age.
CREATE INDEX idx_service_status_checked ON service_status (last_check_at);

-- Which monitors users see on their dashboard; admins see everything.
-- A monitor with no row here follows the application's default.
CREATE TABLE monitor_visibility (
  -- The service_name it governs in service_status ("kuma:12", "plex").
  monitor_id   text PRIMARY KEY,
  display_name text,
  visible      boolean NOT NULL DEFAULT true,
  sort_order   integer NOT NULL DEFAULT 0,
  updated_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER monitor_visibility_touch BEFORE UPDATE ON monitor_visibility
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();
