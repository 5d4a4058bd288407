# Shared by the load scripts (bench/run.sh, bench/code-flow.sh, bench/assertions.sh): start
# and stop a Tessera server pinned to core 0 on a free port, run one measured load against it,
# and read the figures of a run. `prepare` builds and sets $bin, $lt and $work; the others
# expect $bin (the tessera binary) and $work (a scratch directory holding tessera.toml) and
# set $server_pid and $addr. `run` also expects $lt (the
# load generator), $out, $secs, $warmup and $conns.

# prepare: builds the workspace and sets $bin, $lt and $work (a scratch directory, removed
# on exit together with any server still running).
prepare() {
  # --workspace: the same feature set as every other build, so RocksDB is built once.
  cargo build --release --workspace --bins >&2
  bin="$CARGO_TARGET_DIR/release/tessera"
  lt="$CARGO_TARGET_DIR/release/tessera-loadtest"
  work="$(mktemp -d)"
  server_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}

# write_memory_config [SERVER_LINES [SECTIONS]]: $work/tessera.toml for one worker pinned to
# core 0, the memory store, and client svc-a (secret bench-secret, the one
# bench/wrk/client_credentials.lua authenticates as); SERVER_LINES go at the end of
# [server] (keys, or a [server.tls] table), SECTIONS (whole tables, e.g. [tokens]) before
# the client.
write_memory_config() {
  cat > "$work/tessera.toml" <<TOML
[server]
workers = 1
pin_cores = true
${1:-}
[store]
kind = "memory"
[log]
level = "warn"
${2:-}
[[clients]]
id = "svc-a"
secret = "bench-secret"
grant_types = ["client_credentials"]
scopes = ["read", "write"]
TOML
}

# Access tokens that outlive any run, so nothing expires or is purged while a table grows.
DAY_LONG_TOKENS='[tokens]
access_token_ttl_secs = 86400'

# A fresh server on 127.0.0.1:0; waits until it prints the address it listens on.
start_tessera() {
  rm -f "$work/out" # never read the previous server's address
  taskset -c 0 "$bin" serve --config "$work/tessera.toml" --listen 127.0.0.1:0 \
    > "$work/out" 2> "$work/err" &
  server_pid=$!
  addr=""
  for _ in $(seq 1 100); do
    # The backgrounded server may not have created its output file yet.
    addr="$(sed -n 's/^listening on //p' "$work/out" 2>/dev/null || true)"
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

# run NAME ARGS...: a fresh server, one loadtest run on core 1 (ARGS go to the load generator);
# sets rate, scpu and lcpu (successful operations per second, server and load generator CPU
# in % of one core over the run's wall time) and scpu_us (server CPU µs per operation) and leaves the report in $out/NAME.json.
run() {
  local name="$1"; shift
  start_tessera
  local before t0 t1 after rc
  before="$(cpu_secs "$server_pid")"
  t0="$(date +%s.%N)"
  set +e
  /usr/bin/time -f "%U %S" -o "$out/$name.time" \
    taskset -c 1 "$lt" --url "http://$addr" --duration "${secs}s" --warmup "${warmup}s" \
    --connections "$conns" --quiet --json "$out/$name.json" "$@" > "$out/$name.txt"
  rc=$?
  set -e
  t1="$(date +%s.%N)"
  after="$(cpu_secs "$server_pid")"
  stop_tessera
  cat "$out/$name.txt" >&2
  if [ "$rc" != 0 ]; then
    cat "$work/err" >&2
    echo "loadtest failed ($rc) for $name" >&2
    exit 1
  fi
  local wall
  wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
  rate="$(json "$out/$name.json" 'round(d["throughput"])')"
  scpu="$(awk -v a="$before" -v b="$after" -v w="$wall" 'BEGIN { printf "%.0f", 100 * (b - a) / w }')"
  # Server CPU seconds per successful operation, in µs: less sensitive than the rate to a
  # load generator that other processes slow down.
  scpu_us="$(awk -v a="$before" -v b="$after" -v w="$wall" -v r="$rate" 'BEGIN { printf "%.2f", 1e6 * (b - a) / (w * r) }')"
  lcpu="$(awk -v w="$wall" '{ printf "%.0f", 100 * ($1 + $2) / w }' "$out/$name.time")"
}

# ratio A B: A / B to three places.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# machine_line: the date, machine and load average, for the top of a summary.
machine_line() {
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ). Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr). Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
}

# measure NAME ARGS...: one loadtest run on core 1 against the server already running
# ($addr, $server_pid; ARGS go to the load generator after --duration/--warmup/--connections,
# which come from $secs, $warmup and $conns). The load generator reads the server's CPU
# over the measured phase only (--server-pid), so a prefill, the provisioning and the
# warm-up do not count. Sets rate (successful requests/s), scpu_us (server CPU µs per
# successful request), scpu (% of one core), p99_us and errs; the report is $out/NAME.json.
# A run that takes more than $limit seconds (default 1800, prefill included) is killed and
# fails the script, so a stalled server cannot hold a benchmark forever.
measure() {
  local name="$1"; shift
  local rc
  set +e
  timeout "${limit:-1800}" taskset -c 1 "$lt" --url "http://$addr" --duration "${secs}s" --warmup "${warmup}s" \
    --connections "$conns" --quiet --server-pid "$server_pid" --json "$out/$name.json" "$@" \
    > "$out/$name.txt"
  rc=$?
  set -e
  cat "$out/$name.txt" >&2
  if [ "$rc" != 0 ]; then
    cat "$work/err" >&2
    echo "loadtest failed ($rc) for $name" >&2
    exit 1
  fi
  rate="$(json "$out/$name.json" 'round(d["throughput"])')"
  scpu_us="$(json "$out/$name.json" '"%.2f" % d["server_cpu"]["us_per_request"]')"
  scpu="$(json "$out/$name.json" '"%.0f" % d["server_cpu"]["percent"]')"
  p99_us="$(json "$out/$name.json" 'round(d["latency_us"]["p99"])')"
  errs="$(json "$out/$name.json" 'd["errors"]["total"]')"
}

# live_tokens: the running server's tessera_live_tokens gauge (from /metrics).
live_tokens() {
  python3 - "$addr" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=10).read().decode()
print(next((l.split()[1] for l in text.splitlines() if l.startswith("tessera_live_tokens ")), "?"))
PY
}

# rss_mib PID: a process's resident memory in MiB.
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
