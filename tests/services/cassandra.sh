#!/usr/bin/env bash
# Run a real, single-node Apache Cassandra 5.0.x for Tessera's tests and CI.
#
# Usage: tests/services/cassandra.sh start|stop|restart|status|wipe|cql|logs|info
#
#   start          install (cached) and start Cassandra; returns once
#                  "SELECT release_version FROM system.local" answers. Idempotent.
#   stop           stop the Cassandra this script started (pid file, verified);
#                  SIGTERM, then SIGKILL after $CASSANDRA_STOP_TIMEOUT s. 0 if not running.
#   restart        stop + start.
#   status         print "running ..." (exit 0) or "stopped" (exit 3, LSB style).
#   wipe           stop, then delete data/commitlog/hints/caches (logs are kept).
#   cql [-k KS] [--header] STATEMENT...
#                  run each CQL statement against $CASSANDRA_HOST:$CASSANDRA_PORT and
#                  print rows, one per line, columns tab-separated (null as "null").
#                  STATEMENT "-" reads statements (;-separated) from stdin.
#   logs [N]       print the last N (default 100) lines of the daemon log.
#   info           print versions, paths and ports.
#
# Nothing is written inside the clone. Jars and the CQL client live in
#   ${TESSERA_CACHE:-$HOME/.cache/tessera}/cassandra/<version>/lib   (from Maven Central)
#   ${TESSERA_CACHE:-$HOME/.cache/tessera}/cassandra/cqlclient-py<X.Y> (venv, PyPI cassandra-driver)
# and the server state (conf, data, logs, pid file) in
#   ${TESSERA_CASSANDRA_HOME:-$HOME/.cache/tessera/cassandra-run}
#
# Environment (all optional):
#   CASSANDRA_VERSION        pin a 5.0.x version (default: newest of 5.0.8..5.0.0 that resolves)
#   CASSANDRA_HOST           listen/rpc address            (default 127.0.0.1)
#   CASSANDRA_PORT           CQL native transport port     (default 9042)
#   CASSANDRA_STORAGE_PORT   internode port                (default 7000)
#   CASSANDRA_JMX_PORT       local-only JMX port, 0 = off  (default 7199)
#   CASSANDRA_HEAP           -Xms/-Xmx                      (default 768m)
#   CASSANDRA_START_TIMEOUT  seconds to wait for CQL        (default 180)
#   CASSANDRA_STOP_TIMEOUT   seconds before SIGKILL         (default 60)
#   CASSANDRA_JAVA           java binary (else $JAVA_HOME, /usr/lib/jvm/*17*, PATH; must be 11 or 17)
#   PYTHON                   python for the CQL client venv (default python3)
#   CASSANDRA_SECURE         1 = secure mode (see below; default 0: no auth, no TLS)
#   CASSANDRA_CQL_USER/_PASSWORD  secure mode: who `cql` logs in as (default the superuser)
# To run two instances at once, give each its own TESSERA_CASSANDRA_HOME and ports.
#
# Secure mode (CASSANDRA_SECURE=1; tests/services/cassandra-secure.sh sets it with its own
# state dir and ports) is for testing authentication and TLS against a real server:
#   - authenticator PasswordAuthenticator, authorizer CassandraAuthorizer. Superuser
#     cassandra/cassandra; `start` also creates the non-superuser login role
#     tessera / tessera-secret with CREATE ON ALL KEYSPACES (a role gets every permission
#     on a keyspace it creates, so it can migrate, use and drop its own keyspaces).
#   - client_encryption_options enabled and required (no plaintext port), with
#     require_client_auth: a client must present a certificate signed by the test CA.
#     On first start, openssl/keytool generate under $STATE/tls: ca.pem (test CA),
#     server.pem/server.key (CN and SAN IP:127.0.0.1, DNS:localhost), client.pem/client.key
#     (CN=tessera), other-ca.pem (an unrelated CA, for negative tests) and the server's
#     PKCS12 keystore.p12 / truststore.p12. They are kept across restarts; `wipe` keeps them.
#   - the readiness probe, `status` and `cql` connect with TLS (verifying the server
#     against ca.pem, presenting client.pem) and credentials.
#   - the datacenter is what SimpleSnitch reports: datacenter1. `info` prints it all.
set -euo pipefail

SELF="${CASSANDRA_SCRIPT_NAME:-$(basename "$0")}"
CACHE_ROOT="${TESSERA_CACHE:-$HOME/.cache/tessera}/cassandra"
STATE="${TESSERA_CASSANDRA_HOME:-$HOME/.cache/tessera/cassandra-run}"
HOST="${CASSANDRA_HOST:-127.0.0.1}"
PORT="${CASSANDRA_PORT:-9042}"
STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-7000}"
JMX_PORT="${CASSANDRA_JMX_PORT:-7199}"
HEAP="${CASSANDRA_HEAP:-768m}"
START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-180}"
STOP_TIMEOUT="${CASSANDRA_STOP_TIMEOUT:-60}"
CANDIDATE_VERSIONS="${CASSANDRA_VERSION:-5.0.8 5.0.7 5.0.6 5.0.5 5.0.4 5.0.3 5.0.2 5.0.1 5.0.0}"
DRIVER_VERSION="3.30.1"           # PyPI cassandra-driver (has cp311 manylinux wheels)
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
SECURE="${CASSANDRA_SECURE:-0}"
[[ "$SECURE" == 0 || "$SECURE" == 1 ]] || { echo "CASSANDRA_SECURE must be 0 or 1" >&2; exit 2; }

PIDFILE="$STATE/cassandra.pid"
CONF_DIR="$STATE/conf"
YAML="$CONF_DIR/cassandra.yaml"
CONFIG_URL="file://$YAML"
LOG_DIR="$STATE/logs"
LOG="$LOG_DIR/cassandra.log"
MAIN_CLASS="org.apache.cassandra.service.CassandraDaemon"
# Secure mode only (all test-only secrets, never used outside this test server):
TLS_DIR="$STATE/tls"
STORE_PASSWORD="tessera-test-store"          # server keystore / truststore (PKCS12)
SUPERUSER="cassandra"; SUPERUSER_PASSWORD="cassandra"   # Cassandra's default superuser
APP_USER="tessera"; APP_PASSWORD="tessera-secret"       # what Tessera's tests log in as
DATACENTER="datacenter1"                     # what SimpleSnitch reports

log() { printf '[%s] %s\n' "$SELF" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$SELF" "$*" >&2; exit 1; }

# ---------------------------------------------------------------- locking
lock_state() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 600 9 || die "could not lock $STATE/.lock (another $SELF is busy)"
}

# ---------------------------------------------------------------- java
java_major() { # prints the major version of java binary $1
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.[0-9]*\)*.*".*/\1/p' | head -1
}

find_java() {
  local c m
  local -a cands=()
  [[ -n "${CASSANDRA_JAVA:-}" ]] && cands+=("$CASSANDRA_JAVA")
  [[ -n "${JAVA_HOME:-}" ]] && cands+=("$JAVA_HOME/bin/java")
  for c in /usr/lib/jvm/java-17-openjdk*/bin/java /usr/lib/jvm/*17*/bin/java \
           /usr/lib/jvm/java-11-openjdk*/bin/java; do
    [[ -x "$c" ]] && cands+=("$c")
  done
  c="$(command -v java 2>/dev/null || true)"; [[ -n "$c" ]] && cands+=("$c")
  for c in "${cands[@]}"; do
    [[ -x "$c" ]] || continue
    m="$(java_major "$c")"
    if [[ "$m" == 17 || "$m" == 11 ]]; then printf '%s\n' "$c"; return 0; fi
  done
  die "no Java 17 (or 11) found; Cassandra 5.0 needs one (set CASSANDRA_JAVA or JAVA_HOME)"
}

# ---------------------------------------------------------------- jars (Maven)
lib_complete() { # $1 = version
  local lib="$CACHE_ROOT/$1/lib"
  [[ -f "$lib/.complete" ]] && compgen -G "$lib/cassandra-all-$1.jar" >/dev/null \
    && compgen -G "$lib/jamm-*.jar" >/dev/null
}

fetch_version() { # $1 = version; copies cassandra-all + runtime deps into the cache
  local v="$1" dir="$CACHE_ROOT/$1" tmp
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Cassandra jars)"
  mkdir -p "$dir/build"
  tmp="$dir/lib.tmp.$$"
  rm -rf "$tmp"
  cat >"$dir/build/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tessera.test</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>$v</version>
    </dependency>
  </dependencies>
</project>
EOF
  log "fetching org.apache.cassandra:cassandra-all:$v and its runtime dependencies with Maven ..."
  if ! (cd "$dir/build" && mvn -B -q -f pom.xml "$DEP_PLUGIN:copy-dependencies" \
          -DincludeScope=runtime -DoutputDirectory="$tmp" >"$dir/build/mvn.log" 2>&1); then
    log "maven could not resolve cassandra-all:$v (see $dir/build/mvn.log):"
    grep -E 'ERROR' "$dir/build/mvn.log" | head -5 >&2 || true
    rm -rf "$tmp"
    return 1
  fi
  compgen -G "$tmp/cassandra-all-$v.jar" >/dev/null || { log "cassandra-all-$v.jar missing after copy"; rm -rf "$tmp"; return 1; }
  compgen -G "$tmp/jamm-*.jar" >/dev/null || { log "jamm jar missing after copy"; rm -rf "$tmp"; return 1; }
  echo "$v" >"$tmp/.complete"
  rm -rf "$dir/lib"
  mv "$tmp" "$dir/lib"
  log "cached $(ls "$dir/lib" | wc -l) jars in $dir/lib"
}

ensure_jars() { # sets CASS_VERSION and LIB
  local v
  mkdir -p "$CACHE_ROOT"
  for v in $CANDIDATE_VERSIONS; do   # a complete cache wins, newest first, no network
    if lib_complete "$v"; then CASS_VERSION="$v"; LIB="$CACHE_ROOT/$v/lib"; return 0; fi
  done
  exec 8>"$CACHE_ROOT/.fetch.lock"
  flock -w 1200 8 || die "could not lock $CACHE_ROOT/.fetch.lock"
  for v in $CANDIDATE_VERSIONS; do
    if lib_complete "$v" || fetch_version "$v"; then
      CASS_VERSION="$v"; LIB="$CACHE_ROOT/$v/lib"; exec 8>&-; return 0
    fi
  done
  exec 8>&-
  die "could not fetch any of: $CANDIDATE_VERSIONS from Maven Central"
}

# ---------------------------------------------------------------- CQL client (python venv)
PY_BIN="${PYTHON:-python3}"
client_dir() {
  local pyver
  pyver="$("$PY_BIN" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" \
    || die "python ('$PY_BIN') not found; needed for the CQL client (set PYTHON)"
  printf '%s\n' "$CACHE_ROOT/cqlclient-py$pyver"
}

write_cql_py() { # $1 = path; replaced atomically, and only when the text changed
  local tmp="$1.tmp.$$"
  cat >"$tmp" <<'PYEOF'
"""Tiny CQL runner used by tests/services/cassandra.sh (cassandra-driver)."""
import argparse, logging, sys, warnings
warnings.filterwarnings("ignore")
logging.basicConfig(level=logging.CRITICAL)


def split_statements(text):
    """Split CQL text on ';' outside quotes, $$ blocks and comments."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c, two = text[i], text[i:i + 2]
        if two in ("--", "//"):
            j = text.find("\n", i); i = n if j < 0 else j + 1; continue
        if two == "/*":
            j = text.find("*/", i + 2); i = n if j < 0 else j + 2; continue
        if two == "$$":
            j = text.find("$$", i + 2); j = n if j < 0 else j + 2
            cur.append(text[i:j]); i = j; continue
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c: j += 2; continue
                    break
                j += 1
            cur.append(text[i:j + 1]); i = j + 1; continue
        if c == ";":
            s = "".join(cur).strip()
            if s: out.append(s)
            cur = []; i += 1; continue
        cur.append(c); i += 1
    s = "".join(cur).strip()
    if s: out.append(s)
    return out


def fmt(v):
    if v is None: return "null"
    if isinstance(v, (bytes, bytearray)): return "0x" + bytes(v).hex()
    return str(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9042)
    ap.add_argument("-k", "--keyspace")
    ap.add_argument("--header", action="store_true")
    ap.add_argument("--probe", action="store_true", help="quick liveness check, exit 0/1")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--user", help="log in with PlainTextAuthProvider (needs --password)")
    ap.add_argument("--password")
    ap.add_argument("--ssl-ca", help="TLS: verify the server (and its IP) against this CA")
    ap.add_argument("--ssl-cert", help="TLS: client certificate (PEM)")
    ap.add_argument("--ssl-key", help="TLS: client key (PEM)")
    ap.add_argument("statements", nargs="*")
    a = ap.parse_args()

    from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
    from cassandra.policies import WhiteListRoundRobinPolicy
    from cassandra import ConsistencyLevel
    from cassandra.query import SimpleStatement

    stmts = []
    for s in (a.statements or (["SELECT release_version FROM system.local"] if a.probe else [])):
        stmts.extend(split_statements(sys.stdin.read()) if s == "-" else [s])
    if not stmts:
        ap.error("no statement given")

    ctimeout = 2.0 if a.probe else min(10.0, a.timeout)
    prof = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([a.host]),
                            consistency_level=ConsistencyLevel.ONE,
                            request_timeout=5.0 if a.probe else a.timeout)
    extra = {}
    if a.user is not None:
        from cassandra.auth import PlainTextAuthProvider
        extra["auth_provider"] = PlainTextAuthProvider(username=a.user, password=a.password or "")
    if a.ssl_ca or a.ssl_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host/IP
        if a.ssl_ca:
            ctx.load_verify_locations(a.ssl_ca)
        if a.ssl_cert:
            ctx.load_cert_chain(a.ssl_cert, a.ssl_key)
        extra["ssl_context"] = ctx
    cluster = Cluster([a.host], port=a.port, execution_profiles={EXEC_PROFILE_DEFAULT: prof},
                      connect_timeout=ctimeout, control_connection_timeout=ctimeout,
                      schema_metadata_enabled=False, token_metadata_enabled=False, **extra)
    rc = 0
    try:
        session = cluster.connect(a.keyspace)
        for s in stmts:
            rs = session.execute(SimpleStatement(s))
            if rs.column_names and a.header:
                print("\t".join(rs.column_names))
            for row in rs:
                print("\t".join(fmt(v) for v in row))
    except Exception as e:  # noqa: BLE001 - report any driver error plainly
        print("cql error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        rc = 1
    finally:
        try: cluster.shutdown()
        except Exception: pass
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
PYEOF
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

ensure_client() { # sets CQL_PY (python) and CQL_SCRIPT
  local d; d="$(client_dir)"
  CQL_PY="$d/bin/python"; CQL_SCRIPT="$d/cql.py"
  if [[ -f "$d/.complete" && -x "$CQL_PY" ]] && "$CQL_PY" -c 'import cassandra' 2>/dev/null; then
    write_cql_py "$CQL_SCRIPT"
    return 0
  fi
  mkdir -p "$CACHE_ROOT"
  exec 7>"$CACHE_ROOT/.client.lock"; flock -w 600 7 || die "could not lock client dir"
  if ! [[ -f "$d/.complete" && -x "$CQL_PY" ]]; then
    log "installing CQL client (PyPI cassandra-driver==$DRIVER_VERSION) into $d ..."
    rm -rf "$d"
    "$PY_BIN" -m venv "$d" || die "'$PY_BIN -m venv' failed (install python3-venv?)"
    # Prefer the wheel; if pip must build from source, build it pure-python (fast, no Cython).
    CASS_DRIVER_NO_CYTHON=1 CASS_DRIVER_NO_EXTENSIONS=1 \
      "$CQL_PY" -m pip install -q --disable-pip-version-check --prefer-binary \
      "cassandra-driver==$DRIVER_VERSION" >"$CACHE_ROOT/cqlclient-pip.log" 2>&1 \
      || { tail -20 "$CACHE_ROOT/cqlclient-pip.log" >&2; die "pip install cassandra-driver failed"; }
    "$CQL_PY" -c 'import cassandra' || die "cassandra-driver installed but does not import"
    touch "$d/.complete"
  fi
  write_cql_py "$CQL_SCRIPT"
  exec 7>&-
}

# Secure mode: the TLS and login options of the CQL client (as $1/$2), in CONN_ARGS.
conn_args() { # $1 = user, $2 = password
  CONN_ARGS=()
  [[ "$SECURE" == 1 ]] || return 0
  CONN_ARGS=(--ssl-ca "$TLS_DIR/ca.pem" --ssl-cert "$TLS_DIR/client.pem"
             --ssl-key "$TLS_DIR/client.key" --user "$1" --password "$2")
}

cql_probe() { # 0 if CQL answers; prints release_version on stdout
  conn_args "$SUPERUSER" "$SUPERUSER_PASSWORD"
  "$CQL_PY" "$CQL_SCRIPT" --probe --host "$HOST" --port "$PORT" "${CONN_ARGS[@]}" 2>/dev/null
}

# ---------------------------------------------------------------- process helpers
is_ours() { # $1 = pid: alive, a java CassandraDaemon, with our config URL
  local pid="$1" cmd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  grep -qxF "$MAIN_CLASS" <<<"$cmd" && grep -qxF -- "-Dcassandra.config=$CONFIG_URL" <<<"$cmd"
}

our_pid() { # prints pid of our running Cassandra, or returns 1
  local pid p
  if [[ -f "$PIDFILE" ]]; then
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    if is_ours "$pid"; then printf '%s\n' "$pid"; return 0; fi
  fi
  # pid file lost? look for a daemon started with exactly our config (our state dir)
  for p in $(pgrep -f "$MAIN_CLASS" 2>/dev/null || true); do
    if is_ours "$p"; then printf '%s\n' "$p" >"$PIDFILE"; printf '%s\n' "$p"; return 0; fi
  done
  return 1
}

port_open() { # $1 = port; 0 if something accepts TCP on HOST:port
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

rss_of() { awk '/^VmRSS/ {printf "%d MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || true; }

# ---------------------------------------------------------------- TLS (secure mode)
tls_complete() {
  local f
  [[ -f "$TLS_DIR/.complete" ]] || return 1
  for f in ca.pem client.pem client.key other-ca.pem keystore.p12 truststore.p12; do
    [[ -s "$TLS_DIR/$f" ]] || return 1
  done
}

# Generates, once, a test CA, a server certificate for $HOST, a client certificate, an
# unrelated CA, and the server's PKCS12 keystore and truststore. Called under lock_state.
ensure_tls() {
  tls_complete && return 0
  command -v openssl >/dev/null || die "openssl not found (needed once to make the test certificates)"
  command -v keytool >/dev/null || die "keytool (Java) not found (needed once to make the test truststore)"
  local tmp="$STATE/tls.tmp.$$" san
  rm -rf "$tmp"; mkdir -p "$tmp"
  log "generating the test CA, server and client certificates in $TLS_DIR ..."
  if [[ "$HOST" =~ ^[0-9.]+$ ]]; then san="IP:$HOST,DNS:localhost"; else san="DNS:$HOST"; fi
  (
    set -e
    cd "$tmp"
    umask 077
    ossl() { openssl "$@" >>openssl.log 2>&1; }
    for ca in ca other-ca; do
      ossl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$ca.key" -out "$ca.pem" \
        -subj "/O=Tessera tests/CN=Tessera $ca (test only)" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    done
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
      "$san" >server.ext
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    for who in server client; do
      if [[ "$who" == server ]]; then cn="$HOST"; else cn="$APP_USER"; fi
      ossl req -newkey rsa:2048 -nodes -sha256 -keyout "$who.key" -out "$who.csr" \
        -subj "/O=Tessera tests/CN=$cn"
      ossl x509 -req -sha256 -days 3650 -in "$who.csr" -CA ca.pem -CAkey ca.key \
        -CAcreateserial -extfile "$who.ext" -out "$who.pem"
    done
    # The server's key and chain, and the CA it accepts client certificates from.
    ossl pkcs12 -export -name server -in server.pem -inkey server.key -certfile ca.pem \
      -passout "pass:$STORE_PASSWORD" -out keystore.p12
    keytool -importcert -noprompt -alias tessera-test-ca -file ca.pem -storetype PKCS12 \
      -keystore truststore.p12 -storepass "$STORE_PASSWORD" >>openssl.log 2>&1
    ossl verify -CAfile ca.pem server.pem client.pem
    rm -f ./*.csr ./*.srl ./*.ext other-ca.key
    chmod 644 ca.pem other-ca.pem server.pem client.pem
    touch .complete
  ) || { cat "$tmp/openssl.log" >&2 2>/dev/null || true; rm -rf "$tmp"; die "could not generate the test certificates"; }
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
}

# Secure mode: the login role Tessera's tests use (idempotent). The superuser must answer.
ensure_app_role() {
  conn_args "$SUPERUSER" "$SUPERUSER_PASSWORD"
  "$CQL_PY" "$CQL_SCRIPT" --host "$HOST" --port "$PORT" "${CONN_ARGS[@]}" \
    "CREATE ROLE IF NOT EXISTS $APP_USER WITH PASSWORD = '$APP_PASSWORD' AND LOGIN = true AND SUPERUSER = false" \
    "GRANT CREATE ON ALL KEYSPACES TO $APP_USER" >/dev/null \
    || die "could not create the login role $APP_USER (see above)"
}

# ---------------------------------------------------------------- config
write_config() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$STATE/data" "$STATE/commitlog" "$STATE/saved_caches" \
           "$STATE/hints" "$STATE/cdc_raw" "$STATE/tmp" "$STATE/triggers"
  cat >"$YAML" <<EOF
# Generated by tests/services/cassandra.sh - single-node test server. Do not edit.
cluster_name: 'Tessera Test Cluster'
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$HOST:$STORAGE_PORT"
listen_address: $HOST
rpc_address: $HOST
storage_port: $STORAGE_PORT
start_native_transport: true
native_transport_port: $PORT
data_file_directories:
  - $STATE/data
commitlog_directory: $STATE/commitlog
saved_caches_directory: $STATE/saved_caches
hints_directory: $STATE/hints
cdc_raw_directory: $STATE/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
auto_snapshot: false
snapshot_before_compaction: false
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 4
concurrent_compactors: 1
compaction_throughput: 0MiB/s
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
key_cache_size: 16MiB
counter_cache_size: 4MiB
file_cache_size: 64MiB
prepared_statements_cache_size: 8MiB
native_transport_max_threads: 32
hinted_handoff_enabled: false
dynamic_snitch: false
EOF
  if [[ "$SECURE" == 1 ]]; then
    cat >>"$YAML" <<EOF
# Secure mode (CASSANDRA_SECURE=1): password authentication with permissions, and TLS with
# client certificates required on the native transport (no plaintext).
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
# No auth caches: a GRANT or a new keyspace's permissions apply at once.
roles_validity: 0ms
permissions_validity: 0ms
credentials_validity: 0ms
client_encryption_options:
  enabled: true
  optional: false
  keystore: $TLS_DIR/keystore.p12
  keystore_password: $STORE_PASSWORD
  truststore: $TLS_DIR/truststore.p12
  truststore_password: $STORE_PASSWORD
  store_type: PKCS12
  require_client_auth: true
EOF
  fi
  cat >"$CONF_DIR/logback.xml" <<'EOF'
<configuration scan="false" debug="false">
  <statusListener class="ch.qos.logback.core.status.NopStatusListener"/>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
EOF
}

jvm_args() { # fills array JVM_ARGS
  local jamm
  jamm="$(ls "$LIB"/jamm-*.jar | head -1)"
  JVM_ARGS=(
    "-Xms$HEAP" "-Xmx$HEAP" -Xss256k -XX:MaxDirectMemorySize=512m
    # GC (from conf/jvm17-server.options, sized down for a test box)
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300
    -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1 -XX:CICompilerCount=2
    -XX:+PerfDisableSharedMem -XX:+CrashOnOutOfMemoryError
    -XX:ErrorFile="$LOG_DIR/hs_err_%p.log"
    # JPMS (conf/jvm17-server.options)
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    # Netty (conf/jvm17-server.options)
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true
    -Dio.netty.allocator.maxOrder=11
    # jamm (object sizing) agent, as bin/cassandra does
    "-javaagent:$jamm"
    # Cassandra
    -Djava.net.preferIPv4Stack=true
    "-Djava.io.tmpdir=$STATE/tmp"
    -Dcassandra-foreground=yes
    "-Dcassandra.config=$CONFIG_URL"
    "-Dcassandra.storagedir=$STATE"
    "-Dcassandra.logdir=$LOG_DIR"
    "-Dlogback.configurationFile=$CONF_DIR/logback.xml"
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.ring_delay_ms=1000
    -Dcassandra.superuser_setup_delay_ms=0
    "-Dcassandra.triggers_dir=$STATE/triggers"
    -Dcassandra.available_processors=2
  )
  if [[ "$JMX_PORT" != 0 && -n "$JMX_PORT" ]]; then
    JVM_ARGS+=("-Dcassandra.jmx.local.port=$JMX_PORT")
  fi
  JVM_ARGS+=(-cp "$LIB/*" "$MAIN_CLASS")
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local pid t0 elapsed ver p
  lock_state
  ensure_client
  if pid="$(our_pid)"; then
    if ver="$(cql_probe)"; then
      [[ "$SECURE" == 1 ]] && ensure_app_role
      log "already running (pid $pid, Cassandra $ver, CQL on $HOST:$PORT$(secure_note))"
      return 0
    fi
    log "already started (pid $pid) but CQL not answering yet; waiting ..."
  else
    rm -f "$PIDFILE"
    for p in "$PORT" "$STORAGE_PORT"; do
      port_open "$p" && die "port $HOST:$p is already in use by another process (not ours); set ${CASSANDRA_PORT_VARS:-CASSANDRA_PORT / CASSANDRA_STORAGE_PORT} or stop it"
    done
    if [[ "$JMX_PORT" != 0 && -n "$JMX_PORT" ]] && port_open "$JMX_PORT"; then
      die "JMX port $JMX_PORT is in use; set CASSANDRA_JMX_PORT (0 disables JMX)"
    fi
    ensure_jars
    local java; java="$(find_java)"
    [[ "$SECURE" == 1 ]] && ensure_tls
    write_config
    jvm_args
    [[ -f "$LOG" ]] && mv -f "$LOG" "$LOG.1"
    log "starting Cassandra $CASS_VERSION ($java, heap $HEAP) on $HOST:$PORT; log: $LOG"
    {
      echo "# $(date -Is) $java ${JVM_ARGS[*]}"
    } >"$LOG"
    # setsid: own session, so it survives the caller's terminal/job control ending.
    ( cd "$STATE" && exec setsid "$java" "${JVM_ARGS[@]}" >>"$LOG" 2>&1 </dev/null 7>&- 8>&- 9>&- ) &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  t0=$SECONDS
  while :; do
    elapsed=$((SECONDS - t0))
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      log "Cassandra exited during startup; last log lines:"
      tail -n 60 "$LOG" >&2 || true
      exit 1
    fi
    if port_open "$PORT" && ver="$(cql_probe)"; then
      [[ "$SECURE" == 1 ]] && ensure_app_role
      log "Cassandra $ver is up (pid $pid, CQL $HOST:$PORT$(secure_note), ${elapsed}s, RSS $(rss_of "$pid"))"
      return 0
    fi
    if (( elapsed >= START_TIMEOUT )); then
      log "Cassandra did not answer CQL within ${START_TIMEOUT}s (pid $pid still running); last log lines:"
      tail -n 60 "$LOG" >&2 || true
      exit 1
    fi
    sleep 1
  done
}

secure_note() { [[ "$SECURE" == 1 ]] && printf ' with TLS + client certificate + password auth'; true; }

cmd_stop() {
  local pid i
  lock_state
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  log "stopping Cassandra (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    is_ours "$pid" || break
    sleep 0.2
  done
  if is_ours "$pid"; then
    log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do is_ours "$pid" || break; sleep 0.2; done
    is_ours "$pid" && die "pid $pid did not exit after SIGKILL"
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  local pid ver=""
  if pid="$(our_pid 2>/dev/null)"; then
    if [[ -f "$(client_dir)/.complete" ]]; then
      CQL_PY="$(client_dir)/bin/python"; CQL_SCRIPT="$(client_dir)/cql.py"
      ver="$(cql_probe || true)"
    fi
    if [[ -n "$ver" ]]; then
      echo "running (pid $pid, Cassandra $ver, CQL $HOST:$PORT$(secure_note), RSS $(rss_of "$pid"))"
    else
      echo "running (pid $pid, CQL $HOST:$PORT not answering yet)"
    fi
    return 0
  fi
  echo "stopped"
  return 3
}

cmd_wipe() {
  cmd_stop
  log "deleting data under $STATE (logs kept)"
  rm -rf "$STATE/data" "$STATE/commitlog" "$STATE/saved_caches" "$STATE/hints" \
         "$STATE/cdc_raw" "$STATE/tmp"
}

cmd_cql() {
  [[ $# -gt 0 ]] || die "usage: $SELF cql [-k KEYSPACE] [--header] \"STATEMENT\" ... ('-' reads stdin)"
  ensure_client
  conn_args "${CASSANDRA_CQL_USER:-$SUPERUSER}" "${CASSANDRA_CQL_PASSWORD:-$SUPERUSER_PASSWORD}"
  exec "$CQL_PY" "$CQL_SCRIPT" --host "$HOST" --port "$PORT" "${CONN_ARGS[@]}" "$@"
}

cmd_info() {
  local v d
  for v in $CANDIDATE_VERSIONS; do lib_complete "$v" && { d="$CACHE_ROOT/$v/lib"; break; }; done
  echo "version:     ${v:-} (${d:-not cached})"
  echo "state dir:   $STATE"
  echo "log:         $LOG"
  echo "cql:         $HOST:$PORT  storage: $STORAGE_PORT  jmx: $JMX_PORT"
  echo "cql client:  $(client_dir)"
  echo "datacenter:  $DATACENTER (SimpleSnitch)"
  if [[ "$SECURE" == 1 ]]; then
    echo "auth:        PasswordAuthenticator + CassandraAuthorizer"
    echo "superuser:   $SUPERUSER / $SUPERUSER_PASSWORD"
    echo "login:       $APP_USER / $APP_PASSWORD (CREATE ON ALL KEYSPACES)"
    echo "tls:         required, client certificate required$(tls_complete || printf ' (files made on first start)')"
    echo "tls ca:      $TLS_DIR/ca.pem"
    echo "tls cert:    $TLS_DIR/client.pem"
    echo "tls key:     $TLS_DIR/client.key"
    echo "tls other ca: $TLS_DIR/other-ca.pem"
  fi
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
}

cmd="${1:-}"; [[ $# -gt 0 ]] && shift
case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  status) cmd_status ;;
  wipe) cmd_wipe ;;
  cql) cmd_cql "$@" ;;
  logs) tail -n "${1:-100}" "$LOG" ;;
  info) cmd_info ;;
  -h|--help|help) usage ;;
  *) usage; exit 2 ;;
esac
