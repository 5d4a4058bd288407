#!/usr/bin/env bash
# Reproduces the headline table of bench/RESULTS.md in one run:
#   1. every loadtest scenario, closed loop, as a ratio to `baseline` (GET /health);
#   2. open-loop latency at 50 % of the peak client_credentials rate (with a chart);
#   3. node-oidc-provider (loadtest/peers/node-oidc-provider) on client_credentials and
#      introspection, and Tessera's throughput as a multiple of it;
#   4. resident memory with 1 M and 10 M live tokens (bytes per token).
# The server (Tessera or the peer) runs pinned to core 0, the load generator (one thread)
# to core 1. Each scenario gets a fresh server with the in-memory store, so the numbers are
# the server's own, not the disk's (bench/store-throughput.sh measures the stores).
#
# Usage: bench/run.sh            (about 6 minutes)
# Environment: SECS (measured seconds per run, 10), WARMUP (2), CONNS (32),
#   MEMORY_TOKENS ("1000000 10000000"), PEER (1 = include node-oidc-provider),
#   OUT (bench/out: JSON reports, charts and table.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
memory_tokens="${MEMORY_TOKENS:-1000000 10000000}"
with_peer="${PEER:-1}"
out="${OUT:-bench/out}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"

# --workspace: the same feature set as every other build, so RocksDB is built once.
cargo build --release --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/tessera"
lt="$CARGO_TARGET_DIR/release/tessera-loadtest"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ "$with_peer" = 1 ] && loadtest/peers/node-oidc-provider/run.sh stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/tessera.toml" <<'TOML'
[server]
workers = 1
pin_cores = true
[store]
kind = "memory"
[log]
level = "warn"
[[clients]]
id = "svc-a"
secret = "bench-secret"
grant_types = ["client_credentials", "password", "refresh_token"]
scopes = ["read", "write"]
refresh_policy = "rotate"
[[users]]
username = "bench"
password = "bench-password"
TOML

# start_tessera, stop_tessera, cpu_secs, json
. bench/lib.sh # the scripts run from the repository root (cd above)

rss_kib() {
  awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

# load NAME ARGS...: one loadtest run on core 1 against $addr; the report goes to $out/NAME.json.
load() {
  local name="$1"; shift
  set +e
  taskset -c 1 "$lt" --url "http://$addr" --duration "${secs}s" --warmup "${warmup}s" \
    --connections "$conns" --quiet --json "$out/$name.json" "$@" > "$out/$name.txt"
  local rc=$?
  set -e
  cat "$out/$name.txt" >&2
  if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    echo "loadtest failed ($rc) for $name" >&2
    exit 1
  fi
}

table="$out/table.md"
{
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ). Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr)."
  echo "Tessera: 1 worker, memory store, pinned to core 0. Load: tessera-loadtest, 1 thread, core 1, $conns connections, ${secs} s after ${warmup} s warm-up."
  echo
  echo "| scenario | req/s | ratio to baseline | p50 | p99 | errors | server CPU (of one core) |"
  echo "|---|---|---|---|---|---|---|"
} > "$table"

base_rps=""
for scenario in baseline client-credentials tokeninfo introspect refresh revoke mixed password; do
  start_tessera
  before="$(cpu_secs "$server_pid")"
  t0="$(date +%s.%N)"
  load "$scenario" --scenario "$scenario"
  t1="$(date +%s.%N)"
  after="$(cpu_secs "$server_pid")"
  stop_tessera
  f="$out/$scenario.json"
  rps="$(json "$f" 'round(d["throughput"])')"
  [ -z "$base_rps" ] && base_rps="$rps"
  # CPU the server used over the whole loadtest run (provisioning included), per wall second.
  cpu="$(awk -v a="$before" -v b="$after" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f %%", 100 * (b - a) / (t1 - t0) }')"
  ratio="$(awk -v a="$rps" -v b="$base_rps" 'BEGIN { printf "%.2f", a / b }')"
  p50="$(json "$f" 'round(d["latency_us"]["p50"])')"
  p99="$(json "$f" 'round(d["latency_us"]["p99"])')"
  errors="$(json "$f" 'd["errors"]["total"]')"
  echo "| $scenario | $rps | $ratio | ${p50} µs | ${p99} µs | $errors | $cpu |" >> "$table"
  [ "$scenario" = client-credentials ] && cc_rps="$rps"
  [ "$scenario" = introspect ] && introspect_rps="$rps"
done

# The load generator's own ceiling: the same baseline with wrk (C, epoll) as the client.
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq wrk >/dev/null; }
start_tessera
before="$(cpu_secs "$server_pid")"
wrk_rps="$(taskset -c 1 wrk -t1 -c"$conns" -d"$((secs + warmup))s" "http://$addr/health" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')"
after="$(cpu_secs "$server_pid")"
stop_tessera
wrk_cpu="$(awk -v a="$before" -v b="$after" -v d="$((secs + warmup))" 'BEGIN { printf "%.0f %%", 100 * (b - a) / d }')"
echo "| baseline with wrk as the client (reference) | $wrk_rps | $(awk -v a="$wrk_rps" -v b="$base_rps" 'BEGIN { printf "%.2f", a / b }') | | | | $wrk_cpu |" >> "$table"

# Open loop at half the measured peak client_credentials rate.
rate=$(( cc_rps / 2 ))
start_tessera
load open-client-credentials --scenario client-credentials --rate "$rate" --chart "$out/open-client-credentials.svg"
stop_tessera
f="$out/open-client-credentials.json"
{
  echo
  echo "Open loop, client_credentials at $rate req/s (50 % of the closed-loop peak), latency from the intended send time:"
  echo
  echo "| p50 | p90 | p99 | p99.9 | max | late sends | errors |"
  echo "|---|---|---|---|---|---|---|"
  echo "| $(json "$f" 'round(d["latency_us"]["p50"])') µs | $(json "$f" 'round(d["latency_us"]["p90"])') µs | $(json "$f" 'round(d["latency_us"]["p99"])') µs | $(json "$f" 'round(d["latency_us"]["p999"])') µs | $(json "$f" 'round(d["latency_us"]["max"])') µs | $(json "$f" 'd["late_sends"]') | $(json "$f" 'd["errors"]["total"]') |"
  echo
  echo "Chart: \`$out/open-client-credentials.svg\`."
} >> "$table"

if [ "$with_peer" = 1 ]; then
  peer="loadtest/peers/node-oidc-provider/run.sh"
  # A store big enough that provisioned tokens stay active during the introspection run.
  PEER_CPU=0 PEER_STORE_MAX=2000000 PEER_PORT=9300 "$peer" start >&2
  addr="127.0.0.1:9300"
  load peer-client-credentials --scenario client-credentials --scope read --label node-oidc-provider \
    --token-path /token
  load peer-introspect --scenario introspect --scope read --pool 2000 --label node-oidc-provider \
    --introspect-path /token/introspection --token-path /token
  "$peer" stop >&2
  peer_cc="$(json "$out/peer-client-credentials.json" 'round(d["throughput"])')"
  peer_in="$(json "$out/peer-introspect.json" 'round(d["throughput"])')"
  {
    echo
    echo "Peer: node-oidc-provider $(node -p 'require("./loadtest/peers/node-oidc-provider/node_modules/oidc-provider/package.json").version') on Node $(node --version), in memory, same pinning and load:"
    echo
    echo "| scenario | Tessera req/s | node-oidc-provider req/s | Tessera ÷ peer | peer errors |"
    echo "|---|---|---|---|---|"
    echo "| client_credentials | $cc_rps | $peer_cc | $(awk -v a="$cc_rps" -v b="$peer_cc" 'BEGIN { printf "%.1f×", a / b }') | $(json "$out/peer-client-credentials.json" 'd["errors"]["total"]') |"
    echo "| introspection | $introspect_rps | $peer_in | $(awk -v a="$introspect_rps" -v b="$peer_in" 'BEGIN { printf "%.1f×", a / b }') | $(json "$out/peer-introspect.json" 'd["errors"]["total"]') |"
  } >> "$table"
fi

# Resident memory per live token: RSS after issuing N tokens minus RSS before, over N.
{
  echo
  echo "Resident memory with live tokens (client_credentials tokens without metadata, 3600 s TTL):"
  echo
  echo "| live tokens | RSS before | RSS after | bytes per token |"
  echo "|---|---|---|---|"
} >> "$table"
for n in $memory_tokens; do
  start_tessera
  sleep 0.5
  before="$(rss_kib "$server_pid")"
  taskset -c 1 "$lt" --url "http://$addr" --scenario client-credentials --requests "$n" \
    --duration 3600s --warmup 0s --connections "$conns" --quiet > "$out/memory-$n.txt"
  cat "$out/memory-$n.txt" >&2
  sleep 1
  after="$(rss_kib "$server_pid")"
  live="$(curl -s "http://$addr/metrics" | awk '/^tessera_live_tokens/ { s += $2 } END { print s + 0 }')"
  stop_tessera
  echo "| $n ($live live by /metrics) | $((before / 1024)) MiB | $((after / 1024)) MiB | $(( (after - before) * 1024 / n )) |" >> "$table"
done

cat "$table"
