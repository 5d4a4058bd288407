#!/usr/bin/env bash
# The rate limits' cost on the hot path (issue 15; bench/RESULTS.md, "Rate limits"):
# client_credentials with no limit (A) against the same with limits far above the load (B):
# the client's `rate_limit` and `[security] rate_limit_per_address`, both at 1,000,000 a
# second with a burst of 1,000,000, so every request takes a token from both buckets and
# none is refused. Runs alternate A B A B ... on a fresh server each (same binary), so slow
# drift of the machine hits both alike; the table gives each pair's ratio B / A.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, 127.0.0.1 only.
#
# Usage: bench/rate-limit.sh            (3 pairs of runs of 12 s: about a minute and a half)
# Environment: SECS (measured seconds per run, 10), WARMUP (2), CONNS (32), ROUNDS (3),
#   OUT (bench/out/rate-limit: JSON reports and table.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
rounds="${ROUNDS:-3}"
out="${OUT:-bench/out/rate-limit}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"

# prepare, start_tessera, stop_tessera, cpu_secs, json, run, ratio
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare

config() { # limited: 0 | 1
  cat <<TOML
[server]
workers = 1
pin_cores = true
[store]
kind = "memory"
[log]
level = "warn"
TOML
  [ "$1" = 1 ] && cat <<TOML
[security]
rate_limit_per_address = { per_second = 1000000, burst = 1000000 }
TOML
  cat <<TOML
[[clients]]
id = "svc-a"
secret = "bench-secret-0123456789abcdef"
grant_types = ["client_credentials"]
scopes = ["read"]
TOML
  [ "$1" = 1 ] && echo 'rate_limit = { per_second = 1000000, burst = 1000000 }'
  true
}

cc=(--scenario client-credentials --client-id svc-a --client-secret bench-secret-0123456789abcdef --scope read)
table="$out/table.md"
{
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ). Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr)."
  echo "Tessera: 1 worker, memory store, pinned to core 0. Load: tessera-loadtest client_credentials, 1 thread, core 1, $conns connections, ${secs} s after ${warmup} s warm-up, a fresh server per run."
  echo
  echo "| pair | A: no limit req/s | B: limits 1M/s req/s | ratio B/A | server CPU µs/req A / B | ratio B/A | p99 µs A / B | errors A / B |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$table"

sum_a=0; sum_b=0; cpu_a=0; cpu_b=0
for round in $(seq 1 "$rounds"); do
  declare -A rates=() cpus=() p99s=() errs=()
  for v in a b; do
    if [ "$v" = a ]; then config 0; else config 1; fi > "$work/tessera.toml"
    run "r$round-$v" "${cc[@]}"
    rates[$v]="$rate"; cpus[$v]="$scpu_us"
    p99s[$v]="$(json "$out/r$round-$v.json" 'round(d["latency_us"]["p99"])')"
    errs[$v]="$(json "$out/r$round-$v.json" 'd["errors"]["total"]')"
  done
  sum_a=$((sum_a + rates[a])); sum_b=$((sum_b + rates[b]))
  cpu_a="$(awk -v s="$cpu_a" -v x="${cpus[a]}" 'BEGIN { print s + x }')"
  cpu_b="$(awk -v s="$cpu_b" -v x="${cpus[b]}" 'BEGIN { print s + x }')"
  echo "| $round | ${rates[a]} | ${rates[b]} | $(ratio "${rates[b]}" "${rates[a]}") | ${cpus[a]} / ${cpus[b]} | $(ratio "${cpus[b]}" "${cpus[a]}") | ${p99s[a]} / ${p99s[b]} | ${errs[a]} / ${errs[b]} |" >> "$table"
done
echo "| all | $((sum_a / rounds)) | $((sum_b / rounds)) | $(ratio "$sum_b" "$sum_a") | | $(ratio "$cpu_b" "$cpu_a") | | |" >> "$table"
cat "$table"
