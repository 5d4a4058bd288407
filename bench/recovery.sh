#!/usr/bin/env bash
# Start-up recovery (issue 17; bench/RESULTS.md, "Recovery"): the `recovery` bench binary
# (bench/src/bin/recovery.rs) for 1 M and 10 M tokens — it fills a fresh RocksDB store with
# N client_credentials-style tokens, reopens it and times `recovery::recover` into an empty
# table, as `tessera serve` does before it listens — and a table of fill time, recovery
# time, tokens per second and table RSS per token. The target: 10 M in ≤ 5 s.
#
# The binary prints one `key=value …` line per run; every key it prints becomes a column,
# so fields the binary gains later show up here without a change. No network: the store is
# a directory (DIR, removed by the binary after each run).
#
# Usage: bench/recovery.sh             (1 M and 10 M: about 2 minutes, most of it the 10 M
#                                       fill; on the busy machine of 2026-11-23, 92 s + 12 s)
#        SIZES=200000 bench/recovery.sh                  (a quick check: about 5 s)
# Environment: SIZES ("1000000 10000000"), DIR (/tmp/tessera-recovery-bench: the store's
#   directory, on a local disk), ARGS (more arguments for the binary),
#   OUT (bench/out/recovery: the raw lines and summary.md; gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-1000000 10000000}"
dir="${DIR:-/tmp/tessera-recovery-bench}"
extra="${ARGS:-}"
out="${OUT:-bench/out/recovery}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"
echo "+ SIZES=\"$sizes\" DIR=$dir ARGS=\"$extra\" bench/recovery.sh" >&2

# machine_line
. bench/lib.sh # the scripts run from the repository root (cd above)
# --workspace: the same feature set as every other build, so RocksDB is built once.
cargo build --release --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/recovery"
start_line="$(machine_line)"

: > "$out/lines.txt"
for n in $sizes; do
  echo "+ $bin --tokens $n --dir $dir $extra" >&2
  # shellcheck disable=SC2086 # ARGS is a word list
  # Bounded: 10 M took under 2 minutes on a busy machine; 15 minutes means something hangs.
  timeout 900 "$bin" --tokens "$n" --dir "$dir" $extra | tee -a "$out/lines.txt" >&2
done

summary="$out/summary.md"
python3 - "$out/lines.txt" "$sizes" "$start_line" > "$summary" <<'PY'
import sys
path, sizes, machine = sys.argv[1:]
rows = []
for line in open(path):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    if "tokens" in kv:
        rows.append(kv)
keys = []
for r in rows:
    keys += [k for k in r if k not in keys]
print(f'Command: `SIZES="{sizes}" bench/recovery.sh` (runs `recovery --tokens N --dir DIR` per size).')
print(machine)
print()
print("| " + " | ".join(keys) + " |")
print("|" + "---|" * len(keys))
for r in rows:
    print("| " + " | ".join(r.get(k, "") for k in keys) + " |")
for r in rows:
    if r.get("tokens") == "10000000" and "recover_s" in r:
        verdict = "met" if float(r["recover_s"]) <= 5 else "missed"
        print(f'\n10 M tokens recovered in {r["recover_s"]} s: target ≤ 5 s {verdict}.')
PY
cat "$summary"
