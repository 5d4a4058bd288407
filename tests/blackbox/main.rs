//! Black-box tests for Tessera: each test starts the real `tessera` binary on port 0 with its
//! own TOML config, talks raw HTTP/1.1 to it over `std::net::TcpStream` and checks what comes
//! back against the contract (RFC 6749, 6750, 7009, 7662 and the server's own rules).
//!
//! # Layout
//!
//! - `harness/`: what every test file imports with `use crate::harness::*`, one job a file:
//!   - `server.rs`: the `Server` fixture (child process, port, signals, kill on drop,
//!     request helpers) and `run_cli`;
//!   - `config.rs`: the TOML config (`ConfigBuilder`, the standard config with its clients
//!     and users) and `TempDir`;
//!   - `client.rs`: a tiny HTTP/1.1 client (raw bytes out; `Content-Length`, chunked or
//!     close-delimited body in; pipelined reads) and the form/urlencoding/Basic encoders;
//!   - `response.rs`: one decoded response (status line, headers, body, JSON fields);
//!   - `fixtures.rs`: fixture clients such as `confidential_client()`, `Issued` token
//!     responses, OAuth error and token-shape assertions;
//!   - `metrics.rs`: a Prometheus text parser.
//! - `admin`: the admin listener (issue 16) — the bearer admin token, `/metrics` moved
//!   there, clients and users made, changed, rotated and removed through the API on the
//!   embedded store and in memory, revocation by client, user and grant, token counts,
//!   store status, a creation raced twice.
//! - `token_client_credentials`, `token_password`, `token_refresh`: the token endpoint per
//!   grant (RFC 6749 §4.4, §4.3, §6), token shape, per-client overrides, scope rules.
//! - `token_format`: the token endpoint's `format` parameter (`json`, `urlencoded`, `xml`;
//!   issue 13), for token responses and errors.
//! - `client_auth`: client authentication (RFC 6749 §2.3.1, §5.2).
//! - `brute_force`: the uniform answer to every client authentication failure and the
//!   `[security]` lockouts (429 + `Retry-After`) per identity and address (issue 11).
//! - `rate_limit`: the rate limits (issue 15): a client's `rate_limit` on the token
//!   endpoint, `[security] rate_limit_per_address` on every OAuth endpoint, 429 with
//!   `Retry-After`, per-client metrics; a client kept in PostgreSQL with its limit.
//! - `revoke` (RFC 7009), `tokeninfo`, `introspect` (RFC 7662).
//! - `jwt_bearer` (RFC 7523 §2.1), `client_jwt` (RFC 7523 §2.2: private_key_jwt,
//!   client_secret_jwt), `saml_bearer` (RFC 7522, XSW1–XSW8, DTD/XXE): assertions made by
//!   PyJWT and signxml through `tests/tools/assertion.py` (installed by `.ci/setup`).
//! - `assertion_failures`: the failure modes of those: single use after `kill -9`, a
//!   Cassandra outage (503, nothing used up), one assertion raced on one node, `jti` per
//!   issuer, a refused request not using the assertion up, oversized and deeply nested
//!   assertions.
//! - `flood`: connection floods (issue 15) — the first-request timeout, slowloris still
//!   cut off at the request timeout, the per-address connection limit, idle connections
//!   evicted at the worker's cap, client_credentials served while 2 000 silent
//!   connections are held.
//! - `http_protocol`: keep-alive, pipelining, chunked bodies, limits, malformed and split
//!   requests, timeouts, the connection limit, HTTP/1.0.
//! - `openapi`: `docs/openapi.json` lists every route of the router; Schemathesis checks the
//!   real server against it with every check on (issue 16).
//! - `ops`: health, metrics, graceful shutdown and the command line.
//! - `logs`: `[log] format` (text, JSON) and the audit events on `tessera::audit` (issued,
//!   revoked, reuse, failed authentication and login, lockout, admin changes and refused
//!   admin calls); no secret, password, token or code in any log line of a full flow at
//!   `trace`.
//! - `prometheus`: a real Prometheus (Debian's `prometheus`, installed by `.ci/setup`)
//!   scraping a server under traffic evaluates every query of `config/grafana/tessera.json`
//!   and `config/prometheus/alerts.yml` (each must return data); `promtool` checks the
//!   example `config/prometheus/prometheus.yml` and the alert rules and runs their unit tests.
//! - `packaging`: what the systemd unit relies on — sd_notify `READY=1` only once the store
//!   is recovered and the listener accepts, `STOPPING=1` at SIGTERM, never ready when the
//!   start fails (a fake `NOTIFY_SOCKET`). The .deb itself is checked by `make package`.
//! - `tls`: `[server.tls]` — every endpoint over TLS, curl and Python requests, resumption,
//!   `min_version`, the SIGHUP reload, the plain health listener, bad files, stalled
//!   handshakes (issue 15).
//! - `keys`: `tessera keys list|rotate` (the OpenID Connect signing keys in the store).
//! - `lifecycle`: start-up never resets a connection; a failing worker stops the server.
//! - `persistence`: the RocksDB write-behind — restarts, `kill -9` in both durability modes,
//!   bad data directories, backpressure.
//! - `chaos`: faults injected into the real store at run time (`store.test_faults_file`:
//!   stalls and errors, on RocksDB and on the shared stores), RocksDB on a tmpfs that fills
//!   up (root only; skipped otherwise), and 20 SIGKILLs of a `sync` server under load:
//!   nothing acknowledged lost, the queue's limit holds, 503 with `Retry-After`, catch-up.
//! - `cluster`: two or three nodes sharing one Cassandra keyspace — tokens, refreshes and
//!   revocations across nodes, clients and users added with the CLI, `tessera migrate`, and
//!   a Cassandra outage. Needs `bash tests/services/cassandra.sh start` (fails otherwise).
//! - `cluster_authorize`: the authorize path on two nodes sharing one Cassandra keyspace —
//!   codes redeemed on the other node, a code raced to both nodes, a used code revoking its
//!   tokens everywhere, single sign-on and consent on either node, logout across nodes, one
//!   signing key set (also after a rotation), and codes during a Cassandra outage.
//! - `cluster_sql`: two nodes sharing one PostgreSQL schema or MariaDB database (issue 14),
//!   every test once on each: tokens, refreshes and revocations across nodes, a refresh
//!   token and a code raced to both nodes, CLI clients, users and keys, `tessera migrate`
//!   and the schema-version check, `kill -9` after a `sync` answer, and the database stopped
//!   and started again mid-test. Needs `bash tests/services/postgres.sh start` and
//!   `mysql.sh start` (`make test` starts them); the fixtures are in `tests/support/sql_servers.rs`.
//! - `cluster_admin`: the admin API on two nodes sharing PostgreSQL (most also on Cassandra,
//!   the update-vs-delete race also on MariaDB) — a client or user made, changed, rotated, revoked or
//!   removed on one node is served or refused by the other within the propagation window,
//!   one client id or username posted to both nodes at once (one 201, one 409), peers in
//!   `/admin/store`, every admin call 503 while the database is down and nothing half done
//!   after, `kill -9` right after a 201.
//! - `cluster_secure`: two nodes on a Cassandra that requires a password and TLS with a
//!   client certificate (`tests/services/cassandra-secure.sh`, started by the tests), and
//!   the start-up error for a wrong password.
//! - `browser`: the authorization code flow in headless Chromium over WebDriver (login
//!   form, consent, redirect, code exchange, `prompt=none` single sign-on), and the
//!   WebDriver client's own checks against local pages. Needs `chromium` and
//!   `chromium-driver` (`.ci/setup` installs them).
//! - `status_page`: the admin listener's live status page in headless Chromium under load
//!   (the figures move; the token from the URL fragment or the form; a screenshot in
//!   `$CARGO_TARGET_TMPDIR/status_page/`), and `/admin/status`'s history.
//! - `oidc_rp`: the `openidconnect` crate as a relying party (discovery, code flow with PKCE
//!   and nonce, `id_token` validation against the JWKS, userinfo), RS256 and ES256.
//!
//! Every socket read has a 10 s timeout and every child process is killed when its fixture
//! drops, so a broken server fails tests instead of hanging the run.

mod harness;

mod admin;
mod assertion_failures;
mod authorize;
mod browser;
mod brute_force;
mod chaos;
mod client_auth;
mod client_jwt;
mod cluster;
mod cluster_admin;
mod cluster_authorize;
mod cluster_secure;
mod cluster_sql;
mod flood;
mod http_protocol;
mod introspect;
mod jwt_bearer;
mod keys;
mod lifecycle;
mod logs;
mod oidc_rp;
mod openapi;
mod ops;
mod packaging;
mod persistence;
mod prometheus;
mod rate_limit;
mod revoke;
mod saml_bearer;
#[path = "../support/secure_cassandra.rs"]
mod secure_cassandra;
#[path = "../support/sql_servers.rs"]
mod sql_servers;
mod status_page;
mod tls;
mod token_client_credentials;
mod token_format;
mod token_password;
mod token_refresh;
mod tokeninfo;
