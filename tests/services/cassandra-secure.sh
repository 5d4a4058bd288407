#!/usr/bin/env bash
# The second, secure test Cassandra: password authentication + TLS with client certificates.
#
# Usage: tests/services/cassandra-secure.sh start|stop|restart|status|wipe|cql|logs|info
#
# Runs tests/services/cassandra.sh in secure mode (CASSANDRA_SECURE=1; see its header) as a
# separate instance next to the default one on 9042, which it never touches:
#   state dir  ${TESSERA_CASSANDRA_SECURE_HOME:-$HOME/.cache/tessera/cassandra-secure-run}
#              (TLS files in its tls/: ca.pem, client.pem, client.key, other-ca.pem)
#   CQL        127.0.0.1:${CASSANDRA_SECURE_PORT:-9142} (TLS only, client certificate required)
#   internode  ${CASSANDRA_SECURE_STORAGE_PORT:-7001}, JMX off, heap ${CASSANDRA_SECURE_HEAP:-512m}
#   logins     tessera / tessera-secret (what the tests use), superuser cassandra / cassandra
#   datacenter datacenter1 (SimpleSnitch)
# `info` prints all of it; `cql` logs in as the superuser unless CASSANDRA_CQL_USER and
# CASSANDRA_CQL_PASSWORD say otherwise.
#
# Used by storage/tests/cassandra_secure.rs and tests/blackbox/cluster_secure.rs, which
# start it themselves (`start` is idempotent); `make test` stops it after the tests.
set -euo pipefail
export TESSERA_CASSANDRA_HOME="${TESSERA_CASSANDRA_SECURE_HOME:-$HOME/.cache/tessera/cassandra-secure-run}"
export CASSANDRA_PORT="${CASSANDRA_SECURE_PORT:-9142}"
export CASSANDRA_STORAGE_PORT="${CASSANDRA_SECURE_STORAGE_PORT:-7001}"
export CASSANDRA_JMX_PORT=0
export CASSANDRA_HEAP="${CASSANDRA_SECURE_HEAP:-512m}"
export CASSANDRA_SECURE=1
export CASSANDRA_PORT_VARS="CASSANDRA_SECURE_PORT / CASSANDRA_SECURE_STORAGE_PORT"
CASSANDRA_SCRIPT_NAME="$(basename "$0")"
export CASSANDRA_SCRIPT_NAME
exec bash "$(dirname "$0")/cassandra.sh" "$@"
