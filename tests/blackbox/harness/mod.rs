//! Shared fixtures for the black-box suite: start the real `tessera` binary on port 0 with a
//! generated config, talk raw HTTP/1.1 to it over `std::net::TcpStream`, and decode the
//! answers (status line, headers, `Content-Length` or chunked body, JSON).
//!
//! Everything here has a timeout: sockets read and write with a 10 s limit, the server must
//! announce its port within 30 s, and a fixture that is dropped kills its child process, so a
//! broken server fails a test instead of hanging the suite.
//!
//! # Submodules
//!
//! Each has one job; the arrows are the only uses between them, so the graph has no cycle.
//!
//! - `config`: the TOML config a server starts with (`ConfigBuilder`, the standard config
//!   and its `[[clients]]` and `[[users]]` blocks, `toml_str`) and `TempDir`. Uses nothing.
//! - `response`: one decoded HTTP response and its accessors. Uses nothing.
//! - `metrics`: the Prometheus text parser (`Metrics`, `Sample`). Uses nothing.
//! - `client`: raw request bytes, the form/urlencoding/Basic encoders (the `form_urlencoded`
//!   and `base64` crates) and `Conn`, the HTTP/1.1 connection (`Conn::connect_from` binds
//!   another loopback address first, with `socket2`, so the server sees another peer).
//!   Uses `response`.
//! - `fixtures`: the credentials tests present (`Client`, `confidential_client()`, ...),
//!   `Issued` token responses and the OAuth error and token-shape assertions. Uses `client`
//!   and `response`.
//! - `flow`: an HTTP-level user agent for the authorize path (cookie jar, form fields,
//!   PKCE, redirect parameters). Uses `client`, `response` and `server`.
//! - `server`: the `Server` fixture (child process, port, signals, request helpers) and
//!   `run_cli`. Uses all of the above.
//! - `assertions` (imported as `crate::harness::assertions::*`): keys, JWTs and SAML
//!   assertions made by `tests/tools/assertion.py`, the `[assertions]` config text, a JWKS
//!   server for `jwks_uri`. Uses `config`, `fixtures` and `response`.
//! - `webdriver`: `Browser`, a minimal W3C WebDriver client that drives a headless Chromium
//!   through `chromedriver` (both killed on drop). Uses `client` and `config`.
//!
//! The test files import everything at once with `use crate::harness::*`; the re-exports
//! below keep that one line working.

// Each test file uses its own part of the harness.
#![allow(dead_code)]

pub mod assertions;
mod client;
mod config;
mod fixtures;
mod flow;
mod metrics;
mod response;
mod server;
mod webdriver;

pub use client::*;
pub use config::*;
pub use fixtures::*;
pub use flow::*;
pub use metrics::*;
pub use response::*;
pub use server::*;
pub use webdriver::*;
