#!/usr/bin/env bash
# Does the purge of expired rows stall token issuance on a SQL store? For each of PostgreSQL
# and MariaDB (tests/services/{postgres,mysql}.sh), in one run:
#   1. a fresh schema/database, migrated; Tessera (1 worker on core 0, durability = async,
#      purge_interval_secs = 2) on it;
#   2. "without": client_credentials load (wrk, 1 thread, CONNS connections, core 1) for
#      SECS seconds, while the purge runs every 2 s and finds nothing;
#   3. ROWS expired access tokens inserted straight into the database (one statement);
#   4. "during": the same load, started once the purge has begun deleting them, for SECS
#      seconds or until the purge is done, whichever comes first.
# Prints rps and p99 of both phases, their ratio, and how long the purge took.
#
# Usage: [STORES="postgres mysql"] bench/sql-purge.sh [seconds] [rows]   (rows: 1000000)
# The server's log of each run is left in ${TMPDIR:-/tmp}/sql-purge-<store>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
rows="${2:-1000000}"
conns="${CONNS:-32}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
cargo build --release --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/tessera"
work="$(mktemp -d)"
place="bench_purge_$$"
pg_base="${TESSERA_POSTGRES_URL:-postgres://tessera:tessera-secret@127.0.0.1:55432/tessera}"
my_base="${TESSERA_MYSQL_URL:-mysql://tessera:tessera-secret@127.0.0.1:53306/tessera}"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
  bash tests/services/postgres.sh psql -qc "DROP SCHEMA IF EXISTS $place CASCADE" >/dev/null 2>&1 || true
  echo "DROP DATABASE IF EXISTS tessera_$place" | bash tests/services/mysql.sh sql >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash tests/services/postgres.sh start >&2
bash tests/services/mysql.sh start >&2

sql() { # kind statement -> prints the answer, tab-separated, no header
  if [ "$1" = postgres ]; then
    bash tests/services/postgres.sh psql -qAtc "SET search_path = $place; $2"
  else
    echo "USE tessera_$place; $2" | bash tests/services/mysql.sh sql -N
  fi
}

fresh() { # kind -> prints the store URL
  if [ "$1" = postgres ]; then
    bash tests/services/postgres.sh psql -qc "DROP SCHEMA IF EXISTS $place CASCADE; CREATE SCHEMA $place" >/dev/null
    echo "$pg_base?options=-csearch_path%3D$place"
  else
    echo "DROP DATABASE IF EXISTS tessera_$place; CREATE DATABASE tessera_$place" | bash tests/services/mysql.sh sql >/dev/null
    echo "${my_base%/*}/tessera_$place"
  fi
}

# ROWS expired access tokens (expired an hour ago), keyed like real ones (16 bytes).
insert_expired() { # kind
  local past=$(( $(date +%s) - 3600 ))
  if [ "$1" = postgres ]; then
    sql postgres "INSERT INTO access_tokens SELECT decode(md5('x' || i), 'hex'), 0, 'svc-a', NULL, 'read', NULL, $past - 600, $past FROM generate_series(1, $rows) i" >/dev/null
  elif [ "$(sql mysql "SELECT COUNT(*) FROM information_schema.engines WHERE engine = 'SEQUENCE'" | tail -1)" = 1 ]; then
    # MariaDB's sequence engine: the rows in a few seconds, 100 000 per transaction (one
    # transaction of 10^6 rows outgrows the lock table of the test server's buffer pool).
    local from=0 n
    while [ "$from" -lt "$rows" ]; do
      n=$(( rows - from < 100000 ? rows - from : 100000 ))
      sql mysql "INSERT INTO access_tokens SELECT UNHEX(MD5(CONCAT('x', $from + seq))), 0, 'svc-a', NULL, 'read', NULL, $past - 600, $past FROM seq_1_to_$n" >/dev/null
      from=$(( from + n ))
    done
  else
    # MySQL: digits cross-joined, 10^6 rows without recursion limits (slow: about a minute).
    sql mysql "INSERT INTO access_tokens (token_hash, grant_id, client_id, user_name, scope, metadata, issued_at, expires_at)
      SELECT UNHEX(MD5(CONCAT('x', n))), 0, 'svc-a', NULL, 'read', NULL, $past - 600, $past FROM (
        SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d AS n
        FROM (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) a,
             (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) b,
             (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) c,
             (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) e,
             (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) f,
             (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) g
      ) s WHERE n < $rows" >/dev/null
  fi
}

expired_left() { # kind
  sql "$1" "SELECT COUNT(*) FROM access_tokens WHERE expires_at < $(( $(date +%s) - 60 ))" | tail -1
}

load() { # addr seconds -> the wrk-result line
  taskset -c 1 wrk -t1 -c"$conns" -d"$2s" -s bench/wrk/client_credentials.lua \
    "http://$1/api/oauth/token" | grep '^wrk-result'
}

field() { sed -E "s/.*$1=([0-9]+).*/\\1/" <<<"$2"; }

printf '%-9s %-8s %9s %7s %8s %8s %9s\n' store phase rps errors p50_us p99_us p99_ratio
for kind in ${STORES:-postgres mysql}; do
  url="$(fresh "$kind")"
  cat > "$work/tessera.toml" <<TOML
[server]
workers = 1
pin_cores = true
[store]
kind = "$kind"
durability = "async"
purge_interval_secs = 2
$kind.url = "$url"
[log]
level = "warn"
[[clients]]
id = "svc-a"
secret = "bench-secret"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
TOML
  "$bin" migrate --config "$work/tessera.toml" >&2
  rm -f "$work/out"
  taskset -c 0 "$bin" serve --config "$work/tessera.toml" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
  pid=$!
  addr=""
  for _ in $(seq 1 100); do
    addr="$(sed -n 's/^listening on //p' "$work/out")"
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/err" >&2; exit 1; }
  load "$addr" 2 >/dev/null # warm-up
  without="$(load "$addr" "$secs")"
  t_insert=$(date +%s.%N)
  insert_expired "$kind"
  t_inserted=$(date +%s.%N)
  # Wait for the purge to start on them (at most one interval and a bit).
  for _ in $(seq 1 100); do
    [ "$(expired_left "$kind")" -lt "$rows" ] && break
    sleep 0.1
  done
  t_start=$(date +%s.%N)
  during="$(load "$addr" "$secs")"
  left_after_load="$(expired_left "$kind")"
  while [ "$(expired_left "$kind")" -gt 0 ]; do sleep 0.2; done
  t_done=$(date +%s.%N)
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  cp "$work/err" "${TMPDIR:-/tmp}/sql-purge-$kind.log" # the server's warnings, if any
  for phase in without during; do
    if [ "$phase" = without ]; then line="$without"; else line="$during"; fi
    p99="$(field p99_us "$line")"
    [ "$phase" = without ] && base_p99="$p99"
    printf '%-9s %-8s %9s %7s %8s %8s %9s\n' "$kind" "$phase" "$(field rps "$line")" \
      "$(field errors "$line")" "$(field p50_us "$line")" "$p99" \
      "$(awk -v a="$p99" -v b="$base_p99" 'BEGIN { printf "%.2f", a / b }')"
  done
  awk -v i0="$t_insert" -v i1="$t_inserted" -v s="$t_start" -v d="$t_done" -v left="$left_after_load" -v n="$rows" -v k="$kind" \
    'BEGIN { printf "%s: inserted %d expired rows in %.1f s; purge took %.1f s from its first delete; %d were left when the measured load ended\n", k, n, i1 - i0, d - s, left }'
done
