//! Tessera: an OAuth 2.0 authorization server for high-volume API platforms.
//!
//! # Layout
//!
//! A request's path through the code, top to bottom:
//!
//! - [`cli`]: `tessera serve | check-config | hash-secret`; loads [`config`], binds, starts.
//!   [`admin`]: `tessera migrate | client | user`, which work on the configured store.
//! - [`server`]: binds the `SO_REUSEPORT` listeners, starts the workers and the purge
//!   thread, waits for them at shutdown ([`shutdown`] carries the signal).
//! - [`worker`]: one thread, one monoio runtime (io_uring, or epoll where io_uring is not
//!   available), one listener; accepts connections and implements [`http::Service`].
//! - [`http`]: the HTTP/1.1 connection loop, parser, limits and response encoder.
//! - [`router`]: path and method → endpoint.
//! - [`endpoints`]: one module per path (`token`, `revoke`, `tokeninfo`, `introspect`,
//!   `health`, `metrics`); converts OAuth errors into responses.
//! - [`oauth`]: the decisions, without I/O: client authentication, grants (one module
//!   each), scopes, secrets, minting tokens.
//! - [`cluster`]: read-through to a shared store, the revocation log and the clients and
//!   users kept in the store — how several nodes sharing Cassandra act as one server.
//! - [`app`]: the state workers share — registries, the token table
//!   ([`tessera_storage::TokenTable`]), interners, metrics.
//! - [`metrics`]: per-worker counters and histograms, rendered for Prometheus.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod endpoints;
pub mod http;
pub mod metrics;
pub mod oauth;
pub mod registry;
pub mod router;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod worker;
pub mod writes;
