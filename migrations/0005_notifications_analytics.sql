-- 0005_notifications_analytics.sql — in-app notifications, browser
-- web-vitals (RUM) and client error reports (docs/architecture.md#notifications-and-analytics).

CREATE TABLE notifications (
  id         bigserial PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- e.g. request_available, download_completed, download_failed,
  -- service_down, service_up. A format rather than a list: operators'
  -- plugins add their own kinds without a migration.
  type       text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
  title      text NOT NULL CHECK (char_length(title) <= 200),
  body       text CHECK (char_length(body) <= 2000),
  -- Where the UI goes when it is clicked (a relative path), and the ids the
  -- client needs to update its views without refetching.
  link       text,
  data       jsonb NOT NULL DEFAULT '{}',
  read_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_notifications_user_created ON notifications (user_id, created_at DESC);
-- The unread badge: small, as read rows leave it.
CREATE INDEX idx_notifications_user_unread ON notifications (user_id) WHERE read_at IS NULL;

-- Raw web-vitals beacons (POST /analytics/rum), validated before insert.
-- Kept for a bounded time (the application prunes by created_at) for the
-- admin view's percentiles; long-term trends live in rum_histograms.
CREATE TABLE rum_samples (
  id              bigserial PRIMARY KEY,
  metric          text NOT NULL CHECK (metric IN ('FCP', 'LCP', 'CLS', 'INP', 'TTFB')),
  -- Milliseconds, except CLS (unitless).
  value           double precision NOT NULL CHECK (value >= 0 AND value < 'Infinity'),
  rating          text CHECK (rating IN ('good', 'needs-improvement', 'poor')),
  -- The route, normalised by the application (ids replaced), so pages group.
  page            text NOT NULL CHECK (char_length(page) <= 200),
  navigation_type text CHECK (char_length(navigation_type) <= 32),
  -- web-vitals' per-page-load metric id: lets a later, final report of the
  -- same metric (CLS, INP grow during the visit) replace an earlier one.
  vital_id        text CHECK (char_length(vital_id) <= 100),
  -- Beacons may come from signed-out pages; a deleted user's samples stay
  -- (they are about the app, not the person).
  user_id         bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_rum_samples_metric_created ON rum_samples (metric, created_at);
CREATE INDEX idx_rum_samples_created ON rum_samples (created_at);

-- Hourly histograms of the same metrics: one row per (hour, metric, page,
-- bucket). Additive, so every instance can flush its in-memory counts with
-- INSERT ... ON CONFLICT DO UPDATE SET count = count + EXCLUDED.count.
CREATE TABLE rum_histograms (
  period_start timestamptz NOT NULL,
  metric       text NOT NULL CHECK (metric IN ('FCP', 'LCP', 'CLS', 'INP', 'TTFB')),
  page         text NOT NULL DEFAULT '*',
  -- Upper bound of the bucket (Prometheus' "le"); 'Infinity' for the last.
  bucket_le    double precision NOT NULL,
  count        bigint NOT NULL DEFAULT 0 CHECK (count >= 0),
  -- Sum of the values counted here, for means.
  sum          double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (metric, page, period_start, bucket_le)
);
CREATE INDEX idx_rum_histograms_period ON rum_histograms (period_start);

-- Client error reports (POST /errors), bounded and rate-limited at the edge.
-- The same error repeated (a render loop) updates one row rather than
-- flooding the table: the application hashes message + top frame into
-- fingerprint and upserts.
CREATE TABLE error_reports (
  id            bigserial PRIMARY KEY,
  fingerprint   bytea NOT NULL UNIQUE CHECK (octet_length(fingerprint) = 32),
  message       text NOT NULL CHECK (char_length(message) <= 2000),
  stack         text CHECK (char_length(stack) <= 16000),
  url           text CHECK (char_length(url) <= 2048),
  user_agent    text CHECK (char_length(user_agent) <= 512),
  release       text CHECK (char_length(release) <= 64),
  request_id    text CHECK (char_length(request_id) <= 64),
  -- The last user who hit it, if signed in.
  user_id       bigint REFERENCES users (id) ON DELETE SET NULL,
  count         bigint NOT NULL DEFAULT 1 CHECK (count >= 1),
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_error_reports_last_seen ON error_reports (last_seen_at DESC);
