//! Tessera: an OAuth 2.0 authorization server for high-volume API platforms.
//!
//! # Layout
//!
//! A request's path through the code, top to bottom (imports point down only; the test
//! `tests/layers.rs` holds that):
//!
//! - [`cli`]: `tessera serve | check-config | hash-secret`; loads [`config`], binds, starts.
//!   [`admin`]: `tessera migrate | client | user`, which work on the configured store.
//!   [`manual`]: the man pages and shell completions made from the clap definitions.
//! - [`notify`]: readiness and status for systemd (`Type=notify`, sd_notify): `READY=1`
//!   once the store is recovered and every listener accepts, `STOPPING=1` at shutdown.
//! - [`server`]: binds the `SO_REUSEPORT` listeners, starts the workers, the purge thread
//!   and the cluster thread, waits for them at shutdown ([`shutdown`] carries the signal).
//! - [`worker`]: one thread, one monoio runtime (io_uring, or epoll where io_uring is not
//!   available), its listeners (the main one, TLS or plain, and the optional plain one for
//!   health checks); the accept loop and the TLS handshake.
//! - [`tls`]: `[server.tls]`'s certificate and key as a rustls config, reloaded on SIGHUP.
//! - [`service`]: the worker's [`http::Service`]: the client registry it reads, metrics,
//!   dispatch.
//! - [`http`]: the HTTP/1.1 connection loop, parser, limits and response encoder; knows
//!   nothing of OAuth.
//! - [`router`]: path and method → endpoint.
//! - [`endpoints`]: one module per path (`authorize`, `token`, `revoke`, `tokeninfo`,
//!   `introspect`, `userinfo`, `logout`, `discovery`, `health`, `metrics`): parse, do the
//!   I/O, call [`oauth`], commit, encode; converts OAuth errors into responses.
//! - [`pages`]: the HTML pages of the authorize path (login, consent, error, signed-out,
//!   form_post) rendered from templates, with their CSP and security headers, the session
//!   and CSRF cookies and the CSRF form values; rendering only, no I/O but the template
//!   files read at start-up.
//! - [`oauth`]: the decisions, without I/O: client authentication, grants (one module
//!   each, over the [`oauth::tokens::TokenOps`] trait), scopes, secrets, minting tokens.
//! - [`codes`]: this node's authorization codes, kept apart from the token table.
//! - [`oidc`]: OpenID Connect's signing keys (generated into the store or read from PEM
//!   files, rotated), ID tokens as compact JWS, the JWKS and the discovery documents.
//! - [`writes`]: the server's `TokenOps` — table changes queued for the write-behind.
//! - [`cluster`]: read-through to a shared store, the revocation log and the clients and
//!   users kept in the store — how several nodes sharing Cassandra or a SQL database act as
//!   one server.
//!   Given narrow contexts, never the whole state.
//! - [`registry`]: clients and users built from configuration and the store; the
//!   password-hash pool.
//! - [`state`]: the state workers share — registries, the token table
//!   ([`tessera_storage::TokenTable`]), interners, metrics; [`startup`] builds it.
//! - [`guard`]: the brute-force guard — failed authentications per identity and address in
//!   a sliding window, lockouts; a fixed-size sharded table with an injected clock.
//! - [`ratelimit`]: the rate limits — lock-free token buckets (GCRA) per client and a
//!   fixed-size sharded table of them per source address, with an injected clock.
//! - [`fixed_table`]: the fixed-size, sharded, set-associative table under [`guard`] and
//!   [`ratelimit`]'s per-address limit: placement, locks, the count in use; memory only.
//! - [`metrics`]: per-worker counters and histograms, rendered for Prometheus.
//! - [`audit`]: the audit events (tokens issued and revoked, reuse, failed authentications,
//!   lockouts, admin changes) on the tracing target `tessera::audit`; never a secret.

pub mod admin;
pub mod admin_api;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod codes;
pub mod config;
pub mod endpoints;
pub mod fixed_table;
pub mod guard;
pub mod http;
pub mod manage;
pub mod manual;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod oidc;
pub mod pages;
pub mod ratelimit;
pub mod registry;
pub mod router;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod tls;
pub mod worker;
pub mod writes;
