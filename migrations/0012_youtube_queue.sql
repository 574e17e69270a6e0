-- 0012_youtube_queue.sql — what the YouTube queue (plugins/youtube) needs on
-- top of 0003: the lease a worker holds on a claimed job, the playlist's own
-- metadata (channel, thumbnail), where the result lives in Plex, and per
-- item the ratingKey Plex gave the file and the reason an item failed.

-- A claimed job's lease: the worker renews lease_until with each heartbeat;
-- a 'downloading' row whose lease lapsed belongs to a dead worker and goes
-- back to 'queued' (whoever notices first: an UPDATE ... WHERE lease_until
-- < now(), so two instances never both take it back).
ALTER TABLE youtube_downloads
  ADD COLUMN lease_until      timestamptz,
  ADD COLUMN channel          text,
  ADD COLUMN thumbnail        text,
  -- The quality asked for (best|1080|720|480|audio): 'format' keeps the
  -- yt-dlp format expression derived from it.
  ADD COLUMN quality          text NOT NULL DEFAULT 'best'
             CHECK (quality IN ('best', '1080', '720', '480', 'audio')),
  -- A machine-readable reason next to the words in `error` (private,
  -- removed, network, disk_full, quota, crashed, usage, stopped, cancelled).
  ADD COLUMN error_code       text,
  -- The Plex library section the files landed in and the collection's title.
  ADD COLUMN plex_section     text,
  ADD COLUMN collection_title text;

-- Requeueing lapsed leases looks only at running rows.
CREATE INDEX idx_youtube_downloads_lease ON youtube_downloads (lease_until)
  WHERE status = 'downloading';

ALTER TABLE youtube_items
  ADD COLUMN rating_key text,
  ADD COLUMN error_code text,
  ADD COLUMN thumbnail  text;

-- A user's own disk quota for downloads; NULL = services.youtube.quota_bytes.
ALTER TABLE users ADD COLUMN youtube_quota_bytes bigint CHECK (youtube_quota_bytes >= 0);
