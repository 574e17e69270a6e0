#!/usr/bin/env bash
# tests/sh/install_doc_test.sh — the configuration docs/install.md tells an
# operator to write is valid (`medianest check` on the very block, as the
# systemd unit's ExecStartPre runs it), and it agrees with the shipped unit:
# its data_dir and download folder are the unit's ReadWritePaths, its listen
# address is the upstream of both proxy examples.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT
DOC=$T_ROOT/docs/install.md
# the ```lua block after the marker comment
awk '/<!-- install-config:/ {m=1; next} m && /^```lua/ {b=1; next} b && /^```/ {exit} b {print}' \
  "$DOC" >"$TMP/config.lua"
ok "docs/install.md has the marked config block" 'grep -q "^return {" "$TMP/config.lua"'
ok "medianest check accepts it" \
  'env -u DATABASE_URL -u REDIS_URL -u MEDIANEST_DATA_DIR PLEX_TOKEN=t OVERSEERR_API_KEY=k \
     "$(t_bin)" check -c "$TMP/config.lua" >"$TMP/check.out" 2>&1 || { sed "s/^/#   /" "$TMP/check.out"; false; }'
printf 'return {\n  ratelimits = {}\n}\n' >"$TMP/typo.lua"
ok "medianest check refuses a typo (so the check above means something)" \
  '! "$(t_bin)" check -c "$TMP/typo.lua" >/dev/null 2>&1'

field() { sed -n "s/^ *$1 = \"\\([^\"]*\\)\".*/\\1/p" "$TMP/config.lua" | head -n 1; }
data_dir=$(field data_dir)
root=$(sed -n 's/.*youtube = { root = "\([^"]*\)".*/\1/p' "$TMP/config.lua")
listen=$(field listen)
rw=$(sed -n 's/^ReadWritePaths=//p' "$T_ROOT/deploy/systemd/medianest.service")
ok "the unit may write the documented data_dir ($data_dir)" '[ -n "$data_dir" ] && [[ " $rw " == *" $data_dir "* ]]'
ok "the unit may write the documented download folder ($root)" '[ -n "$root" ] && [[ " $rw " == *" $root "* ]]'
ok "the unit serves /etc/medianest/config.lua, the file the guide writes" \
  'grep -q "^ExecStart=.* -c /etc/medianest/config.lua$" "$T_ROOT/deploy/systemd/medianest.service" &&
   grep -q "^-- /etc/medianest/config.lua" "$TMP/config.lua"'
ok "nginx's upstream is the documented listen address ($listen)" \
  'grep -q "^    server $listen;" "$T_ROOT/deploy/nginx/medianest.conf"'
ok "Caddy's upstream is the documented listen address" \
  'grep -q "reverse_proxy $listen " "$T_ROOT/deploy/caddy/Caddyfile"'
ok "the Prometheus target is the documented listen address" \
  'grep -q -- "- $listen " "$T_ROOT/deploy/prometheus/prometheus.yml"'

t_done install_doc_test
