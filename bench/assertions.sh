#!/usr/bin/env bash
# Assertion grants (issue 13) as ratios to client_credentials measured in the same run
# (bench/RESULTS.md, "Assertion grants (issue 13)"). Each round runs, on a fresh server each
# time (same binary, same config): client_credentials, the JWT bearer grant (RFC 7523) with
# RS256 assertions, the same with ES256 assertions, and the SAML 2.0 bearer grant (RFC 7522);
# the order rotates from round to round so no scenario always runs first.
#
# Assertions are single-use on the server (each `jti` / SAML `ID` is remembered
# store-wide), so every request carries a fresh one: before each run,
# `tessera-loadtest gen-assertions` signs a file of them (one per line, in parallel threads,
# before the server starts, so signing never competes with it), and
# `tessera-loadtest --lines FILE` sends each line once. A run whose file runs out stops
# early and is measured up to that moment (the "measured" column); a file used up during
# the warm-up fails the run (raise the COUNT). Assertions live 240 s from their signing
# (`[assertions] max_lifetime_secs` is 300), so each file is made right before its run.
#
# The clients: svc-a (client_secret_basic, client_credentials: the baseline); svc-jwt
# (private_key_jwt with a JWKS file of an RSA 2048 and a P-256 key) presenting
# self-issued assertions (`iss` = `sub` = svc-jwt, no other client credentials: the
# gateway's way, a client token); svc-saml (client_secret_basic) presenting assertions of
# the `kind = "saml"` issuer bench-idp (RSA 2048, exclusive c14n, RSA-SHA256, NameID the
# user `bench`). Keys: `tessera-loadtest gen-keys`. When xmlsec1 is installed, one SAML
# assertion of each file is verified with it first, so a generator mistake fails here and
# not as a server error.
#
# Server pinned to core 0 (one worker, memory store), load generator (one thread) to core
# 1, loopback. Fails at once, saying so, when the server refuses the configuration (a
# build without issue 13's server side) or the first assertion of a file.
#
# Usage: bash bench/assertions.sh     (1 round: ~1 minute of signing, 4 runs of 12 s)
# Environment: SECS (measured seconds per run, 10), WARMUP (2), CONNS (32), ROUNDS (1),
#   RS256_COUNT (200000), ES256_COUNT (200000), SAML_COUNT (50000): assertions signed per
#   run (enough for ~15 k, ~15 k and ~4 k req/s over warm-up plus measurement; a run that
#   is faster stops early), GEN_THREADS (signing threads, all cores),
#   OUT (bench/out/assertions: JSON reports, the assertion files' sizes and table.md;
#   gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${SECS:-10}"
warmup="${WARMUP:-2}"
conns="${CONNS:-32}"
rounds="${ROUNDS:-1}"
rs_count="${RS256_COUNT:-200000}"
es_count="${ES256_COUNT:-200000}"
saml_count="${SAML_COUNT:-50000}"
gen_threads="${GEN_THREADS:-$(nproc)}"
out="${OUT:-bench/out/assertions}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera/target}"
mkdir -p "$out"

# prepare, start_tessera, stop_tessera, cpu_secs, json, run, ratio
. bench/lib.sh # the scripts run from the repository root (cd above)
prepare

secret="bench-secret-0123456789abcdef"
audience="https://tessera.bench/api/oauth/token"
saml_issuer="https://idp.tessera.bench"
keys="$work/keys"
"$lt" gen-keys --dir "$keys" >&2

cat > "$work/tessera.toml" <<TOML
[server]
workers = 1
pin_cores = true
[store]
kind = "memory"
[log]
level = "warn"

[assertions]
audience = "$audience"

[[clients]]
id = "svc-a"
secret = "$secret"
grant_types = ["client_credentials"]
scopes = ["read"]

[[clients]]
id = "svc-jwt"
auth_method = "private_key_jwt"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
scopes = ["read"]
jwks_file = "$keys/jwks.json"

[[clients]]
id = "svc-saml"
secret = "$secret"
grant_types = ["urn:ietf:params:oauth:grant-type:saml2-bearer"]
scopes = ["read"]

[[assertion_issuers]]
id = "bench-idp"
kind = "saml"
issuer = "$saml_issuer"
certificate_files = ["$keys/saml.crt"]
clients = ["svc-saml"]

[[users]]
username = "bench"
password = "bench-password"
TOML

if ! "$bin" check-config --config "$work/tessera.toml" > "$work/check" 2>&1; then
  cat "$work/check" >&2
  echo "bench/assertions.sh: the server refused the assertion configuration above" \
    "(jwks_file, [[assertion_issuers]], [assertions]): this build has no issue 13 server side" >&2
  exit 2
fi

# gen NAME ARGS...: signs $work/NAME.lines; sets gen_secs.
gen() {
  local name="$1"; shift
  local t0 t1
  t0="$(date +%s.%N)"
  "$lt" gen-assertions --threads "$gen_threads" --audience "$audience" \
    --out "$work/$name.lines" "$@" 2> "$out/$name.gen.txt"
  t1="$(date +%s.%N)"
  cat "$out/$name.gen.txt" >&2
  gen_secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
}

# One SAML assertion of a file checked by an XML signature implementation nobody here wrote.
xmlsec_check() {
  command -v xmlsec1 >/dev/null || { echo "(xmlsec1 not installed: SAML assertions not cross-checked)" >&2; return 0; }
  python3 -c 'import base64,sys; l=open(sys.argv[1]).readline().strip(); sys.stdout.buffer.write(base64.urlsafe_b64decode(l + "=" * (-len(l) % 4)))' \
    "$1" > "$work/one.xml"
  if ! xmlsec1 --verify --pubkey-cert-pem "$keys/saml.crt" \
      --id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion "$work/one.xml" > "$work/xmlsec" 2>&1; then
    cat "$work/xmlsec" >&2
    echo "bench/assertions.sh: xmlsec1 does not verify the generated SAML assertion" >&2
    exit 1
  fi
}


table="$out/table.md"
{
  echo "Date: $(date -u +%Y-%m-%dT%H:%MZ). Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr). Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "Tessera: 1 worker, memory store, pinned to core 0. Load: tessera-loadtest, 1 thread, core 1, $conns connections, ${secs} s after ${warmup} s warm-up, a fresh server per run, one fresh assertion per request."
  echo
  echo "| round | scenario | req/s | ratio to client_credentials | p50 | p99 | errors | measured | assertions (signed in) | server CPU | load generator CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} > "$table"

order=(cc rs256 es256 saml)
for round in $(seq 1 "$rounds"); do
  declare -A rates=() rows=()
  for s in "${order[@]}"; do
    name="r$round-$s"
    made="—"
    case "$s" in
      cc)
        run "$name" --scope read --scenario client-credentials --client-id svc-a --client-secret "$secret"
        label="client_credentials" ;;
      rs256)
        gen "$name" --kind jwt --alg RS256 --key "$keys/rs256.pem" --kid bench-rs256 \
          --issuer svc-jwt --count "$rs_count"
        made="$rs_count in $gen_secs s"
        run "$name" --scope read --scenario jwt-bearer --lines "$work/$name.lines" --no-client-auth
        label="jwt-bearer RS256" ;;
      es256)
        gen "$name" --kind jwt --alg ES256 --key "$keys/es256.pem" --kid bench-es256 \
          --issuer svc-jwt --count "$es_count"
        made="$es_count in $gen_secs s"
        run "$name" --scope read --scenario jwt-bearer --lines "$work/$name.lines" --no-client-auth
        label="jwt-bearer ES256" ;;
      saml)
        gen "$name" --kind saml --key "$keys/saml.key" --cert "$keys/saml.crt" \
          --issuer "$saml_issuer" --subject bench --count "$saml_count"
        xmlsec_check "$work/$name.lines"
        made="$saml_count in $gen_secs s"
        run "$name" --scope read --scenario saml2-bearer --lines "$work/$name.lines" \
          --client-id svc-saml --client-secret "$secret"
        label="saml2-bearer" ;;
    esac
    rm -f "$work/$name.lines"
    f="$out/$name.json"
    measured="$(json "$f" '"%.1f s%s" % (d["duration_s"], " (file ran out)" if d["stopped_early"] else "")')"
    rates[$s]="$rate"
    rows[$s]="| $round | $label | $rate | RATIO | $(json "$f" 'round(d["latency_us"]["p50"])') µs | $(json "$f" 'round(d["latency_us"]["p99"])') µs | $(json "$f" 'd["errors"]["total"]') | $measured | $made | $scpu % | $lcpu % |"
  done
  for s in cc rs256 es256 saml; do
    echo "${rows[$s]/RATIO/$(ratio "${rates[$s]}" "${rates[cc]}")}" >> "$table"
  done
  # Rotate: the first scenario of this round runs last in the next.
  order=("${order[@]:1}" "${order[0]}")
done

cat "$table"
