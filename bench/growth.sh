#!/usr/bin/env bash
# Latency while the token table grows (issue 17; bench/RESULTS.md, "Growth"): open-loop
# client_credentials at half the peak rate on a fresh server, for as long as it takes the
# table to grow from 0 to TOKENS live tokens (10 M), with the p50 / p99 / max of every
# second. The target: the worst second's p99 within 2× the median second's.
#
#   1. peak: a short closed-loop client_credentials run on a fresh server;
#   2. growth: a fresh server, open loop at FRACTION (0.5) of that peak, no warm-up (the
#      table starts empty), TOKENS / rate seconds; latency from each request's intended
#      send time (no coordinated omission), so a stall shows in its second's p99 and max.
# The summary names the worst second (its index from the start, its UTC time and about how
# many tokens the table held then), the median second's p99, their ratio, the worst max,
# and the live tokens and resident memory at the end. The access token lifetime is set far
# beyond the run, so nothing expires or is purged while the table grows.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, 127.0.0.1 only.
#
# Usage: bench/growth.sh                 (10 M tokens: 5 s peak run, then 10 M ÷ (peak / 2):
#                                         about 4.5 minutes at a peak of 80 k req/s)
#        TOKENS=300000 PEAK_SECS=2 bench/growth.sh      (a quick check: about 30 s)
# Environment: TOKENS (10000000), FRACTION (0.5), PEAK_SECS (5), CONNS (64),
#   RATE (skip the peak run and use this rate), MAX_SECS (900: the growth run's cap),
#   OUT (bench/out/growth: JSON reports, the SVG chart, summary.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
tokens="${TOKENS:-10000000}"
fraction="${FRACTION:-0.5}"
peak_secs="${PEAK_SECS:-5}"
conns="${CONNS:-64}"
fixed_rate="${RATE:-}"
max_secs="${MAX_SECS:-900}"
out="${OUT:-bench/out/growth}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
echo "+ TOKENS=$tokens FRACTION=$fraction PEAK_SECS=$peak_secs CONNS=$conns RATE=$fixed_rate bench/growth.sh" >&2

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

start_tessera
rss_start="$(rss_mib "$server_pid")"
secs="$growth_secs" warmup=0 measure growth "${cc[@]}" --rate "$rate"
live="$(live_tokens)"
rss_end="$(rss_mib "$server_pid")"
stop_tessera

summary="$out/summary.md"
python3 - "$out/growth.json" "$tokens" "$rate" "$peak" "$fraction" "$live" "$rss_start" "$rss_end" "$start_line" > "$summary" <<'PY'
import datetime, json, statistics, sys
path, tokens, rate, peak, fraction, live, rss0, rss1, machine = sys.argv[1:]
d = json.load(open(path))
tl = [s for s in d["timeline"] if s["requests"] > 0]
p99s = [s["p99_us"] for s in tl]
med = statistics.median(p99s)
worst = max(tl, key=lambda s: s["p99_us"])
worst_max = max(tl, key=lambda s: s["max_us"])
t0 = d["started_unix"] + d["warmup_s"]
def when(s):
    at = datetime.datetime.fromtimestamp(t0 + s["second"], datetime.timezone.utc)
    before = sum(x["requests"] for x in tl if x["second"] < s["second"])
    return f'second {s["second"]} ({at:%H:%M:%S} UTC, ~{before / 1e6:.2f} M tokens)'
lat = d["latency_us"]
print(f"Command: `TOKENS={tokens} FRACTION={fraction} bench/growth.sh`.")
print(machine)
print(f"Tessera: 1 worker, memory store, pinned to core 0, access tokens live a day. Load: tessera-loadtest client_credentials, 1 thread, core 1, {d['connections']} connections, open loop at {float(rate):.0f} req/s ({fraction} of the closed-loop peak {peak} req/s), {d['duration_s']:.0f} s, no warm-up: the table grows from 0.")
print()
print("| live tokens at the end | seconds | p50 | p99 | p99.9 | max | late sends | errors | RSS start → end | bytes per token |")
print("|---|---|---|---|---|---|---|---|---|---|")
per_token = (float(rss1) - float(rss0)) * 1048576 / max(int(live) if live.isdigit() else 1, 1)
print(f"| {live} | {len(tl)} | {lat['p50']:.0f} µs | {lat['p99']:.0f} µs | {lat['p999']:.0f} µs | {lat['max']:.0f} µs | {d['late_sends']} | {d['errors']['total']} | {rss0} → {rss1} MiB | {per_token:.0f} |")
print()
print("| per-second p99: median second | worst second | worst ÷ median (target ≤ 2) | worst second's p50 / max | worst per-second max |")
print("|---|---|---|---|---|")
print(f"| {med:.0f} µs | {worst['p99_us']} µs, {when(worst)} | {worst['p99_us'] / med:.2f} | {worst['p50_us']} / {worst['max_us']} µs | {worst_max['max_us']} µs, {when(worst_max)} |")
print()
top = sorted(tl, key=lambda s: -s["p99_us"])[:5]
print("The five worst seconds by p99: " + "; ".join(f'{s["p99_us"]} µs at {when(s)}' for s in top) + ".")
print(f"Per-second series (p50 / p99 / max µs): `{path}` (\"timeline\"); chart: `{path[:-5]}.svg`.")
PY
cat "$summary"
