#!/usr/bin/env bash
# The authorization-code scenario as a ratio to client_credentials measured in the same run
# (bench/RESULTS.md, "Authorization code flow"). Each round runs, on a fresh server each
# time (same binary, same config): client_credentials, then the code flow without `openid`
# (an access token per iteration), then with `openid` (an access token and an RS256 ID
# token per iteration); the order rotates from round to round so no scenario always runs
# first on a quiet machine.
#
# The code flow logs the resource owner in with `Authorization: Basic` at the authorize
# endpoint (`[authorize] allow_basic_login = true`), for a client with `consent = "skip"`,
# and the user has a plain `password` (the server's fast keyed hash, not argon2): the
# config comes from `tessera-loadtest --print-server-config`.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to
# core 1, loopback.
#
# Usage: bench/code-flow.sh            (3 rounds of 3 runs of 12 s: about 2 minutes)
# Environment: SECS (measured seconds per run, 10), WARMUP (2), CONNS (32), ROUNDS (3),
#   OUT (bench/out/code-flow: JSON reports and table.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
rounds="${ROUNDS:-3}"
out="${OUT:-bench/out/code-flow}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"

# prepare, start_tessera, stop_tessera, cpu_secs, json, run, ratio
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare

code_client=(--client-id web-a --client-secret web-a-secret-0123456789abcdef)
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
secret = "bench-secret-0123456789abcdef"
grant_types = ["client_credentials"]
scopes = ["read"]
TOML
"$lt" --scenario authorization-code "${code_client[@]}" --scope "openid read" \
  --print-server-config >> "$work/tessera.toml"

table="$out/table.md"
{
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ). Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr)."
  echo "Tessera: 1 worker, memory store, pinned to core 0. Load: tessera-loadtest, 1 thread, core 1, $conns connections, ${secs} s after ${warmup} s warm-up, a fresh server per run."
  echo
  echo "| round | client_credentials req/s | code flow it/s | ratio | code flow + openid it/s | ratio | server CPU (cc / code / openid) | load generator CPU (cc / code / openid) |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$table"

order=(cc code openid)
for round in $(seq 1 "$rounds"); do
  declare -A rates=() scpus=() lcpus=()
  for s in "${order[@]}"; do
    case "$s" in
      cc) run "r$round-cc" --scenario client-credentials --client-id svc-a \
            --client-secret bench-secret-0123456789abcdef --scope read ;;
      code) run "r$round-code" --scenario authorization-code "${code_client[@]}" --scope read ;;
      openid) run "r$round-openid" --scenario authorization-code "${code_client[@]}" \
            --scope "openid read" ;;
    esac
    rates[$s]="$rate"; scpus[$s]="$scpu"; lcpus[$s]="$lcpu"
  done
  echo "| $round (${order[*]}) | ${rates[cc]} | ${rates[code]} | $(ratio "${rates[code]}" "${rates[cc]}") | ${rates[openid]} | $(ratio "${rates[openid]}" "${rates[cc]}") | ${scpus[cc]} / ${scpus[code]} / ${scpus[openid]} % | ${lcpus[cc]} / ${lcpus[code]} / ${lcpus[openid]} % |" >> "$table"
  # Rotate: the first scenario of this round runs last in the next.
  order=("${order[@]:1}" "${order[0]}")
done

cat "$table"
