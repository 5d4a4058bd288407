# Shared by the load scripts (bench/run.sh, bench/code-flow.sh, bench/assertions.sh): start
# and stop a Tessera server pinned to core 0 on a free port, and read the figures of a run. Expects $bin (the
# tessera binary) and $work (a scratch directory holding tessera.toml); sets $server_pid and
# $addr.

# A fresh server on 127.0.0.1:0; waits until it prints the address it listens on.
start_tessera() {
  rm -f "$work/out" # never read the previous server's address
  taskset -c 0 "$bin" serve --config "$work/tessera.toml" --listen 127.0.0.1:0 \
    > "$work/out" 2> "$work/err" &
  server_pid=$!
  addr=""
  for _ in $(seq 1 100); do
    addr="$(sed -n 's/^listening on //p' "$work/out")"
    [ -n "$addr" ] && return 0
    sleep 0.1
  done
  cat "$work/err" >&2
  exit 1
}

stop_tessera() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# CPU seconds (user + system) a process has used so far.
cpu_secs() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# json FILE EXPR: a value from a loadtest JSON report.
json() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$1" "$2"
}
