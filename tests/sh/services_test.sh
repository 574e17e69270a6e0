#!/usr/bin/env bash
# tests/sh/services_test.sh — provisioning (scripts/lib/services.sh) and the
# schema (migrations/*.sql), end to end: bring PostgreSQL and Redis up in a
# temporary directory, apply every migration the way the runner does (each in
# one transaction), check the schema, prove a second start reuses the same
# servers, and tear everything down. Prints one TAP line per check; exits
# non-zero when one fails.
#
# Checks are shell code strings run by eval (single-quoted $ everywhere); the
# subshells that change the environment do so on purpose.
# shellcheck disable=SC2016,SC2034,SC2030,SC2031
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib/services.sh
source "$ROOT/scripts/lib/services.sh"

PSQL=("$MN_PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1)
n=0 failed=0
ok() {   # ok DESCRIPTION CODE — evaluate the shell CODE, report it as one check
  n=$((n + 1))
  if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi
}
sql() { "${PSQL[@]}" -d "$DATABASE_URL" -c "$1"; }

# The servers under test are ours alone: whatever the caller's environment
# points at is not used.
unset DATABASE_URL REDIS_URL MN_TEST_DB
TMP=$(mktemp -d)   # mode 0700: as root, postgres cannot reach it
DIR=$TMP/data
cleanup() {
  mn_drop_test_db
  mn_services_reset "$DIR" 2>/dev/null
  mn_services_reset "$TMP/other" 2>/dev/null
  rm -rf -- "$TMP"
}
trap cleanup EXIT

# --- bring up (test mode) ---------------------------------------------------
ok "mn_services_up starts PostgreSQL and Redis" 'mn_services_up "$DIR" test'
ok "DATABASE_URL is a loopback URL for the medianest role" \
  '[[ "${DATABASE_URL:-}" =~ ^postgresql://medianest@127\.0\.0\.1:[0-9]+/medianest$ ]]'
ok "REDIS_URL is a loopback URL" '[[ "${REDIS_URL:-}" =~ ^redis://127\.0\.0\.1:[0-9]+/0$ ]]'
ok "PostgreSQL answers on DATABASE_URL" '[ "$(sql "SELECT 1")" = 1 ]'
ok "Redis answers on REDIS_URL" '[ "$(redis-cli -u "$REDIS_URL" ping)" = PONG ]'
ok "the test cluster runs with fsync off" '[ "$(sql "SHOW fsync")" = off ]'
ok "PostgreSQL listens on 127.0.0.1 only" '[ "$(sql "SHOW listen_addresses")" = 127.0.0.1 ]'
if [ "$(id -u)" -eq 0 ]; then
  ok "as root, an unreachable DIR puts the cluster in /var/tmp behind a symlink" \
    '[ -L "$DIR/test/pg" ] && [[ "$(readlink "$DIR/test/pg")" == /var/tmp/medianest-pg-*/test ]]'
  ok "as root, the cluster belongs to the postgres user" \
    '[ "$(stat -c %U "$(readlink "$DIR/test/pg")/data")" = postgres ]'
fi

# --- migrations, in a fresh database -----------------------------------------
first_url=$DATABASE_URL first_redis=$REDIS_URL
ok "mn_fresh_test_db creates a database and points DATABASE_URL at it" 'mn_fresh_test_db'
ok "the fresh database is the one DATABASE_URL names" \
  '[ -n "${MN_TEST_DB:-}" ] && [ "$(sql "SELECT current_database()")" = "$MN_TEST_DB" ]'
applied=0 total=0
for f in "$ROOT"/migrations/*.sql; do
  total=$((total + 1))
  if "${PSQL[@]}" --single-transaction -d "$DATABASE_URL" -f "$f" >/dev/null; then
    applied=$((applied + 1))
  else
    echo "# migration $(basename "$f") failed"
  fi
done
ok "all $total migrations apply in order, each in one transaction" \
  '[ "$total" -gt 0 ] && [ "$applied" -eq "$total" ]'
for idx in idx_session_tokens_hash idx_media_requests_user_created \
           idx_youtube_downloads_user_status idx_service_status_name_updated; do
  ok "index $idx exists" \
    '[ "$(sql "SELECT count(*) FROM pg_indexes WHERE indexname = '"'$idx'"'")" = 1 ]'
done
indexdef() { sql "SELECT indexdef FROM pg_indexes WHERE indexname = '$1'"; }
ok "idx_session_tokens_hash is on session_tokens (token_hash)" \
  '[[ "$(indexdef idx_session_tokens_hash)" == *" ON public.session_tokens USING btree (token_hash)" ]]'
ok "idx_media_requests_user_created is on media_requests (user_id, created_at DESC)" \
  '[[ "$(indexdef idx_media_requests_user_created)" == *" ON public.media_requests USING btree (user_id, created_at DESC)" ]]'
ok "idx_youtube_downloads_user_status is on (user_id, status), partial on active statuses" \
  '[[ "$(indexdef idx_youtube_downloads_user_status)" == *" ON public.youtube_downloads USING btree (user_id, status) WHERE (status = ANY (ARRAY['"'queued'::text, 'downloading'::text"']))" ]]'
ok "idx_service_status_name_updated is on service_status (service_name, last_check_at DESC)" \
  '[[ "$(indexdef idx_service_status_name_updated)" == *" ON public.service_status USING btree (service_name, last_check_at DESC)" ]]'
missing=""
for t in users session_tokens setup_tokens plex_pins media_requests request_watchers \
         media_request_status_history youtube_downloads youtube_items service_config \
         service_status monitor_visibility notifications rum_samples rum_histograms \
         error_reports jobs rate_limit_counters; do
  [ "$(sql "SELECT to_regclass('public.$t') IS NOT NULL")" = t ] || missing="$missing $t"
done
ok "every table of the data model exists${missing:+ (missing:$missing)}" '[ -z "$missing" ]'
ok "schema_migrations is left to the migration runner" \
  '[ "$(sql "SELECT to_regclass('"'public.schema_migrations'"') IS NULL")" = t ]'
ok "every timestamp column is timestamptz" '[ "$(sql "SELECT count(*) FROM information_schema.columns
  WHERE table_schema = '"'public'"' AND data_type = '"'timestamp without time zone'"'")" = 0 ]'
ok "every foreign key to users says CASCADE or SET NULL" '[ "$(sql "SELECT count(*)
  FROM pg_constraint WHERE contype = '"'f'"' AND confrelid = '"'users'"'::regclass
  AND confdeltype NOT IN ('"'c', 'n'"')")" = 0 ]'

# A few rules the schema itself enforces. Each sql call is one transaction.
sql "INSERT INTO users (username, plex_id) VALUES ('Alice', 1), ('bob', 2)" >/dev/null
ok "usernames are unique regardless of case" \
  '! sql "INSERT INTO users (username) VALUES ('"'alice'"')" 2>/dev/null'
movie() {  # movie USER TMDB [STATUS]
  sql "INSERT INTO media_requests (user_id, tmdb_id, media_type, title, status)
       VALUES ($1, $2, 'movie', 'title', '${3:-pending}')" >/dev/null
}
ok "a second live request for the same movie is refused" 'movie 1 603 && ! movie 2 603 2>/dev/null'
ok "a declined movie request does not block a new one" 'movie 1 604 declined && movie 2 604'
ok "an unknown request status is refused" '! movie 1 605 done 2>/dev/null'
download() {  # download USER YOUTUBE_ID
  sql "INSERT INTO youtube_downloads (user_id, url, kind, youtube_id)
       VALUES ($1, 'https://youtu.be/$2', 'video', '$2')" >/dev/null
}
ok "a duplicate active YouTube download is refused" 'download 1 abc && ! download 1 abc 2>/dev/null'
ok "another user may download the same video" 'download 2 abc'
ok "updated_at moves on update" '[ "$(sql "
  UPDATE users SET updated_at = now() - interval '"'1 day'"' WHERE id = 1;
  UPDATE users SET email = '"'a@example.org'"' WHERE id = 1;
  SELECT updated_at > now() - interval '"'1 minute'"' FROM users WHERE id = 1")" = t ]'
ok "deleting a user keeps their media request, without an author" '[ "$(sql "
  DELETE FROM users WHERE id = 1;
  SELECT count(*) FROM media_requests WHERE tmdb_id = 603 AND user_id IS NULL")" = 1 ]'
ok "deleting a user deletes their downloads" \
  '[ "$(sql "SELECT count(*) FROM youtube_downloads WHERE user_id IS NULL OR user_id = 1")" = 0 ]'

test_db=$MN_TEST_DB
mn_drop_test_db
ok "mn_drop_test_db drops the database and restores DATABASE_URL" \
  '[ "$DATABASE_URL" = "$first_url" ] &&
   [ "$(sql "SELECT count(*) FROM pg_database WHERE datname = '"'$test_db'"'")" = 0 ]'

# --- reuse -------------------------------------------------------------------
pgdata=$(readlink -f "$DIR/test/pg")/data
pg_pid=$(head -n 1 "$pgdata/postmaster.pid")
redis_pid=$(<"$DIR/test/redis.pid")
ok "a second mn_services_up succeeds" 'mn_services_up "$DIR" test'
ok "it reuses the same PostgreSQL (same URL, same postmaster)" \
  '[ "$DATABASE_URL" = "$first_url" ] && [ "$(head -n 1 "$pgdata/postmaster.pid")" = "$pg_pid" ]'
ok "it reuses the same Redis (same URL, same process)" \
  '[ "$REDIS_URL" = "$first_redis" ] && [ "$(<"$DIR/test/redis.pid")" = "$redis_pid" ]'

# --- a URL given in the environment wins ------------------------------------
given_url() (
  unset _MN_OWN_DATABASE_URL _MN_OWN_REDIS_URL
  export DATABASE_URL=$first_url REDIS_URL=""
  mn_services_up "$TMP/other" test 2>/dev/null &&
    [ "$DATABASE_URL" = "$first_url" ] && [ "$MN_PG_MANAGED" = 0 ] &&
    [ -z "$REDIS_URL" ] && [ ! -e "$TMP/other/test/pg" ] && [ ! -e "$TMP/other/test/redis.pid" ]
)
ok "a DATABASE_URL from the environment is used, and REDIS_URL='' means no Redis" given_url

# --- the run cluster is durable, and lives in DIR when reachable ------------
run_cluster() (
  unset DATABASE_URL REDIS_URL
  chmod 755 "$TMP"
  mn_services_up "$DIR" run 2>/dev/null &&
    [ "$(sql "SHOW fsync")" = on ] && [ -d "$DIR/run/pg" ] && [ ! -L "$DIR/run/pg" ] &&
    [ "$DATABASE_URL" != "$first_url" ] && [ "$REDIS_URL" != "$first_redis" ]
)
ok "the run cluster is separate, keeps fsync on, and has its data in DIR when reachable" run_cluster

# --- down and reset ----------------------------------------------------------
port=${first_url##*:}; port=${port%%/*}
ok "mn_services_down stops everything" 'mn_services_down "$DIR"'
ok "PostgreSQL no longer answers" '! "$MN_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1'
ok "Redis no longer answers" '! redis-cli -u "$first_redis" ping >/dev/null 2>&1'
ok "mn_services_down again is a no-op" 'mn_services_down "$DIR"'
fallback=$(readlink "$DIR/test/pg" 2>/dev/null || true)
ok "mn_services_reset removes all state" 'mn_services_reset "$DIR"'
ok "nothing is left behind" \
  '[ ! -e "$DIR/test" ] && [ ! -e "$DIR/run" ] && { [ -z "$fallback" ] || [ ! -e "$fallback" ]; }'

echo "# services_test: $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
