#!/usr/bin/env bash
# Cost against table size (issue 17; bench/RESULTS.md, "Size"): closed-loop
# client_credentials and tokeninfo throughput, and the server's CPU per request, with a
# small table (SMALL = 1 000 live tokens) and a large one (TOKENS = 10 M), as ratios
# large ÷ small. The target: throughput ratio ≥ 0.9.
#
# Per size, one fresh server: `tessera-loadtest --prefill N` fills it with N
# client_credentials tokens, then tokeninfo is measured probing POOL of those tokens
# (spread evenly over the prefill: random places in the table, not a hot corner), then
# client_credentials on the same server. tokeninfo runs first because it issues nothing,
# so it sees exactly N live tokens; client_credentials adds its own tokens as it runs
# (rate × (SECS + WARMUP): from about 1 k to about 1 M with the small table, so that
# column measures a table growing from small). Server CPU per request is over the measured
# phase only (`--server-pid`), not the prefill.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, 127.0.0.1 only.
#
# This machine's run-to-run spread (±5–10 %) is wider than the target's margin, so
# ROUNDS repeats the whole small/large pair on fresh servers and the summary gives each
# round's ratios and their median: a stall that slows one side of one round shows as that
# round's outlier instead of deciding the result.
#
# Usage: bench/size.sh                 (the 10 M prefill at the server's peak rate, about
#                                       2 minutes at 80 k req/s, plus 4 runs of 12 s:
#                                       about 3.5 minutes per round)
#        ROUNDS=3 bench/size.sh        (three rounds and their median: about 11 minutes)
#        TOKENS=200000 POOL=20000 SECS=3 WARMUP=1 bench/size.sh   (a quick check: ~40 s)
# Environment: TOKENS (10000000), SMALL (1000), POOL (1000000: tokeninfo's probe set with
#   the large table; the small table's is all of its tokens), SECS (10), WARMUP (2),
#   CONNS (32), ROUNDS (1), OUT (bench/out/size: JSON reports and summary.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
tokens="${TOKENS:-10000000}"
small="${SMALL:-1000}"
pool="${POOL:-1000000}"
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
rounds="${ROUNDS:-1}"
out="${OUT:-bench/out/size}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
echo "+ TOKENS=$tokens SMALL=$small POOL=$pool SECS=$secs WARMUP=$warmup CONNS=$conns ROUNDS=$rounds bench/size.sh" >&2

# prepare, write_memory_config, DAY_LONG_TOKENS, start_tessera, stop_tessera, json, measure, live_tokens, rss_mib, machine_line
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare
start_line="$(machine_line)"

# A day: no token expires (and none is purged) during the run.
write_memory_config "" "$DAY_LONG_TOKENS"
client=(--client-id svc-a --client-secret bench-secret --scope read)

declare -A rates=() cpus=() p99s=() lives=() prefill_s=() rss=()
for round in $(seq 1 "$rounds"); do
  for size in small large; do
    if [ "$size" = small ]; then n="$small"; probe="$small"; else n="$tokens"; probe="$pool"; fi
    k="$round-$size"
    start_tessera
    measure "$k-tokeninfo" --scenario tokeninfo "${client[@]}" --prefill "$n" --pool "$probe"
    rates[$k-ti]="$rate"; cpus[$k-ti]="$scpu_us"; p99s[$k-ti]="$p99_us"
    prefill_s[$k]="$(json "$out/$k-tokeninfo.json" '"%.1f" % d["prefill"]["seconds"]')"
    lives[$k-ti]="$(live_tokens)"
    rss[$k]="$(rss_mib "$server_pid")"
    measure "$k-client-credentials" --scenario client-credentials "${client[@]}"
    rates[$k-cc]="$rate"; cpus[$k-cc]="$scpu_us"; p99s[$k-cc]="$p99_us"
    lives[$k-cc]="$(live_tokens)"
    stop_tessera
  done
done

# median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

summary="$out/summary.md"
{
  echo "Command: \`TOKENS=$tokens SMALL=$small POOL=$pool SECS=$secs WARMUP=$warmup CONNS=$conns ROUNDS=$rounds bench/size.sh\`."
  echo "$start_line"
  echo "Tessera: 1 worker, memory store, pinned to core 0, access tokens live a day. Load: tessera-loadtest, 1 thread, core 1, $conns connections, closed loop, ${secs} s after ${warmup} s warm-up; per round one server per size, filled by \`--prefill\` (round 1: small ${prefill_s[1-small]} s, large ${prefill_s[1-large]} s; RSS after the fill ${rss[1-small]} / ${rss[1-large]} MiB); tokeninfo probes $small / $pool of the prefilled tokens, then client_credentials runs on the same server. Server CPU per request over the measured phase only."
  echo
  echo "| round | scenario | live tokens small → after | live tokens large → after | req/s small | req/s large | large ÷ small (target ≥ 0.9) | CPU µs/req small | CPU µs/req large | large ÷ small | p99 µs small / large |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  ti=() cc=()
  for round in $(seq 1 "$rounds"); do
    s="$round-small"; l="$round-large"
    ti+=("$(ratio "${rates[$l-ti]}" "${rates[$s-ti]}")")
    cc+=("$(ratio "${rates[$l-cc]}" "${rates[$s-cc]}")")
    echo "| $round | tokeninfo | $small → ${lives[$s-ti]} | $tokens → ${lives[$l-ti]} | ${rates[$s-ti]} | ${rates[$l-ti]} | ${ti[-1]} | ${cpus[$s-ti]} | ${cpus[$l-ti]} | $(ratio "${cpus[$l-ti]}" "${cpus[$s-ti]}") | ${p99s[$s-ti]} / ${p99s[$l-ti]} |"
    echo "| $round | client_credentials | ${lives[$s-ti]} → ${lives[$s-cc]} | ${lives[$l-ti]} → ${lives[$l-cc]} | ${rates[$s-cc]} | ${rates[$l-cc]} | ${cc[-1]} | ${cpus[$s-cc]} | ${cpus[$l-cc]} | $(ratio "${cpus[$l-cc]}" "${cpus[$s-cc]}") | ${p99s[$s-cc]} / ${p99s[$l-cc]} |"
  done
  echo
  echo "Median throughput ratio over $rounds round(s): tokeninfo **$(median "${ti[@]}")**, client_credentials **$(median "${cc[@]}")** (target ≥ 0.9)."
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} > "$summary"
cat "$summary"
