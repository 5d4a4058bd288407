# shellcheck shell=bash
# Sourced by tests/services/postgres.sh and tests/services/mysql.sh: what running a throwaway
# database server as a dedicated non-root user takes, whichever server it is. The caller sets
# SELF, STATE, OS_USER_WANTED, STOP_TIMEOUT, PIDFILE and SERVER_NAME, and defines is_ours and
# our_pid for its server; these functions use them. Not meant to be run.

log() { printf '[%s] %s\n' "$SELF" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$SELF" "$*" >&2; exit 1; }

# One script at a time per state dir (fd 9 held until the script exits).
lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "could not lock $STATE/.lock (another $SELF is busy)"
}

apt_install() { # $@ = packages; never lets apt start a service
  local tmp_policy=""
  [[ $EUID -eq 0 ]] || die "need root to apt-get install $* (install it, or run as root)"
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  # `make services` starts postgres.sh and mysql.sh at once; on a machine that has neither
  # server both would run apt-get (and the second fail on dpkg's lock, or lose the
  # policy-rc.d below when the first removes it). One install at a time.
  exec 8>"${TMPDIR:-/tmp}/tessera-apt-install.lock"
  flock -w 900 8 || die "could not lock ${TMPDIR:-/tmp}/tessera-apt-install.lock for apt-get"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # keep invoke-rc.d from starting the system service during the install
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    tmp_policy=1
  fi
  log "apt-get install $* ..."
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    >"$STATE/apt.log" 2>&1 \
    || { apt-get update -q >>"$STATE/apt.log" 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
            >>"$STATE/apt.log" 2>&1; } || rc=$?
  [[ -n "$tmp_policy" ]] && rm -f /usr/sbin/policy-rc.d
  exec 8>&-
  if [[ $rc -ne 0 ]]; then tail -20 "$STATE/apt.log" >&2; die "apt-get install $* failed"; fi
}

# Sets AS (command prefix to run as the server's user) and OS_USER. As root, the server runs
# as $OS_USER_WANTED, a system user created on first use (PostgreSQL refuses root, and a
# test server has no business running as root anyway).
setup_user() {
  AS=()
  if [[ $EUID -ne 0 ]]; then OS_USER="$(id -un)"; return 0; fi
  OS_USER="$OS_USER_WANTED"
  if ! getent passwd "$OS_USER" >/dev/null; then
    log "creating system user $OS_USER (runs the test $SERVER_NAME, never root)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "Tessera test $SERVER_NAME" "$OS_USER" \
      || die "useradd $OS_USER failed"
  fi
  AS=(setpriv "--reuid=$OS_USER" "--regid=$(id -g "$OS_USER")" --init-groups --)
}

as_user() { "${AS[@]}" "$@"; }

# ensure_reachable LOG_DIR PRIVATE_DIR...: creates the directories, gives them to the
# server's user (the private ones mode 700; the first is the data dir) and makes $STATE
# reachable for that user: search (x) on any parent it cannot traverse (e.g. /root, 700),
# through an ACL entry for that one user.
ensure_reachable() {
  local log_dir="$1"; shift
  local data="$1"
  mkdir -p "$STATE" "$log_dir" "$@"
  [[ $EUID -eq 0 ]] || return 0
  chown "$OS_USER:" "$log_dir" "$@"
  chmod 700 "$@"
  as_user test -w "$data" 2>/dev/null && return 0
  local d="$STATE"; local -a parents=()
  while [[ "$d" != / ]]; do d="$(dirname "$d")"; parents=("$d" "${parents[@]}"); done
  command -v setfacl >/dev/null || apt_install acl
  for d in "${parents[@]}"; do
    if ! as_user test -x "$d" 2>/dev/null; then
      log "granting $OS_USER search-only access to $d (setfacl -m u:$OS_USER:x)"
      setfacl -m "u:$OS_USER:x" "$d" || die "setfacl on $d failed"
    fi
  done
  as_user test -w "$data" || die "$OS_USER still cannot write $data"
}

# Closes every descriptor above 2 in the calling (sub)shell, so the server started from it
# keeps nothing its starter had open. A lock file is the case that bites: `flock FILE CMD`
# hands FILE to CMD as fd 3, and a server inheriting it would hold the lock (and stall every
# test waiting for it) for as long as it runs.
close_inherited_fds() {
  local fd
  for fd in /proc/"$BASHPID"/fd/*; do
    fd="${fd##*/}"
    if [[ "$fd" =~ ^[0-9]+$ ]] && (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# stop_server SIGNAL: the server's own clean shutdown signal, then SIGKILL after
# $STOP_TIMEOUT seconds.
stop_server() {
  local signal="$1" pid i
  lock_state
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  log "stopping $SERVER_NAME (pid $pid) ..."
  kill "-$signal" "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do is_ours "$pid" || break; sleep 0.2; done
  if is_ours "$pid"; then
    log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    # child processes notice the parent is gone and exit; give them (and the pid) a moment
    for ((i = 0; i < 50; i++)); do is_ours "$pid" || break; sleep 0.2; done
    is_ours "$pid" && die "pid $pid did not exit after SIGKILL"
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; }

# ensure_tls: a CA and a server certificate for 127.0.0.1 / localhost in $STATE/tls (made
# once, kept across restarts), the key readable only by the server's user. The server takes
# TLS and plain connections alike; tests that need TLS verify it against $STATE/tls/ca.pem.
ensure_tls() {
  local dir="$STATE/tls"
  if [[ ! -s "$dir/server.crt" || ! -s "$dir/server.key" || ! -s "$dir/ca.pem" ]]; then
    command -v openssl >/dev/null || apt_install openssl
    mkdir -p "$dir"
    log "making a test CA and a server certificate for 127.0.0.1 in $dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Tessera test $SERVER_NAME CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 || die "openssl: CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || die "openssl: CSR"
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 3650 -extfile "$dir/ext.cnf" -out "$dir/server.crt" >/dev/null 2>&1 \
      || die "openssl: server certificate"
    rm -f "$dir/server.csr" "$dir/ext.cnf"
  fi
  chmod 755 "$dir"
  chmod 644 "$dir/ca.pem" "$dir/server.crt"
  chmod 600 "$dir/server.key" "$dir/ca.key"
  [[ $EUID -eq 0 ]] && chown "$OS_USER:" "$dir/server.key" "$dir/server.crt"
  return 0
}
