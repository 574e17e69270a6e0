-- 0008_notify_leases.sql — notifications are idempotent per event (the same
-- event — a webhook delivered twice, two instances noticing the same
-- transition — notifies a user once: nest.notify inserts with
-- ON CONFLICT (user_id, event_key) DO NOTHING), and leases for once-per-cluster work.
ALTER TABLE notifications ADD COLUMN event_key text CHECK (char_length(event_key) <= 200);
CREATE UNIQUE INDEX idx_notifications_user_event ON notifications (user_id, event_key)
  WHERE event_key IS NOT NULL;
-- Pruning old read notifications by age.
CREATE INDEX idx_notifications_read ON notifications (read_at) WHERE read_at IS NOT NULL;

-- Leases for work that must run once per cluster however many instances and
-- workers there are (the status poller, the requests sync, purges): the
-- holder renews its lease before it expires; when a holder dies its lease
-- lapses and another takes it over (nest.lease).
CREATE TABLE cluster_leases (
  name       text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now()
);
