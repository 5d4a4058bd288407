#!/usr/bin/env bash
# Run a throwaway MariaDB server (Debian packages `mariadb-server`, `mariadb-client`) for
# Tessera's tests (Tessera's "mysql" store speaks to MySQL 8 and MariaDB 10.11+).
#
# Usage: tests/services/mysql.sh start|stop|restart|status|wipe|sql|logs|info
#
#   start          install the packages if missing, create a data dir (first time) and start
#                  mariadbd; returns once "SELECT 1" answers over TCP as tessera. Idempotent.
#   stop           stop the server this script started (pid file, verified);
#                  SIGTERM (clean shutdown), then SIGKILL after $MYSQL_STOP_TIMEOUT s.
#   restart        stop + start.
#   status         print "running ..." (exit 0) or "stopped" (exit 3, LSB style).
#   wipe           stop, then delete the data dir (the next start creates it again).
#   sql ARGS...    run the mariadb client as tessera against database tessera over TCP
#                  (e.g. `sql -N -B -e 'SELECT 1'`; stdin works too).
#   logs [N]       print the last N (default 100) lines of the server's error log.
#   info           print the URL, versions, paths and ports.
#
# The server is a private instance, never the Debian system service: mysql.service /
# /var/lib/mysql are neither started nor used, `service mariadb` is never called, and the
# server and client run with --no-defaults, so /etc/mysql is not read. When the packages
# must be installed, a policy-rc.d (the one already present, or a temporary one) keeps apt
# from starting the system service.
# TLS: accepted beside plain connections, with a certificate for 127.0.0.1 signed by a test
# CA made on first start ($STATE/tls/ca.pem), for the store's tls / tls_ca_file tests.
# Listening: TCP on 127.0.0.1:$MYSQL_PORT only (--skip-name-resolve), and a unix socket in
# the state dir. Accounts: root@localhost without password (socket only; every other root
# and anonymous account is dropped), used by this script to bootstrap; tessera@127.0.0.1 and
# tessera@localhost / tessera-secret with ALL on `tessera`.* and `tessera\_%`.* (tests may
# create databases named tessera_...). Database tessera, utf8mb4.
# URL: mysql://tessera:tessera-secret@127.0.0.1:53306/tessera
#
# Run as root (CI, this machine), the script creates a dedicated system user
# ($MYSQL_OS_USER, default tessera-mysql, no login shell, no home) and runs
# mariadb-install-db and mariadbd as that user with setpriv (so mariadbd never runs as
# root, and --user is not needed); the data dir is owned by it. If a parent of the state
# dir (typically /root, mode 700) cannot be traversed by that user, the script grants it
# search-only (x) permission there with a POSIX ACL (`setfacl -m u:tessera-mysql:x`,
# package `acl`, installed if missing). Run as a normal user, everything runs as that user.
#
# Nothing is written inside the clone. State (data, socket, logs, pid file) lives in
#   ${TESSERA_MYSQL_HOME:-${TESSERA_CACHE:-$HOME/.cache/tessera}/mysql-run}
#
# Environment (all optional):
#   MYSQL_PORT           TCP port on 127.0.0.1             (default 53306)
#   MYSQL_OS_USER        system user to run as when root   (default tessera-mysql)
#   MYSQL_START_TIMEOUT  seconds to wait for SELECT 1      (default 90)
#   MYSQL_STOP_TIMEOUT   seconds before SIGKILL            (default 60)
# Tuned for tests, not durability (innodb_flush_log_at_trx_commit=2, no doublewrite,
# no binlog, no performance_schema). The buffer pool (1 GiB) holds a million tokens with
# their indexes: with 128 MiB, random-key token inserts into such a table waited on disk
# reads and bench/sql-purge.sh measured that, not the purge. To run two instances at once,
# give each its own
# TESSERA_MYSQL_HOME and MYSQL_PORT.
set -euo pipefail

SELF="$(basename "$0")"
STATE="${TESSERA_MYSQL_HOME:-${TESSERA_CACHE:-$HOME/.cache/tessera}/mysql-run}"
HOST="127.0.0.1"
PORT="${MYSQL_PORT:-53306}"
OS_USER_WANTED="${MYSQL_OS_USER:-tessera-mysql}"
START_TIMEOUT="${MYSQL_START_TIMEOUT:-90}"
STOP_TIMEOUT="${MYSQL_STOP_TIMEOUT:-60}"
APP_USER="tessera"; APP_PASSWORD="tessera-secret"; APP_DB="tessera"

DATA="$STATE/data"
RUN_DIR="$STATE/run"               # socket and server pid file
SOCK="$RUN_DIR/mysqld.sock"
TMP_DIR="$STATE/tmp"
LOG_DIR="$STATE/logs"
LOG="$LOG_DIR/mariadb.err"         # the server's error log
OUT="$LOG_DIR/mariadbd.out"        # its stdout/stderr (normally empty)
PIDFILE="$STATE/mysql.pid"         # ours (the server also writes $RUN_DIR/mysqld.pid)
URL="mysql://$APP_USER:$APP_PASSWORD@$HOST:$PORT/$APP_DB"

SERVER_NAME="MariaDB"
# log, die, lock_state, apt_install, setup_user, as_user, ensure_reachable, close_inherited_fds, port_open,
# stop_server, usage
# shellcheck source-path=SCRIPTDIR source=sql-common.sh
. "$(dirname "$0")/sql-common.sh"


# ---------------------------------------------------------------- binaries
first_exe() { local c; for c in "$@"; do [[ -x "$c" ]] && { printf '%s\n' "$c"; return 0; }; done; return 1; }

find_binaries() { # sets SERVER, INSTALL_DB, CLIENT
  SERVER="$(first_exe /usr/sbin/mariadbd /usr/sbin/mysqld)" || return 1
  INSTALL_DB="$(first_exe /usr/bin/mariadb-install-db /usr/bin/mysql_install_db)" || return 1
  CLIENT="$(first_exe /usr/bin/mariadb /usr/bin/mysql)" || return 1
}


ensure_binaries() {
  if ! find_binaries; then
    apt_install mariadb-server mariadb-client
    find_binaries || die "mariadb-server installed but mariadbd/mariadb-install-db/mariadb not found"
  fi
}

# ---------------------------------------------------------------- process helpers
is_ours() { # $1 = pid: alive, a mariadbd/mysqld with our data dir
  local pid="$1" cmd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$(head -1 <<<"$cmd")" =~ /(mariadbd|mysqld)$ ]] && grep -qxF -- "--datadir=$DATA" <<<"$cmd"
}

our_pid() { # prints the pid of our running server, or returns 1
  local pid p
  for f in "$PIDFILE" "$RUN_DIR/mysqld.pid"; do   # ours, else the server's own
    [[ -f "$f" ]] || continue
    pid="$(tr -dc '0-9' <"$f")"
    if is_ours "$pid"; then
      [[ "$f" == "$PIDFILE" ]] || printf '%s\n' "$pid" >"$PIDFILE"
      printf '%s\n' "$pid"; return 0
    fi
  done
  for p in $(pgrep -x 'mariadbd|mysqld' 2>/dev/null || true); do
    if is_ours "$p"; then printf '%s\n' "$p" >"$PIDFILE"; printf '%s\n' "$p"; return 0; fi
  done
  return 1
}


root_sql() { # run SQL (stdin or -e) as root@localhost over the unix socket
  "$CLIENT" --no-defaults --protocol=SOCKET --socket="$SOCK" -uroot --connect-timeout=3 "$@"
}

app_probe() { # 0 if SELECT 1 answers over TCP as tessera
  [[ "$(MYSQL_PWD="$APP_PASSWORD" "$CLIENT" --no-defaults --protocol=TCP -h "$HOST" -P "$PORT" \
         -u "$APP_USER" --connect-timeout=3 -N -B -e 'SELECT 1' "$APP_DB" 2>/dev/null)" == 1 ]]
}

# ---------------------------------------------------------------- data dir
ensure_datadir() {
  [[ -d "$DATA/mysql" && -f "$DATA/.tessera-complete" ]] && return 0
  log "mariadb-install-db --datadir=$DATA (as $OS_USER)"
  find "$DATA" -mindepth 1 -delete 2>/dev/null || true
  local init_log="$LOG_DIR/install-db.log"
  ( cd "$STATE" && as_user "$INSTALL_DB" --no-defaults --datadir="$DATA" \
      --auth-root-authentication-method=normal --skip-test-db \
      --tmpdir="$TMP_DIR" --skip-name-resolve ) >"$init_log" 2>&1 \
    || { tail -30 "$init_log" >&2; die "mariadb-install-db failed (log: $init_log)"; }
  as_user touch "$DATA/.tessera-complete"
}

bootstrap_accounts() { # idempotent: drop remote/anonymous root, (re)create tessera, database
  local extra
  extra="$(root_sql -N -B -e "SELECT CONCAT(QUOTE(User),'@',QUOTE(Host)) FROM mysql.user
            WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")" || return 1
  if [[ -n "$extra" ]]; then root_sql -e "DROP USER ${extra//$'\n'/, }" || return 1; fi
  root_sql <<EOF
CREATE DATABASE IF NOT EXISTS \`$APP_DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$APP_USER'@'127.0.0.1' IDENTIFIED BY '$APP_PASSWORD';
CREATE USER IF NOT EXISTS '$APP_USER'@'localhost' IDENTIFIED BY '$APP_PASSWORD';
ALTER USER '$APP_USER'@'127.0.0.1' IDENTIFIED BY '$APP_PASSWORD';
ALTER USER '$APP_USER'@'localhost' IDENTIFIED BY '$APP_PASSWORD';
GRANT ALL PRIVILEGES ON \`$APP_DB\`.* TO '$APP_USER'@'127.0.0.1', '$APP_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`${APP_DB}\\_%\`.* TO '$APP_USER'@'127.0.0.1', '$APP_USER'@'localhost';
FLUSH PRIVILEGES;
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
    rm -f "$PIDFILE" "$RUN_DIR/mysqld.pid"
    port_open "$PORT" && die "port $HOST:$PORT is already in use by another process (not ours); set MYSQL_PORT"
    ensure_reachable "$LOG_DIR" "$DATA" "$RUN_DIR" "$TMP_DIR"
    ensure_tls
    ensure_datadir
    rm -f "$SOCK" "$SOCK.lock"   # stale socket of a killed server (the dir is ours alone)
    [[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
    log "starting MariaDB ($SERVER) on $HOST:$PORT as $OS_USER; log: $LOG"
    ( cd "$STATE" && close_inherited_fds && exec setsid "${AS[@]}" "$SERVER" --no-defaults --datadir="$DATA" \
        --bind-address="$HOST" --port="$PORT" --skip-networking=0 --skip-name-resolve \
        --socket="$SOCK" --pid-file="$RUN_DIR/mysqld.pid" --tmpdir="$TMP_DIR" \
        --log-error="$LOG" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --max-connections=200 --performance-schema=0 --skip-log-bin \
        --ssl-cert="$STATE/tls/server.crt" --ssl-key="$STATE/tls/server.key" --ssl-ca="$STATE/tls/ca.pem" \
        --innodb-buffer-pool-size=1G --innodb-log-file-size=256M \
        --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 \
        >>"$OUT" 2>&1 </dev/null 9>&- ) &
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
      log "MariaDB exited during startup; last log lines:"
      tail -n 40 "$LOG" "$OUT" >&2 || true
      exit 1
    fi
    if [[ -z "$booted" ]] && root_sql -N -B -e 'SELECT 1' >/dev/null 2>&1; then
      bootstrap_accounts || die "could not create account/database $APP_USER (see above)"
      booted=1
    fi
    if [[ -n "$booted" ]] && app_probe; then
      log "MariaDB is up (pid $pid, ${elapsed}s): $URL"
      return 0
    fi
    if (( elapsed >= START_TIMEOUT )); then
      log "MariaDB did not answer within ${START_TIMEOUT}s (pid $pid); last log lines:"
      tail -n 40 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}


cmd_status() {
  local pid
  if pid="$(our_pid 2>/dev/null)"; then
    if find_binaries && app_probe; then
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
  stop_server TERM
  log "deleting the data dir under $STATE (logs kept)"
  rm -rf "$DATA" "$RUN_DIR" "$TMP_DIR" "$PIDFILE"
}

cmd_sql() {
  find_binaries || die "MariaDB is not installed (run: $SELF start)"
  MYSQL_PWD="$APP_PASSWORD" exec "$CLIENT" --no-defaults --protocol=TCP -h "$HOST" -P "$PORT" \
    -u "$APP_USER" --connect-timeout=10 "$@" "$APP_DB"
}

cmd_info() {
  local v="not installed"
  find_binaries && v="$("$SERVER" --version 2>/dev/null || echo "$SERVER")"
  echo "url:         $URL"
  echo "server:      $v"
  echo "state dir:   $STATE"
  echo "log:         $LOG"
  echo "tls:         plain or TLS on the same port; CA $STATE/tls/ca.pem (server cert for 127.0.0.1)"
  echo "tcp:         $HOST:$PORT   socket: $SOCK"
  echo "login:       $APP_USER / $APP_PASSWORD (@127.0.0.1 and @localhost), database $APP_DB"
  if [[ $EUID -eq 0 ]]; then echo "runs as:     $OS_USER_WANTED"; else echo "runs as:     $(id -un)"; fi
}


cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  start) cmd_start ;;
  stop) stop_server TERM ;;
  restart) stop_server TERM; cmd_start ;;
  status) cmd_status ;;
  wipe) cmd_wipe ;;
  sql) cmd_sql "$@" ;;
  logs) tail -n "${1:-100}" "$LOG" ;;
  info) cmd_info ;;
  -h|--help|help) usage ;;
  *) usage; exit 2 ;;
esac
