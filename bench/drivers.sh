#!/usr/bin/env bash
# The I/O driver default, by measurement (issue 17; bench/RESULTS.md, "I/O drivers"):
# `[server] driver = "epoll"` against `driver = "io_uring"`, server CPU per request for
# GET /health (the runtime's floor), client_credentials and tokeninfo.
#
# Each round runs every scenario on both drivers, a fresh server per run, and the drivers'
# order flips from round to round (epoll first in odd rounds, io_uring first in even ones:
# A B, B A, …), so neither the machine's drift nor a driver's place in the round favours
# one. The figure to read is the server's CPU per successful request over the measured
# phase (`tessera-loadtest --server-pid`: no warm-up, no provisioning): it moves far less
# than throughput when other processes share the machine. `io_uring` is asked for
# explicitly, so a kernel without it fails the run instead of silently falling back.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, 127.0.0.1 only.
#
# Usage: bench/drivers.sh           (3 rounds × 3 scenarios × 2 drivers of 8 s + 2 s warm-up:
#                                    about 3.5 minutes)
#        SECS=2 WARMUP=1 ROUNDS=1 bench/drivers.sh    (a quick check: about 30 s)
# Environment: SECS (measured seconds per run, 8), WARMUP (2), CONNS (32), ROUNDS (3),
#   SCENARIOS ("baseline client-credentials tokeninfo"),
#   OUT (bench/out/drivers: JSON reports and summary.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-8}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
rounds="${ROUNDS:-3}"
scenarios="${SCENARIOS:-baseline client-credentials tokeninfo}"
out="${OUT:-bench/out/drivers}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
echo "+ SECS=$secs WARMUP=$warmup CONNS=$conns ROUNDS=$rounds SCENARIOS=\"$scenarios\" bench/drivers.sh" >&2

# prepare, write_memory_config, start_tessera, stop_tessera, json, measure, machine_line, ratio
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare

lt_args() { # SCENARIO
  echo --scenario "$1" --client-id svc-a --client-secret bench-secret --scope read
}

summary="$out/summary.md"
{
  echo "Command: \`SECS=$secs WARMUP=$warmup CONNS=$conns ROUNDS=$rounds bench/drivers.sh\`."
  machine_line
  echo "Tessera: 1 worker, memory store, pinned to core 0, a fresh server per run. Load: tessera-loadtest, 1 thread, core 1, $conns connections, ${secs} s after ${warmup} s warm-up. Server CPU µs per request over the measured phase (\`--server-pid\`); ratio = io_uring ÷ epoll (above 1: epoll is cheaper)."
  echo
  echo "| round | scenario | order | load avg | epoll req/s | io_uring req/s | epoll CPU µs/req | io_uring CPU µs/req | io_uring ÷ epoll | p99 µs epoll / io_uring | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} > "$summary"

declare -A cpu_list=()
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order="epoll io_uring"; else order="io_uring epoll"; fi
  for sc in $scenarios; do
    declare -A r=() c=() p=() e=()
    load="$(cut -d' ' -f1 /proc/loadavg)"
    for drv in $order; do
      write_memory_config "driver = \"$drv\""
      start_tessera
      # shellcheck disable=SC2046 # lt_args is a word list
      measure "r$round-$sc-$drv" $(lt_args "$sc")
      stop_tessera
      r[$drv]="$rate"; c[$drv]="$scpu_us"; p[$drv]="$p99_us"; e[$drv]="$errs"
      cpu_list["$sc-$drv"]="${cpu_list["$sc-$drv"]:-} $scpu_us"
    done
    echo "| $round | $sc | ${order/ / then } | $load | ${r[epoll]} | ${r[io_uring]} | ${c[epoll]} | ${c[io_uring]} | $(ratio "${c[io_uring]}" "${c[epoll]}") | ${p[epoll]} / ${p[io_uring]} | ${e[epoll]} / ${e[io_uring]} |" >> "$summary"
  done
done

# Per scenario: the median CPU per request of each driver over the rounds, and its ratio.
{
  echo
  echo "| scenario | epoll CPU µs/req (median of $rounds) | io_uring CPU µs/req (median) | io_uring ÷ epoll | rounds where epoll was cheaper |"
  echo "|---|---|---|---|---|"
  for sc in $scenarios; do
    python3 - "$sc" "${cpu_list["$sc-epoll"]}" "${cpu_list["$sc-io_uring"]}" <<'PY'
import statistics, sys
sc, a, b = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
ma, mb = statistics.median(a), statistics.median(b)
wins = sum(1 for x, y in zip(a, b) if x < y)
print(f"| {sc} | {ma:.2f} | {mb:.2f} | {mb / ma:.3f} | {wins} of {len(a)} |")
PY
  done
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >> "$summary"
cat "$summary"
