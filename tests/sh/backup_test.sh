#!/usr/bin/env bash
# tests/sh/backup_test.sh — scripts/backup and scripts/restore prove a restore
# works: data is made through the real server (serve --demo: a Plex sign-in
# that makes the first admin, an API token, a media request, a YouTube
# download with its file, a webhook secret saved encrypted by the admin API),
# backed up while the server runs, destroyed (database dropped, data directory
# and download folder deleted), restored into a fresh database and empty
# folders, and the server started again finds all of it — the token still
# signs in, the request and the download are there, the file is the same, and
# the webhook secret still decrypts. Without the key it no longer does.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

TMP=$(mktemp -d)
chmod 755 "$TMP"
cleanup() { t_stop; t_services_down "$TMP/svc"; rm -rf -- "$TMP"; }
trap cleanup EXIT
PSQL=("$MN_PG_BIN/psql" -X -q -tA -v ON_ERROR_STOP=1)
t_services "$TMP/svc" || { ok "services start" false; t_done backup_test; exit 1; }
ADMIN_URL=${DATABASE_URL%/*}/postgres
sql() { "${PSQL[@]}" -d "$DATABASE_URL" -c "$1"; }

PORT=$(t_free_port)
export MEDIANEST_DATA_DIR=$TMP/data
cat >"$TMP/config.lua" <<LUA
return {
  listen = "127.0.0.1:$PORT",
  services = { youtube = { root = "$TMP/youtube" } },
}
LUA
serve() { t_serve "$TMP/run" -c "$TMP/config.lua" --demo; }
B=http://127.0.0.1:$PORT
api() { curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" "$@"; }
SECRET=restore-proof-$(openssl rand -hex 8)
webhook() {   # webhook SECRET -> the HTTP status of a test notification
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $1" -H 'Content-Type: application/json' \
    -d '{"notification_type":"TEST_NOTIFICATION","subject":"backup test"}' "$B/api/v1/webhooks/overseerr"
}

# --- make data through the server --------------------------------------------
ok "the server starts on an empty database" serve
SETUP=$(t_setup_token "$TMP/run")
jar=$TMP/jar
pin=$(curl -s -c "$jar" -b "$jar" -H 'Content-Type: application/json' -d "{\"setupToken\":\"$SETUP\"}" \
  "$B/api/v1/auth/plex/pin")
curl -s -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"code\":\"$(jq -r .code <<<"$pin")\",\"user\":\"owner\"}" "$B/demo/plextv/auth/approve"
done_=$(curl -s -c "$jar" -b "$jar" "$B/api/v1/auth/plex/pin/$(jq -r .id <<<"$pin")")
ok "the owner signs in through the setup link and is admin" \
  '[ "$(jq -r ".user.role" <<<"$done_")" = admin ]'
TOKEN=$(curl -s -b "$jar" -H "X-CSRF-Token: $(jq -r .csrfToken <<<"$done_")" -H 'Content-Type: application/json' \
  -d '{"name":"backup-test"}' "$B/api/v1/auth/tokens" | jq -r '.token // empty')
ok "an API token is made" '[ -n "$TOKEN" ]'
ok "the owner's Plex token is stored sealed" \
  '[ "$(sql "SELECT count(*) FROM users WHERE plex_token_enc IS NOT NULL")" = 1 ]'
saved=$(api -X PUT -H 'Content-Type: application/json' -d "{\"webhookSecret\":\"$SECRET\"}" \
  "$B/api/v1/admin/services/overseerr")
ok "the admin API saves a webhook secret" '[ "$(jq -r .webhookSecret.source <<<"$saved")" = saved ]'
ok "it is stored encrypted, not in plain text" \
  '[ "$(sql "SELECT count(*) FROM service_config WHERE name = '"'overseerr'"' AND webhook_secret_enc IS NOT NULL")" = 1 ] &&
   ! sql "SELECT * FROM service_config" | grep -qF "$SECRET"'
ok "the saved secret opens the webhook (and a wrong one does not)" \
  '[[ "$(webhook "$SECRET")" =~ ^20[04]$ ]] && [ "$(webhook wrong)" = 401 ]'
api -H 'Content-Type: application/json' -d '{"tmdbId":900001,"mediaType":"movie"}' \
  "$B/api/v1/media/request" >"$TMP/request.json"
REQ=$(jq -r '.id // .request.id // empty' "$TMP/request.json")
ok "a media request is made" '[ -n "$REQ" ] || { head -c 300 "$TMP/request.json" | sed "s/^/#   /"; false; }'
DL=$(api -H 'Content-Type: application/json' \
  -d '{"url":"https://www.youtube.com/watch?v=bkpTest0001","quality":"720"}' \
  "$B/api/v1/youtube/downloads" | jq -r '.download.id // empty')
ok "a YouTube download is queued" '[ -n "$DL" ]'
dl_done() { [ "$(api "$B/api/v1/youtube/downloads/$DL" | jq -r .download.status)" = completed ]; }
ok "the download completes" 't_wait 60 dl_done'
FILE=$(find "$TMP/youtube" -type f -name '*bkpTest0001*' ! -name '*.jpg' ! -name '*.nfo' | head -n 1)
ok "its video file is in the download folder" '[ -n "$FILE" ] && [ -s "$FILE" ]'
SUM=$(sha256sum <"$FILE" 2>/dev/null | cut -d" " -f1)
ok "the data directory holds the secret key" '[ -s "$TMP/data/secret.key" ]'
KEYSUM=$(sha256sum <"$TMP/data/secret.key" | cut -d" " -f1)

# --- back up while it runs -----------------------------------------------------
BK=$("$T_ROOT/scripts/backup" -c "$TMP/config.lua" --downloads "$TMP/backups" 2>"$TMP/backup.err")
ok "scripts/backup succeeds while the server runs" '[ -n "$BK" ] && [ -d "$BK" ] || { sed "s/^/#   /" "$TMP/backup.err"; false; }'
ok "the backup has the dump, the data directory, the downloads, a manifest and checksums" \
  '[ -s "$BK/database.dump" ] && [ -s "$BK/data.tar.gz" ] && [ -s "$BK/downloads.tar" ] &&
   [ -s "$BK/MANIFEST" ] && (cd "$BK" && sha256sum --quiet -c SHA256SUMS)'
ok "the dump is PostgreSQL custom format" '[ "$(head -c 5 "$BK/database.dump")" = PGDMP ]'
ok "the key is in the data archive, and the caches and pid file are not" \
  'tar -tzf "$BK/data.tar.gz" | grep -qx "./secret.key" && ! tar -tzf "$BK/data.tar.gz" | grep -qE "^\./(images|cache)/|medianest\.pid"'
ok "only root can read the backup" '[ "$(stat -c %a "$BK")" = 700 ]'

# A key given in the configuration (not a file) is written into the backup.
KEY=$(openssl rand -hex 32)
sed "s/^return {/return {\n  secret_key = \"$KEY\",/" "$TMP/config.lua" >"$TMP/config-key.lua"
BK2=$("$T_ROOT/scripts/backup" -c "$TMP/config-key.lua" "$TMP/backups-key" 2>/dev/null)
ok "with secret_key configured, the backup carries that key and says so" \
  '[ "$(cat "$BK2/secret_key" 2>/dev/null)" = "$KEY" ] && grep -qx "key secret_key" "$BK2/MANIFEST"'
BK3=$("$T_ROOT/scripts/backup" -c "$TMP/config.lua" --no-key "$TMP/backups-nokey" 2>/dev/null)
ok "--no-key leaves the key file out" \
  '[ -d "$BK3" ] && ! tar -tzf "$BK3/data.tar.gz" | grep -qx "./secret.key" && grep -qx "key left-out" "$BK3/MANIFEST"'

# --- destroy -------------------------------------------------------------------
t_stop
"${PSQL[@]}" -d "$ADMIN_URL" -U postgres -c "DROP DATABASE medianest WITH (FORCE)"
rm -rf -- "$TMP/data" "$TMP/youtube"
"${PSQL[@]}" -d "$ADMIN_URL" -U postgres -c "CREATE DATABASE medianest_restored OWNER medianest"
export DATABASE_URL=${DATABASE_URL%/*}/medianest_restored
ok "the original database, data directory and downloads are gone" \
  '[ ! -e "$TMP/data" ] && [ ! -e "$TMP/youtube" ] &&
   [ "$("${PSQL[@]}" -d "$ADMIN_URL" -c "SELECT count(*) FROM pg_database WHERE datname = '"'medianest'"'")" = 0 ]'

# --- restore -------------------------------------------------------------------
mkdir -p "$TMP/youtube" && touch "$TMP/youtube/stray"
ok "restore refuses a download folder that is not empty, and changes nothing" \
  '! "$T_ROOT/scripts/restore" -c "$TMP/config.lua" --downloads "$BK" 2>/dev/null &&
   [ "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = '"'public'"'")" = 0 ]'
rm -rf -- "$TMP/youtube"
ok "scripts/restore puts it all back into the fresh database and empty folders" \
  '"$T_ROOT/scripts/restore" -c "$TMP/config.lua" --downloads "$BK" 2>"$TMP/restore.err" ||
   { sed "s/^/#   /" "$TMP/restore.err"; false; }'
ok "restore refuses a database that is not empty" \
  '! "$T_ROOT/scripts/restore" -c "$TMP/config.lua" "$BK" 2>"$TMP/restore2.err" &&
   grep -q "not empty" "$TMP/restore2.err"'
ok "the key came back unchanged" '[ "$(sha256sum <"$TMP/data/secret.key" | cut -d" " -f1)" = "$KEYSUM" ]'

# --- the restored server -------------------------------------------------------
ok "the server starts on the restored data" serve
ok "no setup needed: the admin exists" \
  '[ "$(curl -s "$B/api/v1/setup" | jq -r .setupRequired)" = false ]'
ok "the API token still signs the owner in" \
  '[ "$(api "$B/api/v1/auth/session" | jq -r ".user.username + \" \" + .user.role")" = "owner admin" ]'
ok "the media request is there" \
  '[ "$(api "$B/api/v1/media/requests/$REQ" | jq -r ".tmdbId // .request.tmdbId")" = 900001 ]'
ok "the download is there, completed" dl_done
ok "its file is back, byte for byte" \
  '[ -n "$FILE" ] && [ "$(sha256sum <"$FILE" | cut -d" " -f1)" = "$SUM" ]'
ok "the encrypted webhook secret still decrypts: the webhook opens with it" \
  '[[ "$(webhook "$SECRET")" =~ ^20[04]$ ]] && [ "$(webhook wrong)" = 401 ]'
ok "the admin view shows the secret as saved" \
  '[ "$(api "$B/api/v1/admin/services/overseerr" | jq -r .webhookSecret.source)" = saved ]'
t_stop

# --- the key matters -----------------------------------------------------------
mv "$TMP/data/secret.key" "$TMP/secret.key.kept"
serve >/dev/null
ok "with another key (the original not restored) the saved secret no longer opens the webhook" \
  '! [[ "$(webhook "$SECRET")" =~ ^20[04]$ ]]'
t_stop

t_done backup_test
