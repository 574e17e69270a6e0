-- 0011_requests_relay.sql — what the requests feature needs beyond 0002:
-- as whom a request was made in Overseerr, when the sync last looked at it,
-- and the extra URLs Overseerr's webhook is relayed to (Overseerr allows one
-- webhook: its issues #972, #4320).

-- The Overseerr user the request was made as (X-API-User). NULL when it was
-- made as the API key's own user on behalf of someone without an Overseerr
-- account (plugins.settings.requests.unmapped_users = "key_user"); user_id
-- always says who really asked.
ALTER TABLE media_requests ADD COLUMN requested_as integer;

-- The sync (the webhook's backstop) visits open requests least recently
-- synced first, so a large backlog is walked through, not its first page
-- forever.
ALTER TABLE media_requests ADD COLUMN synced_at timestamptz;
DROP INDEX idx_media_requests_open;
CREATE INDEX idx_media_requests_open ON media_requests (synced_at NULLS FIRST)
  WHERE status IN ('pending', 'approved', 'processing', 'partially_available');
-- A sync that finds nothing new must not move updated_at (shown as "last
-- change"): the touch trigger skips updates that only stamp synced_at.
DROP TRIGGER media_requests_touch ON media_requests;
CREATE TRIGGER media_requests_touch BEFORE UPDATE ON media_requests
  FOR EACH ROW WHEN (OLD.synced_at IS NOT DISTINCT FROM NEW.synced_at)
  EXECUTE FUNCTION mn_touch_updated_at();

-- Relay targets: each webhook Overseerr sends is passed on to these. The URL
-- is sealed (nest.secrets): a Discord webhook URL is a credential.
CREATE TABLE request_relay_targets (
  id         bigserial PRIMARY KEY,
  url_enc    bytea NOT NULL,
  -- Shown to admins instead of the URL: scheme and host only.
  url_hint   text NOT NULL CHECK (char_length(url_hint) <= 300),
  format     text NOT NULL CHECK (format IN ('json', 'discord')),
  enabled    boolean NOT NULL DEFAULT true,
  created_by bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
