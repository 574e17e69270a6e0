-- 0006_jobs_rate_limits.sql — shared state for the framework: the generic job
-- queue behind nest's job API, and rate-limit counters for deployments that
-- run several instances without Redis.

-- Background work that any instance may run (Overseerr sync, notification
-- fan-out, pruning...). Claimed with FOR UPDATE SKIP LOCKED like the YouTube
-- queue (0003), which keeps its own table because its rows are what users see.
CREATE TABLE jobs (
  id           bigserial PRIMARY KEY,
  queue        text NOT NULL CHECK (queue ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
  payload      jsonb NOT NULL DEFAULT '{}',
  status       text NOT NULL DEFAULT 'queued'
               CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  priority     smallint NOT NULL DEFAULT 0,
  -- Not before this time: scheduling, and backoff between attempts.
  run_at       timestamptz NOT NULL DEFAULT now(),
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  -- Deduplication: at most one live job per key, e.g. 'overseerr-sync', so
  -- every instance may try to schedule a periodic task and only one row wins
  -- (INSERT ... ON CONFLICT DO NOTHING).
  unique_key   text,
  -- Ownership while running; a job whose worker stopped sending heartbeats
  -- is requeued by whichever instance notices.
  worker_id    text,
  heartbeat_at timestamptz,
  last_error   text,
  result       jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  CHECK (status <> 'running' OR worker_id IS NOT NULL)
);
-- The claim: highest priority, then due soonest.
CREATE INDEX idx_jobs_claim ON jobs (queue, priority DESC, run_at, id) WHERE status = 'queued';
CREATE INDEX idx_jobs_running ON jobs (heartbeat_at) WHERE status = 'running';
CREATE UNIQUE INDEX uq_jobs_live_key ON jobs (unique_key)
  WHERE unique_key IS NOT NULL AND status IN ('queued', 'running');
-- Pruning finished jobs by age.
CREATE INDEX idx_jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE TRIGGER jobs_touch BEFORE UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();

-- Fixed-window counters ("api:user:42" for the current minute), used when
-- rate limits must be shared between instances and Redis is not configured
-- (docs/architecture.md#rate-limits: Redis first, in-process when alone). One statement per hit:
-- INSERT ... ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1
-- RETURNING count. UNLOGGED: no WAL, so hits cost little; a crash empties the
-- table, which only makes limits briefly lenient.
CREATE UNLOGGED TABLE rate_limit_counters (
  key          text NOT NULL CHECK (char_length(key) <= 200),
  window_start timestamptz NOT NULL,
  count        integer NOT NULL DEFAULT 0 CHECK (count >= 0),
  -- window_start + window length: rows past it are deleted in passing.
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX idx_rate_limit_counters_expires ON rate_limit_counters (expires_at);
