#!/usr/bin/env bash
# Benchmark peer: node-oidc-provider (client_credentials + introspection, in memory).
#
# Usage: run.sh start|stop|status|restart|fg
#   start   install deps if needed (npm ci), start in background, wait until it answers
#   stop    stop the process recorded in the pid file
#   status  exit 0 and print the pid if running, exit 1 otherwise
#   fg      run in the foreground (Ctrl-C to stop)
#
# Env:
#   PEER_PORT       listen port on 127.0.0.1 (default 9300)
#   PEER_CPU        optional CPU list for `taskset -c` (e.g. 0)
#   PEER_STORE_MAX  optional token store capacity (default: oidc-provider's built-in LRU)
#   PEER_WAIT_SECS  how long `start` waits for the server to answer (default 30)
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${PEER_PORT:-9300}"
PIDFILE="$DIR/peer.pid"
LOGFILE="$DIR/peer.log"
WAIT_SECS="${PEER_WAIT_SECS:-30}"
URL="http://127.0.0.1:${PORT}/.well-known/openid-configuration"

ensure_deps() {
  if [[ ! -d "$DIR/node_modules/oidc-provider" ]]; then
    echo "installing dependencies (npm ci) in $DIR" >&2
    (cd "$DIR" && npm ci --omit=dev --no-audit --no-fund >&2)
  fi
}

node_cmd() {
  local cmd=(node "$DIR/server.mjs")
  if [[ -n "${PEER_CPU:-}" ]]; then
    cmd=(taskset -c "$PEER_CPU" "${cmd[@]}")
  fi
  printf '%s\0' "${cmd[@]}"
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  curl -fsS -o /dev/null --max-time 2 "$URL" 2>/dev/null
}

start() {
  if pid="$(running_pid)"; then
    echo "already running (pid $pid) on port $PORT"
    return 0
  fi
  ensure_deps
  local -a cmd
  mapfile -d '' cmd < <(node_cmd)
  cd "$DIR"
  # taskset execs node, so $! is node's pid.
  NODE_ENV=production PEER_PORT="$PORT" nohup "${cmd[@]}" >"$LOGFILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  local deadline=$((SECONDS + WAIT_SECS))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "peer exited during startup; log:" >&2
      cat "$LOGFILE" >&2
      rm -f "$PIDFILE"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "peer did not answer on $URL within ${WAIT_SECS}s; stopping it" >&2
      kill "$pid" 2>/dev/null || true
      rm -f "$PIDFILE"
      return 1
    fi
    sleep 0.2
  done
  echo "started (pid $pid) on http://127.0.0.1:$PORT${PEER_CPU:+ pinned to CPU $PEER_CPU}; log: $LOGFILE"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  echo "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running (pid $pid) on port $PORT"
  else
    echo "not running"
    return 1
  fi
}

fg() {
  ensure_deps
  local -a cmd
  mapfile -d '' cmd < <(node_cmd)
  cd "$DIR"
  NODE_ENV=production PEER_PORT="$PORT" exec "${cmd[@]}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  fg) fg ;;
  *)
    echo "usage: $0 start|stop|status|restart|fg" >&2
    exit 2
    ;;
esac
