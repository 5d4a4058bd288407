#!/usr/bin/env bash
# Run a throwaway PostgreSQL server (Debian package `postgresql`) for Tessera's tests.
#
# Usage: tests/services/postgres.sh start|stop|restart|status|wipe|psql|logs|info
#
#   start          install `postgresql` if missing, initdb a cluster (first time) and start it;
#                  returns once "SELECT 1" answers over TCP as tessera. Idempotent.
#   stop           stop the server this script started (pid file, verified);
#                  SIGINT (fast shutdown: disconnects clients), then SIGKILL after $POSTGRES_STOP_TIMEOUT s.
#   restart        stop + start.
#   status         print "running ..." (exit 0) or "stopped" (exit 3, LSB style).
#   wipe           stop, then delete the cluster (the next start runs initdb again).
#   psql ARGS...   run psql as tessera against the tessera database over TCP
#                  (e.g. `psql -Atc 'SELECT 1'`; stdin works too).
#   logs [N]       print the last N (default 100) lines of the server log.
#   info           print the URL, versions, paths and ports.
#
# The server is a private cluster, never the Debian system cluster: the package's own
# cluster ("15/main" under /var/lib/postgresql) is neither started nor used, and
# `service postgresql` is never called. When the package must be installed, a policy-rc.d
# (the one already present, or a temporary one) keeps apt from starting it.
# TLS: accepted beside plain connections, with a certificate for 127.0.0.1 signed by a test
# CA made on first start ($STATE/tls/ca.pem), for the store's tls / tls_ca_file tests.
# Listening: TCP on 127.0.0.1:$POSTGRES_PORT only (scram-sha-256), and a unix socket in
# the state dir (trust, used only by this script to bootstrap the role and database).
# Roles: superuser `postgres` (socket only); login role tessera / tessera-secret with
# CREATEDB, owning database `tessera`. URL: postgres://tessera:tessera-secret@127.0.0.1:55432/tessera
#
# PostgreSQL refuses to run as root. Run as root (CI, this machine), the script creates a
# dedicated system user ($POSTGRES_OS_USER, default tessera-pg, no login shell, no home)
# and runs initdb and the server as that user with setpriv; the state dir is owned by it.
# If a parent of the state dir (typically /root, mode 700) cannot be traversed by that
# user, the script grants it search-only (x) permission there with a POSIX ACL
# (`setfacl -m u:tessera-pg:x`, package `acl`, installed if missing): no listing, no
# reading, nothing for anyone else. Run as a normal user, everything runs as that user.
#
# Nothing is written inside the clone. State (data, socket, log, pid file) lives in
#   ${TESSERA_POSTGRES_HOME:-${TESSERA_CACHE:-$HOME/.cache/tessera}/postgres-run}
#
# Environment (all optional):
#   POSTGRES_PORT           TCP port on 127.0.0.1            (default 55432)
#   POSTGRES_VERSION        major version under /usr/lib/postgresql (default: newest there)
#   POSTGRES_OS_USER        system user to run as when root  (default tessera-pg)
#   POSTGRES_START_TIMEOUT  seconds to wait for SELECT 1     (default 60)
#   POSTGRES_STOP_TIMEOUT   seconds before SIGKILL           (default 30)
# The server is tuned for tests, not durability: fsync, synchronous_commit and
# full_page_writes are off. To run two instances at once, give each its own
# TESSERA_POSTGRES_HOME and POSTGRES_PORT.
set -euo pipefail

SELF="$(basename "$0")"
STATE="${TESSERA_POSTGRES_HOME:-${TESSERA_CACHE:-$HOME/.cache/tessera}/postgres-run}"
HOST="127.0.0.1"
PORT="${POSTGRES_PORT:-55432}"
OS_USER_WANTED="${POSTGRES_OS_USER:-tessera-pg}"
START_TIMEOUT="${POSTGRES_START_TIMEOUT:-60}"
STOP_TIMEOUT="${POSTGRES_STOP_TIMEOUT:-30}"
APP_USER="tessera"; APP_PASSWORD="tessera-secret"; APP_DB="tessera"
SUPERUSER="postgres"

DATA="$STATE/data"
SOCK_DIR="$STATE/sock"
LOG_DIR="$STATE/logs"
LOG="$LOG_DIR/postgres.log"
PIDFILE="$STATE/postgres.pid"
URL="postgres://$APP_USER:$APP_PASSWORD@$HOST:$PORT/$APP_DB"

SERVER_NAME="PostgreSQL"
# log, die, lock_state, apt_install, setup_user, as_user, ensure_reachable, close_inherited_fds, port_open,
# stop_server, usage
# shellcheck source-path=SCRIPTDIR source=sql-common.sh
. "$(dirname "$0")/sql-common.sh"


# ---------------------------------------------------------------- binaries
find_bindir() { # prints /usr/lib/postgresql/<ver>/bin with initdb, pg_ctl, postgres, psql
  local d v
  if [[ -n "${POSTGRES_VERSION:-}" ]]; then
    d="/usr/lib/postgresql/$POSTGRES_VERSION/bin"
  else
    local c; v=""
    for c in /usr/lib/postgresql/*/bin/initdb; do   # newest major version
      c="${c#/usr/lib/postgresql/}"; c="${c%%/*}"
      [[ "$c" =~ ^[0-9]+$ ]] && (( c > ${v:-0} )) && v="$c"
    done
    [[ -n "$v" ]] || return 1
    d="/usr/lib/postgresql/$v/bin"
  fi
  [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" && -x "$d/psql" ]] || return 1
  printf '%s\n' "$d"
}


ensure_binaries() { # sets BIN
  if ! BIN="$(find_bindir)"; then
    apt_install postgresql
    BIN="$(find_bindir)" || die "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
  fi
}

# ---------------------------------------------------------------- process helpers
is_ours() { # $1 = pid: alive, a postgres postmaster with our data dir
  local pid="$1" cmd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$(head -1 <<<"$cmd")" == */postgres ]] && grep -qxF -- "$DATA" <<<"$cmd"
}

our_pid() { # prints the pid of our running postmaster, or returns 1
  local pid p
  if [[ -f "$PIDFILE" ]]; then
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    if is_ours "$pid"; then printf '%s\n' "$pid"; return 0; fi
  fi
  # pid file lost or stale: the postmaster's own pid file names it (first line)
  if [[ -f "$DATA/postmaster.pid" ]]; then
    p="$(head -1 "$DATA/postmaster.pid" | tr -dc '0-9')"
    if is_ours "$p"; then printf '%s\n' "$p" >"$PIDFILE"; printf '%s\n' "$p"; return 0; fi
  fi
  return 1
}


super_sql() { # run SQL on stdin as the superuser over the unix socket
  as_user "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PORT" -U "$SUPERUSER" -d postgres
}

app_probe() { # 0 if SELECT 1 answers over TCP as tessera
  [[ "$(PGPASSWORD="$APP_PASSWORD" PGCONNECT_TIMEOUT=3 "$BIN/psql" -X -Atq -h "$HOST" -p "$PORT" \
         -U "$APP_USER" -d "$APP_DB" -c 'SELECT 1' 2>/dev/null)" == 1 ]]
}

# A postmaster.pid left by a killed server. Postgres refuses to start while the pid in it
# exists, and a killed postmaster can linger as an unreaped zombie (slow init); our_pid
# already found no live postmaster with our data dir, so the file is stale.
clear_stale_lock() {
  local p
  if [[ ! -f "$DATA/postmaster.pid" ]]; then rm -f "$SOCK_DIR"/.s.PGSQL.*; return 0; fi
  p="$(head -1 "$DATA/postmaster.pid" | tr -dc '0-9')"
  is_ours "$p" && die "a postmaster (pid $p) is running on $DATA without our pid file"
  log "removing stale $DATA/postmaster.pid (pid ${p:-?} is not a running postmaster)"
  sleep 1   # orphaned backends of a killed postmaster notice and exit within milliseconds
  rm -f "$DATA/postmaster.pid"
  # its socket lock names the same pid; the socket dir is this instance's alone
  rm -f "$SOCK_DIR"/.s.PGSQL.*
}

# ---------------------------------------------------------------- cluster
ensure_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  log "initdb $DATA (as $OS_USER)"
  find "$DATA" -mindepth 1 -delete 2>/dev/null || true
  local init_log="$LOG_DIR/initdb.log"
  ( cd "$STATE" && as_user "$BIN/initdb" -D "$DATA" -U "$SUPERUSER" --encoding=UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 ) >"$init_log" 2>&1 \
    || { cat "$init_log" >&2; die "initdb failed"; }
  # TCP only from loopback, with passwords; the socket (in a 700 dir) trusts its owner.
  cat >"$DATA/pg_hba.conf" <<'EOF'
# Generated by tests/services/postgres.sh
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
EOF
  [[ $EUID -eq 0 ]] && chown "$OS_USER:" "$DATA/pg_hba.conf"
  return 0
}

bootstrap_roles() { # idempotent: role tessera (password reset), database tessera
  super_sql <<EOF
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB') \gexec
EOF
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local pid t0 elapsed
  lock_state
  ensure_binaries
  setup_user
  if pid="$(our_pid)" && app_probe; then
    log "already running (pid $pid, $URL)"
    return 0
  fi
  if [[ -z "${pid:-}" ]]; then
    rm -f "$PIDFILE"
    port_open "$PORT" && die "port $HOST:$PORT is already in use by another process (not ours); set POSTGRES_PORT"
    ensure_reachable "$LOG_DIR" "$DATA" "$SOCK_DIR"
    ensure_tls
    ensure_cluster
    clear_stale_lock
    [[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
    log "starting PostgreSQL ($BIN) on $HOST:$PORT as $OS_USER; log: $LOG"
    ( cd "$STATE" && close_inherited_fds && exec setsid "${AS[@]}" "$BIN/postgres" -D "$DATA" \
        -c "listen_addresses=$HOST" -c "port=$PORT" -c "unix_socket_directories=$SOCK_DIR" \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=100 -c shared_buffers=64MB -c logging_collector=off \
        -c ssl=on -c "ssl_cert_file=$STATE/tls/server.crt" -c "ssl_key_file=$STATE/tls/server.key" \
        -c log_line_prefix='%m [%p] ' \
        >>"$LOG" 2>&1 </dev/null 9>&- ) &
    pid=$!
    echo "$pid" >"$PIDFILE"
  else
    log "already started (pid $pid) but not answering yet; waiting ..."
  fi
  t0=$SECONDS
  local booted=""
  while :; do
    elapsed=$((SECONDS - t0))
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      log "PostgreSQL exited during startup; last log lines:"
      tail -n 40 "$LOG" >&2 || true
      exit 1
    fi
    if [[ -z "$booted" ]] && as_user "$BIN/pg_isready" -q -h "$SOCK_DIR" -p "$PORT" 2>/dev/null; then
      bootstrap_roles || die "could not create role/database $APP_USER (see above)"
      booted=1
    fi
    if [[ -n "$booted" ]] && app_probe; then
      log "PostgreSQL is up (pid $pid, ${elapsed}s): $URL"
      return 0
    fi
    if (( elapsed >= START_TIMEOUT )); then
      log "PostgreSQL did not answer within ${START_TIMEOUT}s (pid $pid); last log lines:"
      tail -n 40 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}


cmd_status() {
  local pid
  if pid="$(our_pid 2>/dev/null)"; then
    BIN="$(find_bindir || true)"
    if [[ -n "$BIN" ]] && app_probe; then
      echo "running (pid $pid, $URL)"
    else
      echo "running (pid $pid, $HOST:$PORT not answering yet)"
    fi
    return 0
  fi
  echo "stopped"
  return 3
}

cmd_wipe() {
  stop_server INT
  log "deleting the cluster under $STATE (logs kept)"
  rm -rf "$DATA" "$SOCK_DIR" "$PIDFILE"
}

cmd_psql() {
  BIN="$(find_bindir)" || die "PostgreSQL is not installed (run: $SELF start)"
  PGPASSWORD="$APP_PASSWORD" PGCONNECT_TIMEOUT=10 exec "$BIN/psql" -X -v ON_ERROR_STOP=1 \
    -h "$HOST" -p "$PORT" -U "$APP_USER" -d "$APP_DB" "$@"
}

cmd_info() {
  local b; b="$(find_bindir || echo 'not installed')"
  echo "url:         $URL"
  echo "binaries:    $b"
  echo "state dir:   $STATE"
  echo "log:         $LOG"
  echo "tls:         plain or TLS on the same port; CA $STATE/tls/ca.pem (server cert for 127.0.0.1)"
  echo "tcp:         $HOST:$PORT (scram-sha-256)   socket dir: $SOCK_DIR"
  echo "login:       $APP_USER / $APP_PASSWORD (CREATEDB), database $APP_DB"
  if [[ $EUID -eq 0 ]]; then echo "runs as:     $OS_USER_WANTED"; else echo "runs as:     $(id -un)"; fi
}


cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  start) cmd_start ;;
  stop) stop_server INT ;;
  restart) stop_server INT; cmd_start ;;
  status) cmd_status ;;
  wipe) cmd_wipe ;;
  psql) cmd_psql "$@" ;;
  logs) tail -n "${1:-100}" "$LOG" ;;
  info) cmd_info ;;
  -h|--help|help) usage ;;
  *) usage; exit 2 ;;
esac
