#!/usr/bin/env bash
# Client-credentials issuance throughput with each store setting, in one run:
#   memory-only (baseline) | RocksDB durability=async | RocksDB durability=sync
#   | Cassandra durability=async, write_batching unlogged and concurrent
#     (needs tests/services/cassandra.sh start; CASSANDRA=0 skips)
#   | PostgreSQL and MariaDB, durability=async and sync (started with
#     tests/services/{postgres,mysql}.sh; SQL=0 skips), each run in a fresh schema/database
# Tessera runs with one worker pinned to core 0; wrk (1 thread, CONNS=32 connections) on core 1.
# Prints a table with each setting's throughput as a ratio to memory-only.
#
# Usage: bench/store-throughput.sh [seconds-per-setting] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${CONNS:-32}"
rounds="${2:-3}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
# The shared build cache and --workspace (the same feature set as every other build), so
# RocksDB is built once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
cargo build --release --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/tessera"
work="$(mktemp -d)"
pg_base="${TESSERA_POSTGRES_URL:-postgres://tessera:tessera-secret@127.0.0.1:55432/tessera}"
my_base="${TESSERA_MYSQL_URL:-mysql://tessera:tessera-secret@127.0.0.1:53306/tessera}"
sql_place="bench_tput_$$"
cleanup() {
  rm -rf "$work"
  if [ "${CASSANDRA:-1}" = 1 ]; then
    bash tests/services/cassandra.sh cql "DROP KEYSPACE IF EXISTS bench_tput_$$" >/dev/null 2>&1 || true
  fi
  if [ "${SQL:-1}" = 1 ]; then
    bash tests/services/postgres.sh psql -qc "DROP SCHEMA IF EXISTS $sql_place CASCADE" >/dev/null 2>&1 || true
    echo "DROP DATABASE IF EXISTS tessera_$sql_place" | bash tests/services/mysql.sh sql >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
[ "${CASSANDRA:-1}" = 1 ] && bash tests/services/cassandra.sh start >&2
if [ "${SQL:-1}" = 1 ]; then
  bash tests/services/postgres.sh start >&2
  bash tests/services/mysql.sh start >&2
fi

# A fresh, migrated schema (PostgreSQL) or database (MariaDB) for one run, so every run
# starts empty like the RocksDB ones. Prints the store's URL.
sql_fresh() { # postgres|mysql
  if [ "$1" = postgres ]; then
    bash tests/services/postgres.sh psql -qc "DROP SCHEMA IF EXISTS $sql_place CASCADE; CREATE SCHEMA $sql_place" >/dev/null
    echo "$pg_base?options=-csearch_path%3D$sql_place"
  else
    echo "DROP DATABASE IF EXISTS tessera_$sql_place; CREATE DATABASE tessera_$sql_place" | bash tests/services/mysql.sh sql >/dev/null
    echo "${my_base%/*}/tessera_$sql_place"
  fi
}

config() { # kind durability [write_batching] [sql url]
  cat <<TOML
[server]
workers = 1
pin_cores = true
[store]
kind = "$1"
path = "$work/data-$1-$2"
durability = "$2"
cassandra.keyspace = "bench_tput_$$"
cassandra.create_schema = true
${3:+cassandra.write_batching = \"$3\"}
${4:+$1.url = \"$4\"}
[log]
level = "warn"
[[clients]]
id = "svc-a"
secret = "bench-secret"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
TOML
}

run_one() { # kind durability [write_batching] -> prints rps
  local cfg="$work/$1-$2.toml" url=""
  case "$1" in postgres|mysql) url="$(sql_fresh "$1")" ;; esac
  config "$1" "$2" "${3:-}" "$url" > "$cfg"
  if [ -n "$url" ]; then "$bin" migrate --config "$cfg" >&2; fi
  rm -rf "$work/data-$1-$2"
  # A fresh file: the loop below must not read the previous server's address before the
  # new one has even truncated it.
  rm -f "$work/out"
  taskset -c 0 "$bin" serve --config "$cfg" --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
  local pid=$!
  local addr=""
  # Up to 60 s: a Cassandra node first reads back every live token the earlier runs wrote.
  for _ in $(seq 1 600); do
    addr="$(sed -n 's/^listening on //p' "$work/out")"
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/err" >&2; exit 1; }
  # Warm-up, then the measured run.
  taskset -c 1 wrk -t1 -c"$conns" -d2s -s bench/wrk/client_credentials.lua "http://$addr/api/oauth/token" > /dev/null
  local line
  line="$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -s bench/wrk/client_credentials.lua "http://$addr/api/oauth/token" | grep '^wrk-result')"
  kill -TERM "$pid"; wait "$pid" || true
  echo "$line"
}

printf '%-26s %-6s %10s %8s %8s %8s %8s\n' setting round rps errors p50_us p99_us ratio
for round in $(seq 1 "$rounds"); do
  base=""
  settings="memory:async rocksdb:async rocksdb:sync"
  [ "${CASSANDRA:-1}" = 1 ] && settings="$settings cassandra:async:unlogged cassandra:async:concurrent"
  [ "${SQL:-1}" = 1 ] && settings="$settings postgres:async postgres:sync mysql:async mysql:sync"
  for setting in $settings; do
    IFS=: read -r kind durability batching <<<"$setting"
    line="$(run_one "$kind" "$durability" "$batching")"
    rps="$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")"
    errors="$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$line")"
    p50="$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")"
    p99="$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")"
    [ -z "$base" ] && base="$rps"
    label="$kind"; [ "$kind" != memory ] && label="$kind-$durability${batching:+-$batching}"
    ratio="$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-26s %-6s %10s %8s %8s %8s %8s\n' "$label" "$round" "$rps" "$errors" "$p50" "$p99" "$ratio"
  done
done
