-- 0007_auth.sql — what the Plex sign-in needs beyond 0001: the install's
-- stable plex.tv client identifier, and on each PIN the setup link it came
-- through and the session it produced.

-- Settings of this installation that every instance must agree on (one
-- row per key). plex.tv wants one stable X-Plex-Client-Identifier per
-- install ("Authorized Devices" lists it); it is made here, once.
CREATE TABLE install_settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO install_settings (key, value)
  VALUES ('plex_client_identifier', 'medianest-' || gen_random_uuid()::text);

-- The setup link a PIN was asked through (POST /auth/plex/pin {setupToken}):
-- checked when the PIN is made, consumed when it completes.
ALTER TABLE plex_pins
  ADD COLUMN setup_token_id bigint REFERENCES setup_tokens (id) ON DELETE SET NULL;
-- The session a completed PIN produced: issued once (the poll that claims
-- it sets the cookie); later polls of the same browser only see the user.
ALTER TABLE plex_pins
  ADD COLUMN session_id bigint REFERENCES session_tokens (id) ON DELETE SET NULL;
ALTER TABLE plex_pins ADD COLUMN session_claimed_at timestamptz;
