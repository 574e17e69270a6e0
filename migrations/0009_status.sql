-- 0009_status.sql — what the service-status poller and the dashboard need
-- beyond 0004/0005 (issue 11): the monitors it knows, the alert state it
-- notifies admins from, and admins' announcements.

-- monitor_visibility doubles as the catalogue of monitors: the poller
-- upserts one row per service it checks (own checks and Uptime Kuma
-- monitors), so admins can hide one before it ever goes down, and a monitor
-- that stopped being reported (removed from Kuma, service unconfigured)
-- leaves the dashboard once last_seen_at is old.
ALTER TABLE monitor_visibility
  ADD COLUMN source text NOT NULL DEFAULT 'self' CHECK (source IN ('self', 'uptime_kuma')),
  ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX idx_monitor_visibility_seen ON monitor_visibility (last_seen_at);

-- Admin notifications are sent on confirmed transitions only (a state seen
-- on two cycles in a row), once each: this row is the confirmed state per
-- alert ("plex", "kuma:3", "plex:integration") and the candidate being
-- confirmed. Kept in the database so the instance that takes over the
-- poller's lease carries on where the last one stopped.
CREATE TABLE service_alerts (
  alert_id      text PRIMARY KEY CHECK (char_length(alert_id) <= 200),
  state         text CHECK (char_length(state) <= 32),
  since         timestamptz,
  candidate     text CHECK (char_length(candidate) <= 32),
  candidate_n   integer NOT NULL DEFAULT 0 CHECK (candidate_n >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Banners for everyone (maintenance, news). Plain text; the UI shows one
-- while starts_at <= now < ends_at (either bound may be open).
CREATE TABLE announcements (
  id         bigserial PRIMARY KEY,
  message    text NOT NULL CHECK (char_length(message) BETWEEN 1 AND 1000),
  level      text NOT NULL DEFAULT 'info' CHECK (level IN ('info', 'warning', 'critical')),
  starts_at  timestamptz,
  ends_at    timestamptz,
  created_by bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);
-- "Current and scheduled" is every row whose end has not passed.
CREATE INDEX idx_announcements_ends ON announcements (ends_at);

-- A check can find the service up but MediaNest's credential refused (a
-- Plex token or an Overseerr API key answered 401/403): a distinct state
-- the dashboard and the admin notification name.
ALTER TABLE service_status
  ADD COLUMN integration text CHECK (integration IN ('token_rejected', 'key_rejected'));

-- A service's current row is its newest by insertion (id), not by
-- last_check_at: an Uptime Kuma row carries Kuma's own heartbeat time, which
-- can be older than a row MediaNest stamped itself while Kuma was
-- unreachable or answered garbage — ordering by it would keep that error
-- "current" after Kuma recovered.
CREATE INDEX idx_service_status_name_id ON service_status (service_name, id DESC);
