#!/usr/bin/env bash
# tests/sh/monitoring_test.sh — deploy/prometheus and deploy/grafana against a
# real server: promtool accepts the scrape config and the alert rules; a real
# Prometheus, started from that scrape config (bearer token from a file),
# scrapes a running MediaNest; every query of the Grafana dashboard and of
# the alerts names metrics the server really exposes, and Prometheus runs
# each of them without error.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

TMP=$(mktemp -d)
PROM_PID=""
cleanup() {
  [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  t_stop
  t_services_down "$TMP/svc"
  rm -rf -- "$TMP"
}
trap cleanup EXIT
DASH=$T_ROOT/deploy/grafana/medianest-dashboard.json
PROM=$T_ROOT/deploy/prometheus

# A non-loopback address of this machine, when it has one: /metrics then
# demands the token, as it does for a Prometheus on another host.
HOST=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -E '^[0-9]+(\.[0-9]+){3}$' || true)
HOST=${HOST:-127.0.0.1}
TOKEN=$(openssl rand -hex 24)
t_services "$TMP/svc" || { echo "# services failed"; ok "services start" false; t_done monitoring_test; exit 1; }
cat >"$TMP/config.lua" <<LUA
return { listen = "$HOST:0", metrics = { token = "$TOKEN" } }
LUA
ok "medianest serves the test config" 't_serve "$TMP" -c "$TMP/config.lua"'
TARGET=${T_URL#http://}
for p in /health /api/v1/setup /api/v1/nothing-here; do curl -s -o /dev/null "$T_URL$p"; done
# A hot reload (nothing changed: noop), so reloads_total has a series.
ok "medianest reload answers (exit 0)" \
  'MEDIANEST_DATA_DIR=$TMP/data "$(t_bin)" reload -c "$TMP/config.lua" >/dev/null 2>&1'

code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
if [ "$HOST" != 127.0.0.1 ]; then
  ok "/metrics from a non-loopback client without the token is 401" '[ "$(code "$T_URL/metrics")" = 401 ]'
else
  echo "# no non-loopback address here: the 401 without a token is not exercised"
fi
ok "/metrics with the bearer token is 200" \
  '[ "$(code -H "Authorization: Bearer $TOKEN" "$T_URL/metrics")" = 200 ]'
cp "$TMP/body" "$TMP/metrics.txt"
ok "promtool check metrics finds no problem in the exposition" \
  'promtool check metrics <"$TMP/metrics.txt" >"$TMP/lint.out" 2>&1'
sed 's/^/#   /' "$TMP/lint.out" | head -20

# --- the scrape config and the rules, as shipped (paths pointed here) --------
mkdir -p "$TMP/prom"
printf '%s\n' "$TOKEN" >"$TMP/prom/medianest.token"
cp "$PROM/medianest-alerts.yml" "$TMP/prom/"
sed -e "s#/etc/prometheus/medianest.token#$TMP/prom/medianest.token#" \
    -e "s#- 127.0.0.1:8080 .*#- $TARGET#" \
    -e 's#scrape_interval: 15s#scrape_interval: 1s#' \
    "$PROM/prometheus.yml" >"$TMP/prom/prometheus.yml"
ok "only the token path, the target and the interval were changed" \
  '[ "$(diff "$PROM/prometheus.yml" "$TMP/prom/prometheus.yml" | grep -c "^>")" = 3 ]'
ok "promtool check config accepts prometheus.yml (and the rules it names)" \
  'promtool check config "$TMP/prom/prometheus.yml" >"$TMP/check.out" 2>&1 || { sed "s/^/#   /" "$TMP/check.out"; false; }'
ok "promtool check rules accepts medianest-alerts.yml" \
  'promtool check rules "$PROM/medianest-alerts.yml" >/dev/null 2>&1'

# --- the dashboard is Grafana dashboard JSON ---------------------------------
ok "the dashboard is JSON with a schemaVersion, a uid and a title" \
  'jq -e "(.schemaVersion | type == \"number\" and . >= 30) and (.uid | type == \"string\") and (.title | length > 0)" "$DASH" >/dev/null'
ok "every panel has an id, a type, a gridPos, a Prometheus datasource and targets with expr and refId" \
  'jq -e "(.panels | length >= 8) and ([.panels[].id] | length == (unique | length)) and all(.panels[];
     (.type | type == \"string\") and (.gridPos | has(\"x\") and has(\"y\") and has(\"w\") and has(\"h\"))
     and .datasource.type == \"prometheus\" and (.targets | length > 0)
     and all(.targets[]; (.expr | length > 0) and (.refId | length > 0) and .datasource.type == \"prometheus\"))" "$DASH" >/dev/null'
ok "the datasource and instance variables are defined" \
  '[ "$(jq -r "[.templating.list[].name] | sort | join(\",\")" "$DASH")" = datasource,instance ]'
for want in 'request rate' latency error pool 'cache hit' websocket reload; do
  ok "a panel shows: $want" 'jq -e --arg w "$want" "any(.panels[]; .title | ascii_downcase | contains(\$w))" "$DASH" >/dev/null'
done

# --- every metric a query names exists on /metrics ---------------------------
# Grafana's macros, as Prometheus would see them after Grafana expands them.
expand() { sed -e 's/\$__rate_interval/1m/g; s/\$__range/1h/g; s/\$__interval/15s/g; s/\$instance/.*/g'; }
jq -r '.panels[].targets[].expr' "$DASH" | expand >"$TMP/exprs"
# alert expressions: each `expr:` (folded | blocks joined)
awk '/^ *expr: *\|/ {b=1; e=""; next} b && /^ *[a-z]+:/ {print e; b=0}
     b {sub(/^ +/, " "); e=e $0; next} /^ *expr: / {sub(/^ *expr: */, ""); print}
     END {if (b) print e}' "$PROM/medianest-alerts.yml" >"$TMP/alert_exprs"
cat "$TMP/alert_exprs" >>"$TMP/exprs"
ok "the dashboard and the alerts hold at least 20 queries" '[ "$(wc -l <"$TMP/exprs")" -ge 20 ]'
# exposed names: each TYPE line; a histogram's series are its _bucket/_count/_sum
awk '$1 == "#" && $2 == "TYPE" { print $3; if ($4 == "histogram") { print $3 "_bucket"; print $3 "_count"; print $3 "_sum" } }' \
  "$TMP/metrics.txt" | sort -u >"$TMP/exposed"
echo up >>"$TMP/exposed"   # Prometheus's own, per target
grep -oE '[a-zA-Z_:][a-zA-Z0-9_:]*\{' "$TMP/exprs" | tr -d '{' | sort -u >"$TMP/used"
missing=$(comm -23 "$TMP/used" <(sort -u "$TMP/exposed") | tr '\n' ' ')
ok "every metric the queries use is exposed by the server${missing:+ (missing: $missing)}" \
  '[ -s "$TMP/used" ] && [ -z "$missing" ]'
ok "every query names a metric with a selector" \
  '! grep -vqE "[a-zA-Z_:][a-zA-Z0-9_:]*\{" "$TMP/exprs"'

# --- a real Prometheus scrapes it and runs every query -----------------------
PPORT=$(t_free_port)
prometheus --config.file="$TMP/prom/prometheus.yml" --storage.tsdb.path="$TMP/prom/data" \
  --web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom/log" 2>&1 &
PROM_PID=$!
PQ=http://127.0.0.1:$PPORT/api/v1/query
query() { curl -s -G --data-urlencode "query=$1" "$PQ"; }
up_ok() { [ "$(query 'up{job="medianest"}' | jq -r '.data.result[0].value[1] // empty')" = 1 ]; }
ok "Prometheus scrapes MediaNest with the bearer token from credentials_file (up == 1)" 't_wait 60 up_ok'
# Two scrapes, so that rate() has two points.
two() { [ "$(query 'count_over_time(up{job="medianest"}[1m])' | jq -r '.data.result[0].value[1] // 0')" -ge 3 ]; }
t_wait 30 two
bad=""
while IFS= read -r e; do
  [ "$(query "$e" | jq -r .status)" = success ] || bad="$bad [$e]"
done <"$TMP/exprs"
ok "Prometheus evaluates every dashboard and alert query without error${bad:+:$bad}" '[ -z "$bad" ]'
nonempty() { [ "$(query "$(expand <<<"$1")" | jq '.data.result | length')" -gt 0 ]; }
for i in 0 1 4 7 8; do
  e=$(jq -r ".panels[$i].targets[0].expr" "$DASH")
  t=$(jq -r ".panels[$i].title" "$DASH")
  ok "the panel \"$t\" has data from the running server" 'nonempty "$e"'
done

t_done monitoring_test
