#!/usr/bin/env bash
# Measures the revocation window of a two-node Tessera cluster on Cassandra: a token issued
# on node 1 is looked up on node 2 (so node 2 holds it in memory), revoked on node 1, and
# node 2 is polled every 2 ms until it refuses the token. Prints p50 / p90 / max over
# ROUNDS rounds, for async and sync durability.
#
# Usage: bench/revocation-window.sh [rounds]    (Cassandra: tests/services/cassandra.sh start)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-40}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
bash tests/services/cassandra.sh start >&2
cargo build --release --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/tessera"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_node() { # name config; sets $addr (no subshell, so the pid is tracked for cleanup)
  rm -f "$work/$1.out" # never read the previous node's address
  "$bin" serve --config "$2" --listen 127.0.0.1:0 > "$work/$1.out" 2> "$work/$1.err" &
  pids+=($!)
  addr=""
  for _ in $(seq 1 200); do
    addr="$(sed -n 's/^listening on //p' "$work/$1.out")"
    [ -n "$addr" ] && return
    sleep 0.05
  done
  cat "$work/$1.err" >&2
  exit 1
}

for durability in async sync; do
  ks="bench_revwin_${durability}_$$"
  cat > "$work/$durability.toml" <<TOML
[server]
workers = 1
[store]
kind = "cassandra"
cassandra.keyspace = "$ks"
cassandra.create_schema = true
durability = "$durability"
# sync is refused at write consistency ANY (a hint is not durable).
cassandra.write_consistency = "$([ "$durability" = sync ] && echo ONE || echo ANY)"
revocation_propagation_ms = 1000
[log]
level = "warn"
[[clients]]
id = "svc-a"
secret = "bench-secret"
grant_types = ["client_credentials"]
scopes = ["read"]
TOML
  start_node "$durability-1" "$work/$durability.toml"; n1="$addr"
  start_node "$durability-2" "$work/$durability.toml"; n2="$addr"
  python3 - "$n1" "$n2" "$rounds" "$durability" <<'PY'
import base64, http.client, json, sys, time
n1, n2, rounds, durability = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
auth = "Basic " + base64.b64encode(b"svc-a:bench-secret").decode()
form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth}
def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)
c1, c2 = conn(n1), conn(n2)
def call(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read()
windows = []
for _ in range(rounds):
    s, b = call(c1, "POST", "/api/oauth/token", "grant_type=client_credentials", form)
    assert s == 200, b
    token = json.loads(b)["access_token"]
    deadline = time.monotonic() + 5
    while True:  # node 2 learns the token (read-through) and now holds it in memory
        s, _ = call(c2, "GET", "/api/oauth/tokeninfo?access_token=" + token)
        if s == 200:
            break
        assert time.monotonic() < deadline, "node 2 never saw the token"
        time.sleep(0.005)
    s, _ = call(c1, "POST", "/api/oauth/revoke", "token=" + token, form)
    assert s == 200
    revoked = time.monotonic()
    while True:
        s, _ = call(c2, "GET", "/api/oauth/tokeninfo?access_token=" + token)
        if s != 200:
            break
        assert time.monotonic() - revoked < 10, "node 2 still accepts the token after 10 s"
        time.sleep(0.002)
    windows.append((time.monotonic() - revoked) * 1000)
windows.sort()
q = lambda p: windows[min(len(windows) - 1, int(p * len(windows)))]
print(f"{durability:6} rounds={len(windows)} p50={q(0.5):.0f}ms p90={q(0.9):.0f}ms max={windows[-1]:.0f}ms (bound: revocation_propagation_ms=1000)")
PY
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  bash tests/services/cassandra.sh cql "DROP KEYSPACE IF EXISTS $ks" >/dev/null || true
done
