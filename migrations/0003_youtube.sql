-- 0003_youtube.sql — docs/architecture.md#youtube-downloads. youtube_downloads is
-- both what a user sees and the job queue the workers take from: a worker
-- claims the oldest queued row with FOR UPDATE SKIP LOCKED, so several
-- instances share one queue without a broker.

CREATE TABLE youtube_downloads (
  id               bigserial PRIMARY KEY,
  -- CASCADE: downloads are personal. The application deletes a user's files
  -- before deleting the user; a worker must expect its row to vanish.
  user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  url              text NOT NULL CHECK (char_length(url) <= 2048),
  kind             text NOT NULL CHECK (kind IN ('video', 'playlist')),
  -- The canonical video or playlist id, parsed from the URL: what duplicate
  -- detection compares (two URLs may name the same playlist).
  youtube_id       text NOT NULL,
  title            text,
  -- Options chosen at preview time (quality, container, audio only...).
  format           text NOT NULL DEFAULT 'best',
  status           text NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'downloading', 'completed', 'failed', 'cancelled')),
  progress         numeric(5, 2) NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  items_total      integer CHECK (items_total >= 0),
  items_done       integer NOT NULL DEFAULT 0 CHECK (items_done >= 0),
  -- Bytes on disk for this download, counted against the user's quota.
  bytes_total      bigint NOT NULL DEFAULT 0 CHECK (bytes_total >= 0),
  error            text,
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- Queue ownership: which instance runs it and when it last said so. A row
  -- left 'downloading' by an instance that died (heartbeat too old) goes back
  -- to 'queued'; a live instance's jobs are never stolen.
  worker_id        text,
  heartbeat_at     timestamptz,
  -- <youtube.root>/<user>/<playlist>/, and the Plex collection made from it.
  output_dir       text,
  plex_collection  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  CHECK (status <> 'downloading' OR worker_id IS NOT NULL)
);
-- The seed's index: a user's active downloads (limits, the live queue view).
CREATE INDEX idx_youtube_downloads_user_status ON youtube_downloads (user_id, status)
  WHERE status IN ('queued', 'downloading');
-- Duplicates of an active download are refused (409): enforced here so two
-- simultaneous submissions cannot both pass the application's check.
CREATE UNIQUE INDEX uq_youtube_downloads_active ON youtube_downloads (user_id, youtube_id)
  WHERE status IN ('queued', 'downloading');
-- A user's history, newest first, and the "5 per hour" count.
CREATE INDEX idx_youtube_downloads_user_created ON youtube_downloads (user_id, created_at DESC);
-- The claim: oldest queued first (small, as only queued rows are in it).
CREATE INDEX idx_youtube_downloads_queue ON youtube_downloads (created_at, id)
  WHERE status = 'queued';
-- Requeueing jobs whose worker stopped sending heartbeats.
CREATE INDEX idx_youtube_downloads_running ON youtube_downloads (heartbeat_at)
  WHERE status = 'downloading';
CREATE TRIGGER youtube_downloads_touch BEFORE UPDATE ON youtube_downloads
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();

-- The videos of a download (one row for a single video, one per entry of a
-- playlist), in playlist order.
CREATE TABLE youtube_items (
  id               bigserial PRIMARY KEY,
  download_id      bigint NOT NULL REFERENCES youtube_downloads (id) ON DELETE CASCADE,
  position         integer NOT NULL CHECK (position >= 0),
  video_id         text NOT NULL,
  title            text,
  duration_seconds integer CHECK (duration_seconds >= 0),
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'downloading', 'completed', 'failed', 'skipped')),
  progress         numeric(5, 2) NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  file_path        text,
  size_bytes       bigint CHECK (size_bytes >= 0),
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  -- Position, not video id: a playlist may list the same video twice.
  UNIQUE (download_id, position)
);
CREATE TRIGGER youtube_items_touch BEFORE UPDATE ON youtube_items
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();
