-- 0001_init.sql — people and how they prove who they are: users, sessions and
-- API tokens, the one-time setup link, and Plex PIN sign-ins in flight.
--
-- Conventions for every migration in this directory (docs/architecture.md#data-model):
-- * The runner (`medianest migrate`) applies each file in one transaction and
--   records it in schema_migrations, which it creates itself. So: no BEGIN or
--   COMMIT here, nothing that cannot run in a transaction (CREATE INDEX
--   CONCURRENTLY), no psql meta-commands; a file may hold many statements.
-- * A migration that has been applied is never edited: change the schema
--   with a new file.
-- * Times are timestamptz. Statuses and kinds are text with a CHECK (easier
--   to extend in a later migration than an enum type, and as strict).
-- * Every foreign key says what happens ON DELETE, and why when it is not
--   obvious. Columns ending in _enc hold AES-256-GCM blobs produced by
--   nest.crypto under the instance's secret key (never plaintext); columns
--   ending in _hash hold SHA-256 digests (32 bytes) of a secret that is only
--   ever shown once.

-- updated_at maintenance for every table that has one: the application
-- cannot forget it, and a plugin's UPDATE does not need to spell it out.
CREATE FUNCTION mn_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE users (
  id               bigserial PRIMARY KEY,
  -- Plex account id and uuid; NULL only for users made from the shell
  -- (`medianest user add`) who have not signed in with Plex yet.
  plex_id          bigint UNIQUE,
  plex_uuid        text UNIQUE,
  username         text NOT NULL CHECK (username <> '' AND char_length(username) <= 255),
  email            text CHECK (char_length(email) <= 320),
  thumb            text,
  role             text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  -- A disabled user cannot sign in; disabling also revokes their sessions
  -- (done by the application in the same transaction).
  disabled_at      timestamptz,
  -- The user's plex.tv token, and the access token for the configured Plex
  -- server found by the access check (docs/architecture.md#plex-library: calls use it so Plex's
  -- sharing rules hold).
  plex_token_enc   bytea,
  server_token_enc bytea,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  last_login_at    timestamptz
);
-- Usernames are unique regardless of case: `medianest user set-role NAME`
-- and the admin UI address users by name. Sign-in matches on plex_id, and
-- refreshes the username from Plex (which keeps them unique too).
CREATE UNIQUE INDEX idx_users_username_lower ON users (lower(username));
CREATE TRIGGER users_touch BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION mn_touch_updated_at();

-- Browser sessions and personal API tokens share one table and one lookup:
-- every authenticated request hashes its cookie or Bearer token and finds the
-- row by token_hash. The token itself (32 random bytes) is never stored.
CREATE TABLE session_tokens (
  id           bigserial PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash   bytea NOT NULL CHECK (octet_length(token_hash) = 32),
  kind         text NOT NULL CHECK (kind IN ('session', 'api')),
  -- The label a user gave an API token ("backup script"); NULL for sessions.
  name         text CHECK (char_length(name) <= 100),
  -- Per-session CSRF token, echoed by the UI in X-CSRF-Token. Bearer (api)
  -- requests are not subject to CSRF, so api tokens have none.
  csrf_token   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  -- Sessions slide (30 days of inactivity); an api token may never expire.
  expires_at   timestamptz,
  revoked_at   timestamptz,
  CHECK (kind <> 'api' OR name IS NOT NULL),
  CHECK (kind <> 'session' OR (csrf_token IS NOT NULL AND expires_at IS NOT NULL))
);
-- The seed's index, and the uniqueness of token hashes, in one index.
CREATE UNIQUE INDEX idx_session_tokens_hash ON session_tokens (token_hash);
-- "My tokens", and revoking every session of a user being disabled.
CREATE INDEX idx_session_tokens_user ON session_tokens (user_id, kind)
  WHERE revoked_at IS NULL;
-- Purging expired and revoked rows.
CREATE INDEX idx_session_tokens_expires ON session_tokens (expires_at)
  WHERE expires_at IS NOT NULL;

-- The one-time link `serve` prints while no user exists (docs/auth.md): whoever
-- opens it and signs in first becomes admin. Single use, expiring.
CREATE TABLE setup_tokens (
  id         bigserial PRIMARY KEY,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  -- Kept for the record if that user is later deleted.
  used_by    bigint REFERENCES users (id) ON DELETE SET NULL,
  CHECK (used_by IS NULL OR used_at IS NOT NULL)
);

-- Plex PIN sign-ins in progress. Kept in PostgreSQL rather than in memory so
-- that a poll may land on any instance (docs/architecture.md#scaling-out), Redis being optional.
-- A Plex PIN id is a guessable number, so each PIN is bound to the browser
-- that asked for it: a random nonce in an HttpOnly cookie, stored here only
-- as its hash and checked on every poll.
CREATE TABLE plex_pins (
  id           bigserial PRIMARY KEY,
  plex_pin_id  bigint NOT NULL,
  code         text NOT NULL,
  nonce_hash   bytea NOT NULL CHECK (octet_length(nonce_hash) = 32),
  status       text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'completed', 'denied', 'expired')),
  -- Where to send the browser after sign-in: a same-origin relative path only
  -- (no scheme, no "//host"), so a PIN cannot become an open redirect.
  return_to    text CHECK (return_to ~ '^/([^/\\]|$)'),
  -- Set when the PIN completes: the user it signed in.
  user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
  -- Why a completed poll was refused (e.g. no access to the Plex server).
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  completed_at timestamptz,
  CHECK (status <> 'completed' OR (user_id IS NOT NULL AND completed_at IS NOT NULL))
);
-- Not unique: plex.tv never reuses an id, but the demo upstream restarts its
-- numbering, and a stale row must not block a new sign-in.
CREATE INDEX idx_plex_pins_plex_pin_id ON plex_pins (plex_pin_id);
CREATE INDEX idx_plex_pins_expires ON plex_pins (expires_at);
