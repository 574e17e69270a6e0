-- 0002_requests.sql — media requests forwarded to Overseerr (docs/architecture.md#requests), the
-- users watching them, and the history of their statuses.

CREATE TABLE media_requests (
  id                   bigserial PRIMARY KEY,
  -- Who asked. SET NULL, not CASCADE: the request lives on in Overseerr and
  -- other users may be watching it; deleting its author must not delete it.
  user_id              bigint REFERENCES users (id) ON DELETE SET NULL,
  tmdb_id              integer NOT NULL CHECK (tmdb_id > 0),
  media_type           text NOT NULL CHECK (media_type IN ('movie', 'tv')),
  -- Requested seasons of a show; NULL means all of them (and always for movies).
  seasons              integer[] CHECK (media_type = 'tv' OR seasons IS NULL),
  -- Shown in lists without asking Overseerr again.
  title                text NOT NULL,
  year                 integer,
  poster_path          text,
  -- pending → approved → processing → available, or declined / failed;
  -- cancelled by its author while pending. partially_available: some of the
  -- requested seasons of a show are in Plex (Overseerr reports it so).
  status               text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'approved', 'processing',
                                         'partially_available', 'available',
                                         'declined', 'failed', 'cancelled')),
  status_message       text,
  -- Overseerr's ids, known once the request has been forwarded.
  overseerr_request_id integer UNIQUE,
  overseerr_media_id   integer,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
-- The seed's index: "my requests", newest first.
CREATE INDEX idx_media_requests_user_created ON media_requests (user_id, created_at DESC);
-- The admin view of all requests, newest first.
CREATE INDEX idx_media_requests_created ON media_requests (created_at DESC);
-- The periodic sync (the webhook's backstop) visits only unfinished requests.
CREATE INDEX idx_media_requests_open ON media_requests (updated_at)
  WHERE status IN ('pending', 'approved', 'processing', 'partially_available');
-- Duplicates are refused with 409 (docs/architecture.md#requests). For movies the database
-- enforces it, so two users asking at the same moment cannot both succeed;
-- a show may rightly be requested again for other seasons, which the
-- application checks against Overseerr.
CREATE UNIQUE INDEX uq_media_requests_live_movie ON media_requests (tmdb_id)
  WHERE media_type = 'movie' AND status NOT IN ('declined', 'failed', 'cancelled');
CREATE INDEX idx_media_requests_tmdb ON media_requests (tmdb_id, media_type);
CREATE TRIGGER media_requests_touch BEFORE UPDATE ON media_requests
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();

-- Someone asking for a title already requested can watch that request and is
-- notified with its author. Both sides CASCADE: a watch means nothing without
-- the request or the watcher.
CREATE TABLE request_watchers (
  request_id bigint NOT NULL REFERENCES media_requests (id) ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, user_id)
);
-- "Requests I watch" and the cascade from users.
CREATE INDEX idx_request_watchers_user ON request_watchers (user_id);

-- Every status change of a request, whatever told us about it, so "my
-- requests" can show when each step happened. Written by the application in
-- the transaction that changes media_requests.status.
CREATE TABLE media_request_status_history (
  id          bigserial PRIMARY KEY,
  request_id  bigint NOT NULL REFERENCES media_requests (id) ON DELETE CASCADE,
  -- NULL for the first row (creation).
  from_status text,
  to_status   text NOT NULL
              CHECK (to_status IN ('pending', 'approved', 'processing',
                                   'partially_available', 'available',
                                   'declined', 'failed', 'cancelled')),
  source      text NOT NULL CHECK (source IN ('user', 'admin', 'webhook', 'sync', 'system')),
  message     text,
  -- The user who made the change (cancel, admin action); kept if deleted.
  changed_by  bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_media_request_status_history_request
  ON media_request_status_history (request_id, created_at);
