-- 0008_notification_keys.sql — notifications are idempotent per event: the
-- same event (a webhook delivered twice, two instances noticing the same
-- transition) notifies a user once. nest.notify inserts with
-- ON CONFLICT (user_id, event_key) DO NOTHING.
ALTER TABLE notifications ADD COLUMN event_key text CHECK (char_length(event_key) <= 200);
CREATE UNIQUE INDEX idx_notifications_user_event ON notifications (user_id, event_key)
  WHERE event_key IS NOT NULL;
-- Pruning old read notifications by age.
CREATE INDEX idx_notifications_read ON notifications (read_at) WHERE read_at IS NOT NULL;
