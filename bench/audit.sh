#!/usr/bin/env bash
# What the audit events cost on the hot path (issue 16; bench/RESULTS.md, "Audit events"):
# client_credentials, which writes one `token_issued` event per request, with
#   A: `[log] format = "json"`, level "info,tessera::audit=off" — the audit target filtered
#      out: the event must cost nothing measurable;
#   B: `[log] format = "json"`, level "info" — every request writes a JSON line to stderr
#      (a file on the local disk, as journald or a log file would take it);
#   C: (only with BASE_BIN) the config of A, less the `format` key, run by another tessera
#      binary, e.g. one built from a commit without the audit events: what "filtered out"
#      costs against "not there at all".
# Each round runs every variant once, on a fresh server each, and the order rotates from
# round to round (A B C, B C A, C A B, ...), so neither slow drift of the machine nor a
# variant's place in the round favours one; the table gives each round's ratios to A.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, 127.0.0.1 only. The load average before each run is in the table: on a shared
# machine the other builders' load shows there.
#
# Usage: bench/audit.sh                  (3 rounds of 12 s runs: about a minute and a half)
#        BASE_BIN=/path/to/tessera bench/audit.sh
# Environment: SECS (measured seconds per run, 10), WARMUP (2), CONNS (32), ROUNDS (3),
#   BASE_BIN (see C), OUT (bench/out/audit: JSON reports and table.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
rounds="${ROUNDS:-3}"
base_bin="${BASE_BIN:-}"
out="${OUT:-bench/out/audit}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"

# prepare, start_tessera, stop_tessera, cpu_secs, json, run, ratio
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare
own_bin="$bin"

config() { # LEVEL [FORMAT_LINE]
  local format_line='format = "json"'
  [ $# -gt 1 ] && format_line="$2"
  cat <<TOML
[server]
workers = 1
pin_cores = true
[store]
kind = "memory"
[log]
level = "$1"
$format_line
[[clients]]
id = "svc-a"
secret = "bench-secret-0123456789abcdef"
grant_types = ["client_credentials"]
scopes = ["read"]
TOML
}

variants="a b"
[ -n "$base_bin" ] && variants="a b c"
cc=(--scenario client-credentials --client-id svc-a --client-secret bench-secret-0123456789abcdef --scope read)
table="$out/table.md"
{
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ). Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr)."
  echo "Tessera: 1 worker, memory store, pinned to core 0, \`[log] format = \"json\"\`, stderr to a file. Load: tessera-loadtest client_credentials, 1 thread, core 1, $conns connections, ${secs} s after ${warmup} s warm-up, a fresh server per run."
  echo "A: level \"info,tessera::audit=off\". B: level \"info\" (one audit line per request). ${base_bin:+C: $base_bin with the config of A.}"
  echo
  if [ -n "$base_bin" ]; then
    echo "| round | load avg | A req/s | B req/s | C req/s | B/A | C/A | server CPU µs/req A / B / C | B/A | C/A | p99 µs A / B / C | audit lines B | errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  else
    echo "| round | load avg | A req/s | B req/s | B/A | server CPU µs/req A / B | B/A | p99 µs A / B | audit lines B | errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  fi
} > "$table"

declare -A sum_rate=() sum_cpu=()
for v in $variants; do sum_rate[$v]=0; sum_cpu[$v]=0; done
for round in $(seq 1 "$rounds"); do
  declare -A rates=() cpus=() p99s=() errs=()
  load="$(cut -d' ' -f1 /proc/loadavg)"
  lines=0
  # This round's order: the variants rotated by (round - 1).
  read -r -a order <<< "$variants"
  shift_by=$(((round - 1) % ${#order[@]}))
  order=("${order[@]:$shift_by}" "${order[@]:0:$shift_by}")
  for v in "${order[@]}"; do
    case "$v" in
      a) bin="$own_bin"; config "info,tessera::audit=off" ;;
      b) bin="$own_bin"; config "info" ;;
      # An older binary may not know `format`; it logs nothing per request either way.
      c) bin="$base_bin"; config "info,tessera::audit=off" "" ;;
    esac > "$work/tessera.toml"
    run "r$round-$v" "${cc[@]}"
    rates[$v]="$rate"; cpus[$v]="$scpu_us"
    p99s[$v]="$(json "$out/r$round-$v.json" 'round(d["latency_us"]["p99"])')"
    errs[$v]="$(json "$out/r$round-$v.json" 'd["errors"]["total"]')"
    # The audit lines B wrote (warm-up included): one per token issued.
    [ "$v" = b ] && lines="$(grep -c '"target":"tessera::audit"' "$work/err" || true)"
    [ "$v" = a ] && [ "$(grep -c '"target":"tessera::audit"' "$work/err" || true)" != 0 ] &&
      { echo "A wrote audit lines: the filter did not apply" >&2; exit 1; }
    sum_rate[$v]=$((sum_rate[$v] + rates[$v]))
    sum_cpu[$v]="$(awk -v s="${sum_cpu[$v]}" -v x="${cpus[$v]}" 'BEGIN { print s + x }')"
  done
  if [ -n "$base_bin" ]; then
    echo "| $round | $load | ${rates[a]} | ${rates[b]} | ${rates[c]} | $(ratio "${rates[b]}" "${rates[a]}") | $(ratio "${rates[c]}" "${rates[a]}") | ${cpus[a]} / ${cpus[b]} / ${cpus[c]} | $(ratio "${cpus[b]}" "${cpus[a]}") | $(ratio "${cpus[c]}" "${cpus[a]}") | ${p99s[a]} / ${p99s[b]} / ${p99s[c]} | $lines | ${errs[a]} / ${errs[b]} / ${errs[c]} |" >> "$table"
  else
    echo "| $round | $load | ${rates[a]} | ${rates[b]} | $(ratio "${rates[b]}" "${rates[a]}") | ${cpus[a]} / ${cpus[b]} | $(ratio "${cpus[b]}" "${cpus[a]}") | ${p99s[a]} / ${p99s[b]} | $lines | ${errs[a]} / ${errs[b]} |" >> "$table"
  fi
done
if [ -n "$base_bin" ]; then
  echo "| all | $(cut -d' ' -f1 /proc/loadavg) | $((sum_rate[a] / rounds)) | $((sum_rate[b] / rounds)) | $((sum_rate[c] / rounds)) | $(ratio "${sum_rate[b]}" "${sum_rate[a]}") | $(ratio "${sum_rate[c]}" "${sum_rate[a]}") | | $(ratio "${sum_cpu[b]}" "${sum_cpu[a]}") | $(ratio "${sum_cpu[c]}" "${sum_cpu[a]}") | | | |" >> "$table"
else
  echo "| all | $(cut -d' ' -f1 /proc/loadavg) | $((sum_rate[a] / rounds)) | $((sum_rate[b] / rounds)) | $(ratio "${sum_rate[b]}" "${sum_rate[a]}") | | $(ratio "${sum_cpu[b]}" "${sum_cpu[a]}") | | | |" >> "$table"
fi
cat "$table"
