#!/usr/bin/env bash
# Latency while the token table grows (issue 17; bench/RESULTS.md, "Growth"): open-loop
# client_credentials at half the peak rate on a fresh server, for as long as it takes the
# table to grow from 0 to TOKENS live tokens (10 M), with the p50 / p99 / max of every
# second. The target: the worst second's p99 within 2× the median second's.
#
#   1. peak: a short closed-loop client_credentials run on a fresh server;
#   2. growth, RUNS times: a fresh server, open loop at FRACTION (0.5) of that peak, no
#      warm-up (the table starts empty), TOKENS / rate seconds; latency from each request's
#      intended send time (no coordinated omission), so a stall shows in its second's p99
#      and max;
#   3. control, RUNS times (CONTROL=1): the same rate, the same seconds, on GET /health — a
#      request that touches no table. Whatever its seconds show is the machine's, not the
#      table's: on a small VM, kernel threads (here kdamond, the host's memory reclaim) take
#      a core for 4–10 ms several times a minute, and either the server or the load
#      generator stalls with it.
# The summary gives, for every run, the median second's p99, the worst second (its index,
# UTC time and about how many tokens the table held then), their ratio and the worst max;
# then the same over the runs' per-second minimum. The schedule is the same in every run,
# so second k of every run holds the same number of tokens: a pause the table causes
# (a split, a purge pass, a rehash) comes back at the same second of every run and stays in
# the minimum, while the machine's stalls fall on different seconds and drop out of it.
# The access token lifetime is set far beyond the run, so nothing expires or is purged
# while the table grows.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, 127.0.0.1 only.
#
# Usage: bench/growth.sh                 (10 M tokens: 5 s peak run, then 3 × 2 runs of
#                                         10 M ÷ (peak / 2) s: about 16 minutes at a peak
#                                         of 130 k req/s)
#        TOKENS=300000 PEAK_SECS=2 RUNS=1 bench/growth.sh      (a quick check: about 30 s)
# Environment: TOKENS (10000000), FRACTION (0.5), PEAK_SECS (5), CONNS (64), RUNS (3),
#   CONTROL (1: run the /health control; 0: skip it), RATE (skip the peak run and use this
#   rate), MAX_SECS (900: one run's cap),
#   OUT (bench/out/growth: JSON reports, the SVG charts, summary.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
tokens="${TOKENS:-10000000}"
fraction="${FRACTION:-0.5}"
peak_secs="${PEAK_SECS:-5}"
conns="${CONNS:-64}"
fixed_rate="${RATE:-}"
max_secs="${MAX_SECS:-900}"
runs="${RUNS:-3}"
control="${CONTROL:-1}"
out="${OUT:-bench/out/growth}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
echo "+ TOKENS=$tokens FRACTION=$fraction PEAK_SECS=$peak_secs CONNS=$conns RUNS=$runs CONTROL=$control RATE=$fixed_rate bench/growth.sh" >&2

# prepare, write_memory_config, DAY_LONG_TOKENS, start_tessera, stop_tessera, json, measure, live_tokens, rss_mib, machine_line
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare
start_line="$(machine_line)"

# A day: no token expires (and none is purged) during the run.
write_memory_config "" "$DAY_LONG_TOKENS"
cc=(--scenario client-credentials --client-id svc-a --client-secret bench-secret --scope read)

if [ -n "$fixed_rate" ]; then
  rate="$fixed_rate"
  peak="(not measured: RATE=$fixed_rate)"
else
  start_tessera
  secs="$peak_secs" warmup=1 measure peak "${cc[@]}"
  stop_tessera
  peak="$rate"
  rate="$(awk -v p="$peak" -v f="$fraction" 'BEGIN { printf "%.0f", p * f }')"
fi
growth_secs="$(awk -v t="$tokens" -v r="$rate" 'BEGIN { s = t / r; printf "%d", (s == int(s)) ? s : int(s) + 1 }')"
if [ "$growth_secs" -gt "$max_secs" ]; then
  echo "growth.sh: $tokens tokens at $rate req/s take ${growth_secs} s, more than MAX_SECS=$max_secs" >&2
  exit 1
fi
echo "growth: $tokens tokens at $rate req/s (peak $peak × $fraction): ${growth_secs} s" >&2

for i in $(seq 1 "$runs"); do
  start_tessera
  rss_start="$(rss_mib "$server_pid")"
  secs="$growth_secs" warmup=0 measure "growth-$i" "${cc[@]}" --rate "$rate"
  live="$(live_tokens)"
  rss_end="$(rss_mib "$server_pid")"
  stop_tessera
  echo "$live $rss_start $rss_end" > "$out/growth-$i.memory"
  if [ "$control" = 1 ]; then
    start_tessera
    secs="$growth_secs" warmup=0 measure "control-$i" --scenario baseline --rate "$rate"
    stop_tessera
  fi
done

summary="$out/summary.md"
python3 - "$out" "$runs" "$control" "$tokens" "$rate" "$peak" "$fraction" "$start_line" > "$summary" <<'PY'
import datetime, json, statistics, sys
out, runs, control, tokens, rate, peak, fraction, machine = sys.argv[1:]
runs, control = int(runs), control == "1"

def load(name):
    d = json.load(open(f"{out}/{name}.json"))
    return d, [s for s in d["timeline"] if s["requests"] > 0]

def when(d, tl, s):
    at = datetime.datetime.fromtimestamp(d["started_unix"] + d["warmup_s"] + s["second"], datetime.timezone.utc)
    before = sum(x["requests"] for x in tl if x["second"] < s["second"])
    return f'second {s["second"]} ({at:%H:%M:%S} UTC, ~{before / 1e6:.2f} M tokens)'

def seconds_row(label, tl, d=None, tokens_at=None):
    p99s = [s["p99_us"] for s in tl]
    med = statistics.median(p99s)
    worst = max(tl, key=lambda s: s["p99_us"])
    worst_max = max(tl, key=lambda s: s["max_us"])
    name = (lambda s: when(d, tl, s)) if d else (lambda s: f'second {s["second"]} (~{tokens_at(s["second"]) / 1e6:.2f} M tokens)')
    return (f'| {label} | {med:.0f} µs | {worst["p99_us"]} µs, {name(worst)} | **{worst["p99_us"] / med:.2f}** '
            f'| {worst["p50_us"]} / {worst["max_us"]} µs | {worst_max["max_us"]} µs, {name(worst_max)} |'), worst["p99_us"] / med

g = [load(f"growth-{i}") for i in range(1, runs + 1)]
c = [load(f"control-{i}") for i in range(1, runs + 1)] if control else []
d0 = g[0][0]
print(f"Command: `TOKENS={tokens} FRACTION={fraction} RUNS={runs} CONTROL={int(control)} bench/growth.sh`.")
print(machine)
print(f"Tessera: 1 worker, memory store, pinned to core 0, access tokens live a day. Load: tessera-loadtest, 1 thread, core 1, {d0['connections']} connections, open loop at {float(rate):.0f} req/s ({fraction} of the closed-loop client_credentials peak {peak} req/s), {d0['duration_s']:.0f} s per run, no warm-up. Growth: client_credentials on a fresh server (the table grows from 0). Control: GET /health at the same rate (no table).")
print()
print("| run | live tokens at the end | p50 | p99 | p99.9 | max | late sends | errors | RSS start → end | bytes per token |")
print("|---|---|---|---|---|---|---|---|---|---|")
for i, (d, tl) in enumerate(g, 1):
    live, rss0, rss1 = open(f"{out}/growth-{i}.memory").read().split()
    lat = d["latency_us"]
    per_token = (float(rss1) - float(rss0)) * 1048576 / max(int(live) if live.isdigit() else 1, 1)
    print(f"| growth {i} | {live} | {lat['p50']:.0f} µs | {lat['p99']:.0f} µs | {lat['p999']:.0f} µs | {lat['max']:.0f} µs | {d['late_sends']} | {d['errors']['total']} | {rss0} → {rss1} MiB | {per_token:.0f} |")
for i, (d, tl) in enumerate(c, 1):
    lat = d["latency_us"]
    print(f"| control {i} | – | {lat['p50']:.0f} µs | {lat['p99']:.0f} µs | {lat['p999']:.0f} µs | {lat['max']:.0f} µs | {d['late_sends']} | {d['errors']['total']} | – | – |")
print()
print("| per-second p99 | median second | worst second | worst ÷ median (target ≤ 2) | worst second's p50 / max | worst per-second max |")
print("|---|---|---|---|---|---|")
for i, (d, tl) in enumerate(g, 1):
    print(seconds_row(f"growth {i}", tl, d)[0])
for i, (d, tl) in enumerate(c, 1):
    print(seconds_row(f"control {i}", tl, d)[0])

def minimum(series):
    n = min(len(tl) for _, tl in series)
    return [{"second": k, "p50_us": min(tl[k]["p50_us"] for _, tl in series),
             "p99_us": min(tl[k]["p99_us"] for _, tl in series),
             "max_us": min(tl[k]["max_us"] for _, tl in series)} for k in range(n)]

per_second = [s["requests"] for s in g[0][1]]
tokens_at = lambda k: sum(per_second[:k])
if runs > 1:
    row, ratio = seconds_row(f"growth, minimum of {runs} runs", minimum(g), tokens_at=tokens_at)
    print(row)
    if c:
        print(seconds_row(f"control, minimum of {runs} runs", minimum(c), tokens_at=tokens_at)[0])
print()
top = sorted(g[0][1], key=lambda s: -s["p99_us"])[:5]
print("Growth run 1's five worst seconds by p99: " + "; ".join(f'{s["p99_us"]} µs at {when(g[0][0], g[0][1], s)}' for s in top) + ".")
if runs > 1:
    top = sorted(minimum(g), key=lambda s: -s["p99_us"])[:5]
    print(f"The minimum of {runs} runs' five worst seconds: " + "; ".join(f'{s["p99_us"]} µs at second {s["second"]} (~{tokens_at(s["second"]) / 1e6:.2f} M tokens)' for s in top) + ".")
print(f"Per-second series (p50 / p99 / max µs): `{out}/growth-N.json` and `control-N.json` (\"timeline\"); charts: `growth-N.svg`.")
PY
cat "$summary"
