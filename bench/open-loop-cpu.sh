#!/usr/bin/env bash
# Server CPU per request in open loop (issue 17; bench/RESULTS.md, "Open-loop CPU"): what a
# client_credentials request costs the server when requests arrive spread out over time, as
# they do from real clients, rather than back to back as in a closed loop. At a modest rate
# the worker sleeps and wakes between requests, so each one pays for wake-ups and
# interrupts a closed loop never shows.
#
# For every driver in DRIVERS and every rate in RATES: a fresh server (one worker, memory
# store, pinned to core 0) and an open-loop client_credentials run (tessera-loadtest, one
# thread on core 1, CONNS connections); the server's CPU per successful request over the
# measured phase (--server-pid), its share of the core, p50/p99 and late sends. With
# BASELINE=DIR (a directory holding another build's `tessera` and `tessera-loadtest`, e.g.
# the previous commit's), every run is repeated with that build, alternating which goes
# first, and the summary gives head ÷ baseline.
#
# Usage: bench/open-loop-cpu.sh                         (2 drivers × 3 rates × 8 s: ~2 min)
#        BASELINE=/tmp/before bench/open-loop-cpu.sh    (twice that)
# Environment: RATES ("10000 25000 50000"), DRIVERS ("io_uring epoll"), SECS (8), WARMUP (1),
#   CONNS (64), BASELINE (unset), OUT (bench/out/open-loop-cpu; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
rates="${RATES:-10000 25000 50000}"
drivers="${DRIVERS:-io_uring epoll}"
secs="${SECS:-8}"
warmup="${WARMUP:-1}"
conns="${CONNS:-64}"
baseline="${BASELINE:-}"
out="${OUT:-bench/out/open-loop-cpu}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
echo "+ RATES=\"$rates\" DRIVERS=\"$drivers\" SECS=$secs CONNS=$conns BASELINE=$baseline bench/open-loop-cpu.sh" >&2

# prepare, write_memory_config, DAY_LONG_TOKENS, start_tessera, stop_tessera, json, measure, machine_line
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare
start_line="$(machine_line)"
head_bin="$bin"
head_lt="$lt"
builds="head"
if [ -n "$baseline" ]; then
  for f in tessera tessera-loadtest; do
    [ -x "$baseline/$f" ] || { echo "open-loop-cpu.sh: no executable $baseline/$f" >&2; exit 1; }
  done
  builds="head baseline"
fi
cc=(--scenario client-credentials --client-id svc-a --client-secret bench-secret --scope read)

rows="$out/rows.tsv"
: > "$rows"
n=0
for driver in $drivers; do
  write_memory_config "driver = \"$driver\"" "$DAY_LONG_TOKENS"
  for r in $rates; do
    order="$builds"
    # Alternate which build goes first, so neither profits from the machine's drift.
    if [ -n "$baseline" ] && [ $((n % 2)) = 1 ]; then order="baseline head"; fi
    n=$((n + 1))
    for build in $order; do
      if [ "$build" = head ]; then bin="$head_bin"; lt="$head_lt"; else bin="$baseline/tessera"; lt="$baseline/tessera-loadtest"; fi
      name="$build-$driver-$r"
      start_tessera
      measure "$name" "${cc[@]}" --rate "$r"
      stop_tessera
      p50="$(json "$out/$name.json" 'round(d["latency_us"]["p50"])')"
      late="$(json "$out/$name.json" 'd["late_sends"]')"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$build" "$driver" "$r" "$rate" "$scpu_us" "$scpu" "$p50" "$p99_us" "$late" >> "$rows"
    done
  done
done

python3 - "$rows" "$start_line" "$secs" "$conns" > "$out/summary.md" <<'PY'
import sys
rows_path, machine, secs, conns = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(rows_path) if l.strip()]
by = {(b, d, r): (got, us, pct, p50, p99, late) for b, d, r, got, us, pct, p50, p99, late in rows}
print("Command: `bench/open-loop-cpu.sh`" + (" with `BASELINE`" if any(b == "baseline" for b, *_ in rows) else "") + ".")
print(machine)
print(f"Tessera: 1 worker, memory store, core 0. Load: tessera-loadtest client_credentials, 1 thread, core 1, {conns} connections, open loop, {secs} s per run.")
print()
print("| build | driver | rate (req/s) | server CPU µs/req | server core | p50 / p99 | late sends | ÷ baseline (CPU/req) |")
print("|---|---|---|---|---|---|---|---|")
for b, d, r, got, us, pct, p50, p99, late in rows:
    base = by.get(("baseline", d, r))
    ratio = f"{float(us) / float(base[1]):.3f}" if b == "head" and base else "–"
    print(f"| {b} | {d} | {int(r):,} | {us} | {pct} % | {p50} / {p99} µs | {late} | {ratio} |".replace(",", " "))
PY
cat "$out/summary.md"
