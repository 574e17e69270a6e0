#!/usr/bin/env bash
# tests/sh/systemd_unit_test.sh — deploy/systemd/medianest.service: systemd
# itself finds nothing wrong with it (`systemd-analyze verify`, with the
# install paths pointed at this checkout so the commands exist), it carries
# the hardening the operator's guide promises, its exposure score stays low,
# and its stop timeout covers the server's drain.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

UNIT=$T_ROOT/deploy/systemd/medianest.service
TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT
# /opt/medianest → this checkout: verify checks that ExecStart's program exists.
sed "s#/opt/medianest#$T_ROOT#g" "$UNIT" >"$TMP/medianest.service"
[ -x "$(t_bin)" ] || echo "# $(t_bin) is not built: verify will fail"

verify() { systemd-analyze verify "$1" >"$TMP/verify.out" 2>&1 && [ ! -s "$TMP/verify.out" ]; }
ok "systemd-analyze verify accepts the unit with no warning" 'verify "$TMP/medianest.service"'
[ -s "$TMP/verify.out" ] && sed 's/^/#   /' "$TMP/verify.out"
# The check above can fail: a misspelt key is only a warning, which counts.
sed 's/^ProtectHome=/ProtectHme=/' "$TMP/medianest.service" >"$TMP/typo.service"
ok "a misspelt directive makes verify complain (so the check above means something)" \
  '! verify "$TMP/typo.service"'

has() { grep -qxF -- "$1" "$UNIT"; }
for d in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
         User=medianest Group=medianest 'CapabilityBoundingSet=' \
         'ReadWritePaths=/var/lib/medianest /srv/media/youtube' \
         'ExecReload=/bin/kill -HUP $MAINPID' KillSignal=SIGTERM; do
  ok "the unit sets $d" 'has "$d"'
done
ok "ExecStart serves the installed config" \
  'has "ExecStart=/opt/medianest/build/medianest serve -c /etc/medianest/config.lua"'

# systemd's own score of the sandbox (0 = locked down, 10 = nothing):
# the threshold is on its 0-100 scale. Measured 1.5 when written.
ok "systemd-analyze security rates the exposure at most 2.0" \
  'systemd-analyze security --offline=true --threshold=20 "$TMP/medianest.service" >/dev/null 2>&1'

# SIGTERM waits http.drain_timeout for requests, then children get their
# grace (core/proc.c, 5 s) before SIGKILL: systemd must not SIGKILL sooner.
drain=$(sed -n 's/^ *drain_timeout = \([0-9]*\),.*SIGTERM.*/\1/p' "$T_ROOT/config.lua.example")
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$UNIT")
ok "TimeoutStopSec ($stop s) covers http.drain_timeout ($drain s) + the 5 s child grace" \
  '[ -n "$drain" ] && [ -n "$stop" ] && [ "$stop" -ge $((drain + 5)) ]'

t_done systemd_unit_test
