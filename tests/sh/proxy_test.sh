#!/usr/bin/env bash
# tests/sh/proxy_test.sh — deploy/nginx/medianest.conf and deploy/caddy/Caddyfile
# in front of a real MediaNest (serve --demo, with the settings docs/proxy.md
# gives: trusted_proxies, an https public_url, hsts). Each proxy runs here as
# the current user on free ports (nginx with a self-signed certificate made by
# openssl, Caddy with `tls internal` and no trust-store install), with only
# its addresses and certificate changed, and is gone through over HTTPS: the
# page, the API, a whole Plex sign-in (Secure HttpOnly cookies), a WebSocket
# round trip, HSTS, the redirect from http, and the client address MediaNest
# logs: the real one, never an X-Forwarded-For a client made up.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

TMP=$(mktemp -d)
chmod 755 "$TMP"
PROXY_PID=""
stop_proxy() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  PROXY_PID=""
}
cleanup() { stop_proxy; t_stop; t_services_down "$TMP/svc"; rm -rf -- "$TMP"; }
trap cleanup EXIT

MPORT=$(t_free_port) PPORT=$(t_free_port) HPORT=$(t_free_port)
B=https://127.0.0.1:$PPORT
t_services "$TMP/svc" || { ok "services start" false; t_done proxy_test; exit 1; }
cat >"$TMP/config.lua" <<LUA
return {
  listen = "127.0.0.1:$MPORT",
  public_url = "$B",
  trusted_proxies = { "127.0.0.1" },
  security_headers = { hsts = true },
}
LUA
ok "medianest serves behind the proxy settings" 't_serve "$TMP/mn" -c "$TMP/config.lua" --demo'
SETUP=$(t_setup_token "$TMP/mn")
ok "the setup link is on the public (https) URL" 'grep -q "^setup: open $B/setup?token=" "$TMP/mn/out.log"'

# curl through the proxy; the client address is a loopback alias of our choice.
pc() { curl -sk --max-time 10 "$@"; }
logged_ip() {   # logged_ip IP — MediaNest's access log has a request from IP
  grep -F '"msg":"request"' "$TMP/mn/err.log" | grep -qF "\"ip\":\"$1\""
}

# check_proxy NAME CLIENT_IP SPOOF_IP — everything a browser does through it
check_proxy() {
  local name=$1 cip=$2 sip=$3 jar=$TMP/$1.jar pin code id csrf sess
  ok "$name: the page over HTTPS is 200 HTML" \
    '[ "$(pc -o "$TMP/page" -w "%{http_code}" "$B/")" = 200 ] && grep -qi "<html" "$TMP/page"'
  pc -D "$TMP/$name.h" -o /dev/null "$B/api/v1/setup"
  ok "$name: one Strict-Transport-Security header, from MediaNest" \
    '[ "$(grep -ci "^strict-transport-security: max-age=[1-9]" "$TMP/$name.h")" = 1 ]'
  ok "$name: the API answers JSON" \
    'pc "$B/api/v1/setup" | jq -e "has(\"setupRequired\")" >/dev/null'
  local body='{}'
  [ -n "$SETUP" ] && body="{\"setupToken\":\"$SETUP\"}"
  pin=$(pc -c "$jar" -b "$jar" -D "$TMP/$name.pin.h" -H 'Content-Type: application/json' -d "$body" \
    "$B/api/v1/auth/plex/pin")
  SETUP=""   # single use
  id=$(jq -r '.id // empty' <<<"$pin"); code=$(jq -r '.code // empty' <<<"$pin")
  ok "$name: a sign-in starts (PIN made)" '[ -n "$id" ] && [ -n "$code" ] || { echo "#   $pin"; false; }'
  pc -o /dev/null -H 'Content-Type: application/json' -d "{\"code\":\"$code\",\"user\":\"owner\"}" \
    "$B/demo/plextv/auth/approve"
  pc -c "$jar" -b "$jar" -D "$TMP/$name.done.h" -o "$TMP/$name.done" "$B/api/v1/auth/plex/pin/$id"
  ok "$name: the sign-in completes as owner" \
    '[ "$(jq -r ".status + \" \" + .user.username" "$TMP/$name.done")" = "approved owner" ]'
  ok "$name: the session cookie is Secure and HttpOnly" \
    'grep -i "^set-cookie: mn_session=" "$TMP/$name.done.h" | grep -qi "; *secure" &&
     grep -i "^set-cookie: mn_session=" "$TMP/$name.done.h" | grep -qi "; *httponly"'
  ok "$name: the PIN cookie is Secure too" \
    'grep -i "^set-cookie: mn_pin=" "$TMP/$name.pin.h" | grep -qi "; *secure"'
  sess=$(awk '$6 == "mn_session" { print $7 }' "$jar")
  ok "$name: the session works through the proxy" \
    '[ "$(pc -b "$jar" "$B/api/v1/auth/session" | jq -r .user.username)" = owner ]'
  ok "$name: a WebSocket upgrade and a ping/pong round trip" \
    'python3 "$T_ROOT/tests/sh/wsprobe.py" "wss://127.0.0.1:$PPORT/ws" "Cookie: mn_session=$sess" \
       "Origin: $B" 2>"$TMP/$name.ws.err" | jq -e ".event == \"pong\" and .data.n == 42" >/dev/null ||
     { sed "s/^/#   /" "$TMP/$name.ws.err"; false; }'
  ok "$name: http is redirected to https" \
    '[[ "$(curl -s -o /dev/null -w "%{http_code} %{redirect_url}" "http://127.0.0.1:$HPORT/x")" =~ ^30[178]\ https:// ]]'
  pc --interface "$cip" -o /dev/null "$B/api/v1/setup"
  ok "$name: MediaNest logs the real client address ($cip), not the proxy's" 't_wait 10 logged_ip "$cip"'
  pc --interface "$sip" -H "X-Forwarded-For: 203.0.113.$((${sip##*.}))" -o /dev/null "$B/api/v1/setup"
  t_wait 10 logged_ip "$sip"
  ok "$name: an X-Forwarded-For a client sends is ignored ($sip logged, not 203.0.113.x)" \
    'logged_ip "$sip" && ! logged_ip "203.0.113.${sip##*.}"'
}

# --- a certificate for nginx -------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
proxy_up() { [ "$(curl -sk -o /dev/null -w '%{http_code}' "$B/health")" = 200 ]; }

# --- nginx -------------------------------------------------------------------
N=$TMP/nginx
mkdir -p "$N"
sed -e "s#^    listen 80;#    listen 127.0.0.1:$HPORT;#" \
    -e "s#^    listen 443 ssl http2;#    listen 127.0.0.1:$PPORT ssl http2;#" \
    -e '/^    listen \[::\]/d' \
    -e "s#^    server 127.0.0.1:8080;#    server 127.0.0.1:$MPORT;#" \
    -e "s#/etc/letsencrypt/live/medianest.example.org/fullchain.pem#$TMP/cert.pem#" \
    -e "s#/etc/letsencrypt/live/medianest.example.org/privkey.pem#$TMP/key.pem#" \
    "$T_ROOT/deploy/nginx/medianest.conf" >"$N/medianest.conf"
ok "nginx: only addresses and certificate paths differ from the shipped file" \
  '[ "$(diff "$T_ROOT/deploy/nginx/medianest.conf" "$N/medianest.conf" | grep -c "^[<>]")" = 12 ]'
{
  [ "$(id -u)" -eq 0 ] && echo "user root;"     # workers as root here: the temp dirs are ours
  echo "daemon off; worker_processes 1; pid $N/nginx.pid; error_log $N/error.log;"
  echo "events { worker_connections 256; }"
  echo "http {"
  echo "  access_log off;"
  for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $N/$t;"; done
  echo "  include $N/medianest.conf;"
  echo "}"
} >"$N/nginx.conf"
ok "nginx -t accepts the config" 'nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log" -t >"$N/t.out" 2>&1 ||
  { sed "s/^/#   /" "$N/t.out"; false; }'
nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log" &
PROXY_PID=$!
ok "nginx starts and proxies /health" 't_wait 20 proxy_up'
check_proxy nginx 127.0.0.2 127.0.0.3
stop_proxy

# --- Caddy -------------------------------------------------------------------
C=$TMP/caddy
mkdir -p "$C"
{
  echo "{"
  echo "  admin off"
  echo "  skip_install_trust"
  echo "  http_port $HPORT"
  echo "  https_port $PPORT"
  echo "  storage file_system $C/data"
  echo "}"
  sed -e "s#^medianest.example.org {#https://127.0.0.1:$PPORT {\n\ttls internal\n\tbind 127.0.0.1#" \
      -e "s#reverse_proxy 127.0.0.1:8080 {#reverse_proxy 127.0.0.1:$MPORT {#" \
      "$T_ROOT/deploy/caddy/Caddyfile"
} >"$C/Caddyfile"
ok "caddy: only the site address, its local TLS and the upstream port differ from the shipped file" \
  '[ "$(diff "$T_ROOT/deploy/caddy/Caddyfile" <(sed 1,7d "$C/Caddyfile") | grep -c "^[<>]")" = 6 ]'
export HOME=$C XDG_DATA_HOME=$C/data XDG_CONFIG_HOME=$C/config
ok "caddy validate accepts the Caddyfile" \
  'caddy validate --config "$C/Caddyfile" --adapter caddyfile >"$C/validate.out" 2>&1 ||
   { tail -5 "$C/validate.out" | sed "s/^/#   /"; false; }'
caddy run --config "$C/Caddyfile" --adapter caddyfile >"$C/log" 2>&1 &
PROXY_PID=$!
ok "caddy starts and proxies /health" 't_wait 30 proxy_up'
check_proxy caddy 127.0.0.4 127.0.0.5

# --- straight to MediaNest, from an address that is no proxy -----------------
curl -s --interface 127.0.0.6 -H "X-Forwarded-For: 203.0.113.6" -o /dev/null "http://127.0.0.1:$MPORT/api/v1/setup"
t_wait 10 logged_ip 127.0.0.6
ok "a client that is not in trusted_proxies cannot pass an address in X-Forwarded-For" \
  'logged_ip 127.0.0.6 && ! logged_ip 203.0.113.6'

t_done proxy_test
