#!/usr/bin/env bash
# client_credentials over TLS against plain HTTP, in one run (issue 15):
#   plain keep-alive (baseline) | TLS keep-alive
#   | plain, a new connection per request | TLS, a new connection per request, resumed
# Tessera runs with one worker pinned to core 0 and the memory store (the TLS cost, not the
# store's, is measured); wrk (1 thread) on core 1. wrk speaks TLS through OpenSSL and
# resumes sessions when it reconnects (`Connection: close` makes it reconnect after every
# response); the server's tessera_tls_handshakes_total{resumed} is printed to show it.
# The certificate is a fresh ECDSA P-256 one (openssl), as most deployments now use.
#
# Usage: bench/tls.sh [seconds-per-setting] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
rounds="${2:-3}"
conns="${CONNS:-32}"
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
# prepare, write_memory_config, start_tessera, stop_tessera
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# wrk's script with `Connection: close` added: one request per connection.
sed 's/^wrk.headers\["Authorization"\].*/&\nwrk.headers["Connection"] = "close"/' \
  bench/wrk/client_credentials.lua > "$work/close.lua"

run_one() { # plain|tls keepalive|close -> prints the wrk-result line and the handshakes
  local scheme=http script=bench/wrk/client_credentials.lua
  if [ "$1" = tls ]; then
    write_memory_config "$(printf '[server.tls]\ncert_file = "%s"\nkey_file = "%s"' "$work/cert.pem" "$work/key.pem")"
  else
    write_memory_config
  fi
  [ "$1" = tls ] && scheme=https
  [ "$2" = close ] && script="$work/close.lua"
  start_tessera
  taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$script" "$scheme://$addr/api/oauth/token" > /dev/null
  local line
  line="$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -s "$script" "$scheme://$addr/api/oauth/token" | grep '^wrk-result')"
  local resumed="-" full="-"
  if [ "$1" = tls ]; then
    # The metrics path over TLS as well (curl, no resumption: one full handshake).
    local m
    m="$(curl -sk "https://$addr/metrics")"
    full="$(sed -n 's/^tessera_tls_handshakes_total{resumed="false"} //p' <<<"$m")"
    resumed="$(sed -n 's/^tessera_tls_handshakes_total{resumed="true"} //p' <<<"$m")"
  fi
  stop_tessera
  echo "$line full=$full resumed=$resumed"
}

printf '%-22s %-6s %9s %7s %8s %8s %9s %9s %7s\n' \
  setting round rps errors p50_us p99_us full_hs resumed ratio
for round in $(seq 1 "$rounds"); do
  base_keep="" base_close=""
  for setting in plain:keepalive tls:keepalive plain:close tls:close; do
    IFS=: read -r proto mode <<<"$setting"
    line="$(run_one "$proto" "$mode")"
    field() { sed -E "s/.*$1=([0-9-]+).*/\1/" <<<"$line"; }
    rps="$(field rps)"
    if [ "$proto" = plain ]; then
      if [ "$mode" = keepalive ]; then base_keep="$rps"; else base_close="$rps"; fi
    fi
    base="$base_keep"; [ "$mode" = close ] && base="$base_close"
    ratio="$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-22s %-6s %9s %7s %8s %8s %9s %9s %7s\n' "$proto-$mode" "$round" "$rps" \
      "$(field errors)" "$(field p50_us)" "$(field p99_us)" "$(field full)" "$(field resumed)" "$ratio"
  done
done
