#!/usr/bin/env bash
# Connection floods (issue 15): a normal client's client_credentials throughput and p99
# without a flood and while one is held, against the same server in the same run, and the
# memory an idle connection costs.
#
# The server runs with the default [server] limits (max_connections_per_worker 10 000,
# keep-alive 60 s, first_request_timeout_secs 5, max_connections_per_address 1024), one
# worker pinned to core 0, the in-memory store. The load generator (32 keep-alive
# connections from 127.0.0.1) and the flood (bench/flood.py) share core 1. Variants:
#
#   one-address  10 000 silent connections from 127.0.0.2 (each re-opened as soon as the
#                server closes it) + 50 slowloris clients (one byte per 300 ms) from
#                127.0.0.3: the per-address limit closes everything past 1 024 at accept.
#   spread       the same flood spread over 127.0.0.2–127.0.0.21 (500 each, under the
#                per-address limit): the first-request timeout closes each silent
#                connection after 5 s, and at the worker's cap (10 000) the connection idle
#                longest is closed to admit a new one.
#
# Each variant: baseline (no flood), flood, baseline again, on one server. Then memory:
# RSS of a fresh server before and after 10 000 idle connections (never-sending, then
# keep-alive after one request), divided by 10 000.
#
# Usage: bench/flood.sh        (about 2 minutes)
# Environment: SECS (measured seconds per load, 10), WARMUP (2), CONNS (32), FLOOD (10000),
#   SLOWLORIS (50), FLOOD_NICE (0; 19 keeps the flood off the load generator's CPU), OUT (bench/out/flood: reports and table.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
flood="${FLOOD:-10000}"
slowloris="${SLOWLORIS:-50}"
rate_open="${RATE:-4000}"
out="${OUT:-bench/out/flood}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
# The flood and the server each hold 10 000+ sockets.
ulimit -n "$(ulimit -Hn)"

# prepare, write_memory_config, start_tessera, stop_tessera, json, ratio
. bench/lib.sh
prepare

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# load NAME [ARGS...]: one client_credentials run on core 1 (closed loop unless ARGS say
# --rate); sets rate, p99 (ms), scpu (the server's CPU over the run, % of one core) and
# fcpu (the flood generator's, when one runs).
load() {
  local name="$1" rc=0 before fbefore t0 t1 after fafter
  shift
  before="$(cpu_secs "$server_pid")"
  fbefore="$( [ -n "$flood_pid" ] && cpu_secs "$flood_pid" || echo 0)"
  t0="$(date +%s.%N)"
  taskset -c 1 "$lt" --url "http://$addr" --duration "${secs}s" --warmup "${warmup}s" \
    --connections "$conns" --quiet --json "$out/$name.json" "$@" > "$out/$name.txt" || rc=$?
  set -- "$name"
  cat "$out/$1.txt" >&2
  if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    echo "loadtest failed ($rc) for $1" >&2
    exit 1
  fi
  t1="$(date +%s.%N)"
  after="$(cpu_secs "$server_pid")"
  fafter="$( [ -n "$flood_pid" ] && cpu_secs "$flood_pid" || echo 0)"
  fcpu="$(awk -v a="$fbefore" -v b="$fafter" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", 100 * (b - a) / (e - s) }')"
  scpu="$(awk -v a="$before" -v b="$after" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", 100 * (b - a) / (e - s) }')"
  rate="$(json "$out/$1.json" 'round(d["throughput"])')"
  p99="$(json "$out/$1.json" 'round(d["latency_us"]["p99"] / 1000, 2)')"
}

# start_flood SOURCES [ARGS...]: bench/flood.py on core 1; waits until it holds the flood.
start_flood() {
  local sources="$1"; shift
  # FLOOD_NICE (default 0): the flood's niceness. The flood shares core 1 with the load
  # generator; a niced flood models an attacker on other machines, whose connection churn
  # costs the server but not the measured client's CPU.
  taskset -c 1 nice -n "${FLOOD_NICE:-0}" python3 bench/flood.py --target "$addr" --connections "$flood" \
    --sources "$sources" "$@" > "$work/flood.out" 2> "$work/flood.err" &
  flood_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^ready' "$work/flood.out" && return 0
    sleep 0.1
  done
  cat "$work/flood.err" >&2
  echo "the flood did not get going" >&2
  exit 1
}

stop_flood() {
  kill -TERM "$flood_pid" 2>/dev/null || true
  wait "$flood_pid" 2>/dev/null || true
  flood_pid=""
}
flood_pid=""

metric() { # name{labels} → value from /metrics
  curl -s "http://$addr/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

table="$out/table.md"
{
  echo "| variant | load | baseline req/s (p99 ms, server CPU) | flood req/s (p99 ms, server CPU) | baseline again req/s (p99 ms, server CPU) | flood / mean baseline |"
  echo "|---|---|---|---|---|---|"
} > "$table"
notes="$out/notes.txt"
: > "$notes"

write_memory_config ""
for variant in one-address spread; do
  case "$variant" in
    one-address) sources="127.0.0.2"; slow_sources="127.0.0.3" ;;
    spread) sources="127.0.0.2+20"; slow_sources="127.0.0.22+5" ;;
  esac
  start_tessera
  load "$variant-base"; base="$rate"; base_cell="$rate ($p99, $scpu %)"
  load "$variant-open-base" --rate "$rate_open"; obase="$rate"; obase_cell="$rate ($p99, $scpu %)"
  start_flood "$sources"
  taskset -c 1 python3 bench/flood.py --target "$addr" --connections 0 \
    --slowloris "$slowloris" --sources "$slow_sources" > "$work/slow.out" 2>&1 &
  slow_pid=$!
  sleep 2 # let the flood reach its steady state
  load "$variant-flood"; during="$rate"; during_cell="$rate ($p99, $scpu %)"
  echo "$variant flood generator CPU during the closed-loop load: $fcpu % (core 1, shared with the load generator)" >> "$notes"
  load "$variant-open-flood" --rate "$rate_open"; oduring="$rate"; oduring_cell="$rate ($p99, $scpu %)"
  kill -TERM "$slow_pid" 2>/dev/null || true
  wait "$slow_pid" 2>/dev/null || true
  stop_flood
  {
    echo "$variant flood: $(tail -n 1 "$work/flood.out")"
    echo "$variant slowloris: $(tail -n 1 "$work/slow.out")"
    for r in first_request_timeout address_limit evicted_idle; do
      echo "$variant tessera_connections_closed_total{reason=\"$r\"} $(metric "tessera_connections_closed_total{reason=\"$r\"}")"
    done
    echo "$variant tessera_rejected_connections_total $(metric tessera_rejected_connections_total)"
    echo "$variant tessera_requests_total 408: $(curl -s "http://$addr/metrics" | grep 'status="408"' | awk '{ s += $2 } END { print s + 0 }')"
  } >> "$notes"
  sleep 1
  load "$variant-after"; after="$rate"; after_cell="$rate ($p99, $scpu %)"
  load "$variant-open-after" --rate "$rate_open"; oafter="$rate"; oafter_cell="$rate ($p99, $scpu %)"
  stop_tessera
  mean="$(awk -v a="$base" -v b="$after" 'BEGIN { print (a + b) / 2 }')"
  echo "| $variant | closed loop | $base_cell | $during_cell | $after_cell | $(ratio "$during" "$mean") |" >> "$table"
  mean="$(awk -v a="$obase" -v b="$oafter" 'BEGIN { print (a + b) / 2 }')"
  echo "| $variant | open loop $rate_open/s | $obase_cell | $oduring_cell | $oafter_cell | $(ratio "$oduring" "$mean") |" >> "$table"
done

# Memory per idle connection: nothing closes them during the measurement.
echo >> "$table"
echo "| idle connections (10 000) | RSS before KiB | RSS with them KiB | KiB per connection |" >> "$table"
echo "|---|---|---|---|" >> "$table"
write_memory_config "first_request_timeout_secs = 60
max_connections_per_address = 0"
for mode in silent keepalive; do
  start_tessera
  taskset -c 1 "$lt" --url "http://$addr" --duration 1s --warmup 0s --connections 32 --quiet > /dev/null || true
  sleep 1
  before="$(rss_kib "$server_pid")"
  start_flood "127.0.0.2+20" --mode "$mode" --no-reopen
  sleep 2
  with="$(rss_kib "$server_pid")"
  echo "memory $mode: open $(metric tessera_open_connections)" >> "$notes"
  stop_flood > /dev/null
  stop_tessera
  per="$(awk -v a="$before" -v b="$with" -v n="$flood" 'BEGIN { printf "%.2f", (b - a) / n }')"
  echo "| $mode | $before | $with | $per |" >> "$table"
done

cat "$table"
cat "$notes"
