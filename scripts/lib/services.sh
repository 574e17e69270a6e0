# shellcheck shell=bash
# scripts/lib/services.sh — a local PostgreSQL 15 cluster and Redis server for
# the README's commands (scripts/run, scripts/test) and for specs that need to
# stop and start them (fault injection).
#
# Sourced, it defines functions only:
#   mn_services_up DIR [run|test]  start or reuse; export DATABASE_URL, REDIS_URL
#   mn_services_down DIR [run|test] stop (both modes when none is given)
#   mn_services_reset DIR [run|test] stop and delete the state
#   mn_fresh_test_db               create a uniquely named database, point DATABASE_URL at it
#   mn_drop_test_db                drop it again (meant for `trap ... EXIT`)
#   mn_pg_start/mn_pg_stop DIR MODE, mn_redis_start/mn_redis_stop DIR MODE
# Executed, it is a small CLI over the same functions (see the end of the file):
#   bash scripts/lib/services.sh pg-restart "$MN_SERVICES_DIR" "$MN_SERVICES_MODE"
#
# State lives under DIR/<mode>/ (DIR is normally <repo>/.data). Two modes, two
# clusters: `run` is durable (fsync on), `test` trades durability for speed
# (fsync off) and is where mn_fresh_test_db makes its throwaway databases.
# Ports are free loopback ports picked on first start and remembered in
# DIR/<mode>/{pg,redis}.port, so the next start reuses the same URLs.
#
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the
# `postgres` system user, which must be able to reach its data directory. When
# DIR is not traversable by that user (a checkout under /root), the cluster
# lives in /var/tmp/medianest-pg-<hash of DIR>/<mode>/ and DIR/<mode>/pg is a
# symlink to it. As any other user the cluster simply runs as that user.
#
# An environment variable that is already set wins: a set DATABASE_URL means
# "use that server" (no local PostgreSQL), likewise REDIS_URL; REDIS_URL set to
# the empty string means "no Redis at all" (MediaNest falls back to L1 only).

MN_PG_BIN=${MN_PG_BIN:-/usr/lib/postgresql/15/bin}
MN_SERVICES_TIMEOUT=${MN_SERVICES_TIMEOUT:-60}   # seconds, for every wait below
MN_PG_USER=medianest
MN_PG_DB=medianest

_mn_svc_log() { echo "services: $*" >&2; }

# _mn_now_ms — wall clock in milliseconds.
_mn_now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# _mn_wait_until SECONDS CMD... — poll CMD until it succeeds or time runs out.
_mn_wait_until() {
  local limit=$1 deadline; shift
  deadline=$(($(_mn_now_ms) + limit * 1000))
  until "$@"; do
    [ "$(_mn_now_ms)" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}

# _mn_port_free PORT — true when 127.0.0.1:PORT can be bound (as a server
# would: SO_REUSEADDR, so a port in TIME_WAIT counts as free).
_mn_port_free() {
  perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(Listen => 1,
    LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], ReuseAddr => 1) ? 0 : 1)' "$1"
}

# _mn_pick_port — a port the kernel considers free right now (its ephemeral
# range). Another process may take it before we bind it: starters retry.
_mn_pick_port() {
  perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1,
    LocalAddr => "127.0.0.1", LocalPort => 0) or die "no free port: $!\n";
    print $s->sockport, "\n"'
}

# _mn_port_for FILE — the remembered port when it is still free, else a new one.
_mn_port_for() {
  local p=""
  [ -f "$1" ] && p=$(<"$1")
  if [[ "$p" =~ ^[0-9]+$ ]] && _mn_port_free "$p"; then echo "$p"; else _mn_pick_port; fi
}

_mn_check_mode() {
  case "$1" in
    run|test) return 0 ;;
    *) _mn_svc_log "unknown mode '$1' (run or test)"; return 1 ;;
  esac
}

# _mn_abs_dir DIR — absolute, symlink-free path of DIR, creating it.
_mn_abs_dir() {
  mkdir -p -- "$1" && (cd -- "$1" && pwd -P)
}

# _mn_proc_is PID NAME — PID is alive and its command name is NAME (so a pid
# file left behind by a crash and recycled by another process is not trusted).
# A zombie is not alive: in a container whose init is slow to reap, a killed
# server lingers as one.
_mn_proc_is() {
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }            # after "pid (comm) ": the state letter first
  [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}

# Runs DIR/<mode> setup under an exclusive lock, so two commands started at
# once do not both run initdb. The lock fd must not leak into the daemons (it
# would keep the lock held for their lifetime): starters close it explicitly.
_mn_lock() {
  exec {_MN_LOCK_FD}>"$1/.lock" || return 1
  flock -w "$MN_SERVICES_TIMEOUT" "$_MN_LOCK_FD" || {
    _mn_svc_log "timed out waiting for the lock on $1"
    exec {_MN_LOCK_FD}>&-; return 1
  }
}
_mn_unlock() {
  [ -n "${_MN_LOCK_FD:-}" ] && exec {_MN_LOCK_FD}>&-
  _MN_LOCK_FD=""
}
# _mn_daemon CMD... — run a command that leaves a daemon behind, with no
# inherited lock fd and no terminal/pipe on its standard streams.
_mn_daemon() {
  if [ -n "${_MN_LOCK_FD:-}" ]; then
    "$@" {_MN_LOCK_FD}>&- </dev/null
  else
    "$@" </dev/null
  fi
}

# ---------------------------------------------------------------- PostgreSQL

# _mn_pg_as CMD... — run CMD as the cluster's owner, from a directory it can read.
_mn_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}
_mn_pg_owner() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }

# _mn_pg_root DIR MODE — the cluster's root directory (holds data/ and the log),
# or nothing when it was never provisioned.
_mn_pg_root() {
  local link="$1/$2/pg"
  if [ -L "$link" ]; then readlink -- "$link"
  elif [ -d "$link" ]; then echo "$link"
  fi
}

_mn_pg_fallback_base() {
  local h
  h=$(printf '%s' "$1" | sha256sum | cut -c1-12)
  echo "/var/tmp/medianest-pg-$h"
}

# _mn_pg_prepare_root DIR MODE — create the cluster root where its owner can
# reach it; prints its path.
_mn_pg_prepare_root() {
  local dir=$1 mode=$2 owner root base
  owner=$(_mn_pg_owner)
  root=$(_mn_pg_root "$dir" "$mode")
  # A link whose target vanished (someone cleaned /var/tmp): start over.
  if [ -L "$dir/$mode/pg" ] && [ ! -d "$root" ]; then
    _mn_svc_log "cluster directory $root is gone; creating a new cluster"
    rm -f -- "$dir/$mode/pg"; root=""
  fi
  if [ -n "$root" ]; then
    if ! _mn_pg_as test -w "$root"; then
      _mn_svc_log "$root exists but user $owner cannot write it; run mn_services_reset"
      return 1
    fi
    echo "$root"; return 0
  fi
  if _mn_pg_as test -x "$dir/$mode"; then
    root="$dir/$mode/pg"
    mkdir -m 700 -- "$root" && chown "$owner:" "$root" || return 1
  else
    base=$(_mn_pg_fallback_base "$dir")
    # /var/tmp is world-writable: refuse a base someone else planted.
    if [ -L "$base" ] || { [ -e "$base" ] && [ "$(stat -c %U "$base")" != "$owner" ]; }; then
      _mn_svc_log "$base exists and is not a directory owned by $owner; remove it"
      return 1
    fi
    if [ ! -d "$base" ]; then
      mkdir -m 700 -- "$base" && chown "$owner:" "$base" || return 1
    fi
    root="$base/$mode"
    if [ ! -d "$root" ]; then
      mkdir -m 700 -- "$root" && chown "$owner:" "$root" || return 1
    fi
    ln -sfn -- "$root" "$dir/$mode/pg" || return 1
    _mn_svc_log "$dir is not reachable by $owner: PostgreSQL data in $root"
  fi
  echo "$root"
}

_mn_pg_running() {
  local pid
  [ -f "$1/postmaster.pid" ] || return 1
  pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
  _mn_proc_is "$pid" postgres
}

_mn_pg_initdb() {
  local root=$1 data=$1/data lc=C
  # A half-done initdb (interrupted) leaves a data dir without PG_VERSION.
  [ -d "$data" ] && [ ! -f "$data/PG_VERSION" ] && { rm -rf -- "$data" || return 1; }
  [ -f "$data/PG_VERSION" ] && return 0
  locale -a 2>/dev/null | grep -qix 'c.utf-\?8' && lc=C.UTF-8
  # Collation C: byte order, fast and the same everywhere; ctype UTF-8 so
  # lower()/upper() handle non-ASCII usernames.
  _mn_pg_as "$MN_PG_BIN/initdb" -D "$data" -U postgres --auth=trust \
    --encoding=UTF8 --lc-collate=C --lc-ctype="$lc" --lc-messages=C \
    >"$root/initdb.log" 2>&1 || {
      _mn_svc_log "initdb failed:"; tail -n 20 "$root/initdb.log" >&2; return 1; }
  echo "include_if_exists = 'medianest.conf'" >>"$data/postgresql.conf"
}

# _mn_pg_write_conf DATA MODE PORT — settings owned by this script, rewritten
# before every start so changes here apply on the next start.
_mn_pg_write_conf() {
  local data=$1 mode=$2 port=$3 sock=$1 owner
  owner=$(_mn_pg_owner)
  # A Unix socket path is limited to 107 bytes; skip the socket rather than
  # fail to start in a deeply nested checkout (TCP is what we use anyway).
  [ "${#sock}" -gt 80 ] && sock=""
  {
    echo "# Written by scripts/lib/services.sh ($mode cluster); edits are overwritten."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$sock'"
    # Specs start several MediaNest instances in one process, each with a
    # pool of up to 20, plus the test runner's own connections.
    echo "max_connections = 200"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    if [ "$mode" = test ]; then
      # Throwaway databases: a crash may lose them, speed matters more.
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
      echo "wal_level = minimal"
      echo "max_wal_senders = 0"
      echo "checkpoint_timeout = 30min"
      echo "max_wal_size = 1GB"
    fi
  } >"$data/medianest.conf"
  {
    echo "# Written by scripts/lib/services.sh. Loopback only, no passwords:"
    echo "# the server listens on 127.0.0.1 and its socket sits in the data dir."
    echo "local all all trust"
    echo "host  all all 127.0.0.1/32 trust"
  } >"$data/pg_hba.conf"
  chown "$owner:" "$data/medianest.conf" "$data/pg_hba.conf"
  chmod 600 "$data/medianest.conf" "$data/pg_hba.conf"
}

_mn_pg_ready() {
  "$MN_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -t 1
}

# _mn_pg_clear_stale DATA — remove lock files left by a postmaster that is gone
# (postgres refuses to start if their pid was recycled by a live process).
_mn_pg_clear_stale() {
  rm -f -- "$1/postmaster.pid" "$1"/.s.PGSQL.*
}

# mn_pg_start DIR MODE — start (or find running) the cluster; sets MN_PG_PORT.
mn_pg_start() {
  local dir mode=$2 root data portfile port try
  _mn_check_mode "$mode" || return 1
  dir=$(_mn_abs_dir "$1") || return 1
  [ -d "$dir/$mode" ] || mkdir -m 755 -- "$dir/$mode" || return 1
  root=$(_mn_pg_prepare_root "$dir" "$mode") || return 1
  data=$root/data portfile=$dir/$mode/pg.port
  _mn_pg_initdb "$root" || return 1
  if _mn_pg_running "$data"; then
    port=$(sed -n 4p "$data/postmaster.pid")
    _mn_svc_log "postgresql ($mode) already running on 127.0.0.1:$port"
  else
    _mn_pg_clear_stale "$data"
    for try in 1 2 3 4 5; do
      port=$(_mn_port_for "$portfile") || return 1
      _mn_pg_write_conf "$data" "$mode" "$port"
      if _mn_daemon _mn_pg_as "$MN_PG_BIN/pg_ctl" -D "$data" -l "$root/postgres.log" \
          -w -t "$MN_SERVICES_TIMEOUT" -s start >/dev/null 2>&1; then
        break
      fi
      # Lost a race for the port: pick another. Anything else is fatal.
      if _mn_port_free "$port"; then
        _mn_svc_log "postgresql ($mode) failed to start; end of $root/postgres.log:"
        tail -n 20 "$root/postgres.log" >&2
        return 1
      fi
      rm -f -- "$portfile"
      [ "$try" -eq 5 ] && { _mn_svc_log "no free port for postgresql"; return 1; }
    done
    _mn_svc_log "postgresql ($mode) started on 127.0.0.1:$port (data: $data)"
  fi
  echo "$port" >"$portfile"
  if ! _mn_wait_until "$MN_SERVICES_TIMEOUT" _mn_pg_ready "$port"; then
    _mn_svc_log "postgresql ($mode) on port $port not ready after ${MN_SERVICES_TIMEOUT}s"
    return 1
  fi
  MN_PG_PORT=$port
}

# mn_pg_stop DIR MODE — fast shutdown (clients are disconnected), waits for it.
mn_pg_stop() {
  local dir mode=$2 root
  _mn_check_mode "$mode" || return 1
  dir=$(cd -- "$1" 2>/dev/null && pwd -P) || return 0
  root=$(_mn_pg_root "$dir" "$mode")
  [ -n "$root" ] && [ -d "$root/data" ] || return 0
  if _mn_pg_running "$root/data"; then
    _mn_pg_as "$MN_PG_BIN/pg_ctl" -D "$root/data" -m fast -w -t "$MN_SERVICES_TIMEOUT" \
      -s stop || return 1
    _mn_svc_log "postgresql ($mode) stopped"
  fi
}

# _mn_pg_bootstrap PORT — the application role and database (idempotent).
_mn_pg_bootstrap() {
  local psql=("$MN_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres)
  # CREATEDB: the test command and specs create throwaway databases as this role.
  "${psql[@]}" -d postgres -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$MN_PG_USER') THEN
        CREATE ROLE $MN_PG_USER LOGIN CREATEDB;
      END IF; END \$\$;" || return 1
  if [ -z "$("${psql[@]}" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$MN_PG_DB'")" ]; then
    "${psql[@]}" -d postgres -c "CREATE DATABASE $MN_PG_DB OWNER $MN_PG_USER" || return 1
  fi
}

# --------------------------------------------------------------------- Redis

_mn_redis_pid() { local p=""; [ -f "$1/redis.pid" ] && p=$(<"$1/redis.pid"); echo "$p"; }

_mn_redis_ping() {
  [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

_mn_redis_running() {
  local pid port=""
  pid=$(_mn_redis_pid "$1")
  [ -f "$1/redis.port" ] && port=$(<"$1/redis.port")
  _mn_proc_is "$pid" redis-server && _mn_redis_ping "$port"
}

# _mn_redis_write_conf MODEDIR PORT
_mn_redis_write_conf() {
  local m=$1
  mkdir -p -- "$m/redis"
  cat >"$m/redis.conf" <<EOF
# Written by scripts/lib/services.sh; edits are overwritten.
bind 127.0.0.1
port $2
protected-mode yes
daemonize yes
pidfile $m/redis.pid
logfile $m/redis.log
dir $m/redis
# No persistence, in either mode: Redis holds only derived state (L2 cache,
# rate-limit counters, pub/sub). A snapshot restored after downtime would
# bring back cache entries whose invalidations were published while it was down.
save ""
appendonly no
maxmemory 256mb
maxmemory-policy allkeys-lru
EOF
}

# _mn_redis_start_on MODEDIR PORT — 0 started, 2 port taken, 1 other failure.
_mn_redis_start_on() {
  local m=$1 port=$2 logsize=0
  _mn_redis_write_conf "$m" "$port"
  [ -f "$m/redis.log" ] && logsize=$(stat -c %s "$m/redis.log")
  # daemonize yes: the server forks, then binds; a failure shows in its log
  # ("Failed listening on port N (TCP), aborting.").
  _mn_daemon redis-server "$m/redis.conf" >/dev/null 2>&1 || return 1
  _mn_wait_until "$MN_SERVICES_TIMEOUT" _mn_redis_settled "$port" "$m/redis.log" "$logsize" ||
    return 1
  _mn_redis_ping "$port" && return 0
  tail -c +"$((logsize + 1))" "$m/redis.log" | grep -q 'Address already in use' && return 2
  return 1
}

# _mn_redis_settled PORT LOG OFFSET — the server answers, or gave up (its log
# past OFFSET says so).
_mn_redis_settled() {
  _mn_redis_ping "$1" && return 0
  tail -c +"$(($3 + 1))" "$2" 2>/dev/null | grep -q 'aborting'
}

# mn_redis_start DIR MODE — start (or find running) the server; sets MN_REDIS_PORT.
mn_redis_start() {
  local dir mode=$2 m port try rc
  _mn_check_mode "$mode" || return 1
  dir=$(_mn_abs_dir "$1") || return 1
  m=$dir/$mode
  [ -d "$m" ] || mkdir -m 755 -- "$m" || return 1
  if _mn_redis_running "$m"; then
    port=$(<"$m/redis.port")
    _mn_svc_log "redis ($mode) already running on 127.0.0.1:$port"
  else
    rm -f -- "$m/redis.pid"
    for try in 1 2 3 4 5; do
      port=$(_mn_port_for "$m/redis.port") || return 1
      _mn_redis_start_on "$m" "$port"; rc=$?
      [ "$rc" -eq 0 ] && break
      if [ "$rc" -eq 1 ] || [ "$try" -eq 5 ]; then
        _mn_svc_log "redis ($mode) failed to start; end of $m/redis.log:"
        tail -n 20 "$m/redis.log" >&2
        return 1
      fi
      rm -f -- "$m/redis.port"
    done
    echo "$port" >"$m/redis.port"
    _mn_svc_log "redis ($mode) started on 127.0.0.1:$port"
  fi
  MN_REDIS_PORT=$port
}

_mn_redis_gone() { ! _mn_proc_is "$1" redis-server; }

# mn_redis_stop DIR MODE — shutdown without saving, waits for the process to exit.
mn_redis_stop() {
  local dir mode=$2 m pid port=""
  _mn_check_mode "$mode" || return 1
  dir=$(cd -- "$1" 2>/dev/null && pwd -P) || return 0
  m=$dir/$mode
  pid=$(_mn_redis_pid "$m")
  if ! _mn_proc_is "$pid" redis-server; then rm -f -- "$m/redis.pid"; return 0; fi
  [ -f "$m/redis.port" ] && port=$(<"$m/redis.port")
  [ -n "$port" ] && redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
  if ! _mn_wait_until 5 _mn_redis_gone "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    _mn_wait_until "$MN_SERVICES_TIMEOUT" _mn_redis_gone "$pid" || {
      _mn_svc_log "redis ($mode) pid $pid did not exit"; return 1; }
  fi
  rm -f -- "$m/redis.pid"
  _mn_svc_log "redis ($mode) stopped"
}

# ------------------------------------------------------------------ the API

# mn_services_up DIR [run|test]
# Exports DATABASE_URL and REDIS_URL (unless given), MN_SERVICES_DIR,
# MN_SERVICES_MODE, MN_PG_MANAGED / MN_REDIS_MANAGED (1 when this script runs
# the server, so specs know they may stop and start it), MN_PG_PORT, MN_REDIS_PORT.
mn_services_up() {
  local dir mode=${2:-run} rc=0
  [ -n "${1:-}" ] || { _mn_svc_log "usage: mn_services_up DIR [run|test]"; return 1; }
  _mn_check_mode "$mode" || return 1
  dir=$(_mn_abs_dir "$1") || return 1
  [ -d "$dir/$mode" ] || mkdir -m 755 -- "$dir/$mode" || return 1
  _mn_lock "$dir/$mode" || return 1

  # A URL this shell exported itself earlier is not "given by the user".
  if [ -n "${DATABASE_URL:-}" ] && [ "$DATABASE_URL" != "${_MN_OWN_DATABASE_URL:-}" ]; then
    export MN_PG_MANAGED=0
    if ! _mn_wait_until 10 "$MN_PG_BIN/pg_isready" -q -d "$DATABASE_URL" -t 1; then
      _mn_svc_log "DATABASE_URL is set but its server does not answer"; rc=1
    fi
  elif mn_pg_start "$dir" "$mode" && _mn_pg_bootstrap "$MN_PG_PORT"; then
    export MN_PG_MANAGED=1 MN_PG_PORT
    export DATABASE_URL="postgresql://$MN_PG_USER@127.0.0.1:$MN_PG_PORT/$MN_PG_DB"
    _MN_OWN_DATABASE_URL=$DATABASE_URL
  else
    rc=1
  fi

  if [ "$rc" -eq 0 ]; then
    if [ -n "${REDIS_URL+set}" ] &&
       { [ -z "${_MN_OWN_REDIS_URL+set}" ] || [ "$REDIS_URL" != "$_MN_OWN_REDIS_URL" ]; }; then
      export MN_REDIS_MANAGED=0
      if [ -n "$REDIS_URL" ] && ! _mn_wait_until 10 redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
        _mn_svc_log "REDIS_URL is set but its server does not answer"; rc=1
      fi
    elif mn_redis_start "$dir" "$mode"; then
      export MN_REDIS_MANAGED=1 MN_REDIS_PORT
      export REDIS_URL="redis://127.0.0.1:$MN_REDIS_PORT/0"
      _MN_OWN_REDIS_URL=$REDIS_URL
    else
      rc=1
    fi
  fi
  _mn_unlock
  [ "$rc" -eq 0 ] || return 1
  export MN_SERVICES_DIR=$dir MN_SERVICES_MODE=$mode
}

# mn_services_down DIR [run|test] — stop what mn_services_up started (both
# modes when none is given). Servers named by a user-set URL are never touched.
mn_services_down() {
  local dir=${1:-} mode rc=0
  [ -n "$dir" ] || { _mn_svc_log "usage: mn_services_down DIR [run|test]"; return 1; }
  [ -d "$dir" ] || return 0
  for mode in ${2:-run test}; do
    _mn_check_mode "$mode" || return 1
    [ -d "$dir/$mode" ] || continue
    mn_pg_stop "$dir" "$mode" || rc=1
    mn_redis_stop "$dir" "$mode" || rc=1
  done
  return "$rc"
}

# mn_services_reset DIR [run|test] — stop and delete all state (databases too).
mn_services_reset() {
  local dir mode root
  [ -n "${1:-}" ] || { _mn_svc_log "usage: mn_services_reset DIR [run|test]"; return 1; }
  [ -d "$1" ] || return 0
  dir=$(cd -- "$1" && pwd -P) || return 1
  mn_services_down "$dir" "${2:-}" || return 1
  for mode in ${2:-run test}; do
    root=$(_mn_pg_root "$dir" "$mode")
    # Only ever delete the two places this script creates clusters in.
    case "$root" in
      "$dir/$mode/pg"|"$(_mn_pg_fallback_base "$dir")/$mode") rm -rf -- "$root" ;;
      "") ;;
      *) _mn_svc_log "not deleting unexpected cluster path $root" ;;
    esac
    rm -rf -- "${dir:?}/$mode"
  done
  rmdir -- "$(_mn_pg_fallback_base "$dir")" 2>/dev/null
  _mn_svc_log "reset ${2:-run and test} state under $dir"
  return 0
}

# _mn_url_with_db URL NAME — URL with its database name replaced.
_mn_url_with_db() {
  local re='^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$'
  [[ "$1" =~ $re ]] || { _mn_svc_log "DATABASE_URL is not a postgresql:// URL"; return 1; }
  echo "${BASH_REMATCH[1]}/$2${BASH_REMATCH[4]}"
}

# _mn_drop_stale_test_dbs — databases left by test runs that died without
# their trap (SIGKILL, power loss). Only in a cluster this script runs.
_mn_drop_stale_test_dbs() {
  local name pid
  while read -r name; do
    pid=${name#medianest_test_}; pid=${pid%%_*}
    if ! [[ "$pid" =~ ^[0-9]+$ ]] || kill -0 "$pid" 2>/dev/null; then continue; fi
    "$MN_PG_BIN/psql" -X -q -d "$1" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" \
      >/dev/null 2>&1 && _mn_svc_log "dropped stale test database $name"
  done < <("$MN_PG_BIN/psql" -X -tA -d "$1" -c \
    "SELECT datname FROM pg_database WHERE datname LIKE 'medianest\_test\_%'" 2>/dev/null)
}

# mn_fresh_test_db — create a new, uniquely named database on DATABASE_URL's
# server and point DATABASE_URL at it; exports MN_TEST_DB. The previous URL is
# kept to drop it: call mn_drop_test_db at the end (trap mn_drop_test_db EXIT).
mn_fresh_test_db() {
  local base=${DATABASE_URL:-} name url
  [ -n "$base" ] || { _mn_svc_log "mn_fresh_test_db: DATABASE_URL is not set"; return 1; }
  [ "${MN_PG_MANAGED:-0}" = 1 ] && _mn_drop_stale_test_dbs "$base"
  # The pid comes first so stale databases can be recognised (see above).
  name="medianest_test_$$_$(date +%s)_$RANDOM"
  url=$(_mn_url_with_db "$base" "$name") || return 1
  "$MN_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$base" -c "CREATE DATABASE \"$name\"" || {
    _mn_svc_log "could not create database $name (does the role have CREATEDB?)"; return 1; }
  _MN_TEST_DB_BASE_URL=$base
  [ "$base" = "${_MN_OWN_DATABASE_URL:-}" ] && _MN_OWN_DATABASE_URL=$url
  export MN_TEST_DB=$name DATABASE_URL=$url
  _mn_svc_log "test database $name"
}

# mn_drop_test_db — drop the database mn_fresh_test_db made and restore
# DATABASE_URL. Safe to call twice or when none was made; never fails (it is
# meant for an EXIT trap, where a failure must not change the exit status).
mn_drop_test_db() {
  [ -n "${MN_TEST_DB:-}" ] && [ -n "${_MN_TEST_DB_BASE_URL:-}" ] || return 0
  # FORCE: a server started by a spec may still hold connections to it.
  "$MN_PG_BIN/psql" -X -q -d "$_MN_TEST_DB_BASE_URL" \
    -c "DROP DATABASE IF EXISTS \"$MN_TEST_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
    _mn_svc_log "could not drop test database $MN_TEST_DB"
  [ "${DATABASE_URL:-}" = "${_MN_OWN_DATABASE_URL:-}" ] && _MN_OWN_DATABASE_URL=$_MN_TEST_DB_BASE_URL
  export DATABASE_URL=$_MN_TEST_DB_BASE_URL
  unset MN_TEST_DB _MN_TEST_DB_BASE_URL
  return 0
}

# ---------------------------------------------------------------------- CLI

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  cmd=${1:-help}; shift || true
  dir=${1:-${MN_SERVICES_DIR:-}} mode=${2:-${MN_SERVICES_MODE:-run}}
  case "$cmd" in
    up)
      mn_services_up "$dir" "$mode" || exit 1
      printf 'export DATABASE_URL=%q\nexport REDIS_URL=%q\n' "$DATABASE_URL" "${REDIS_URL:-}" ;;
    down)          mn_services_down "$dir" "${2:-}" ;;
    reset)         mn_services_reset "$dir" "${2:-}" ;;
    pg-start)      mn_pg_start "$dir" "$mode" ;;
    pg-stop)       mn_pg_stop "$dir" "$mode" ;;
    pg-restart)    mn_pg_stop "$dir" "$mode" && mn_pg_start "$dir" "$mode" ;;
    redis-start)   mn_redis_start "$dir" "$mode" ;;
    redis-stop)    mn_redis_stop "$dir" "$mode" ;;
    redis-restart) mn_redis_stop "$dir" "$mode" && mn_redis_start "$dir" "$mode" ;;
    *)
      echo "usage: $0 up|down|reset|pg-start|pg-stop|pg-restart|redis-start|redis-stop|redis-restart [DIR [run|test]]" >&2
      echo "DIR and mode default to \$MN_SERVICES_DIR and \$MN_SERVICES_MODE." >&2
      [ "$cmd" = help ] || exit 2 ;;
  esac
fi
