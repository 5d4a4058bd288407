//! The live status page (`GET /` on the admin listener) and the figures it polls
//! (`GET /admin/status`). This first version reports the live token count only; the page
//! with its history of rates and latencies replaces it (issue 16).

use crate::state::App;
use std::sync::atomic::{AtomicU64, Ordering};

/// The history the page draws, sampled by the admin thread.
#[derive(Debug, Default)]
pub struct Status {
    samples: AtomicU64,
}

impl Status {
    pub fn new() -> Status {
        Status::default()
    }

    /// Takes one sample (called once a second).
    pub fn sample(&self, _app: &App) {
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures as JSON.
    pub fn json(&self, app: &App, out: &mut Vec<u8>) {
        let v = serde_json::json!({
            "live_tokens": app.table.len(),
            "samples": self.samples.load(Ordering::Relaxed),
        });
        out.extend_from_slice(v.to_string().as_bytes());
    }
}

/// The page's HTML.
pub fn page() -> &'static [u8] {
    b"<!doctype html><html><head><meta charset=\"utf-8\"><title>Tessera</title></head><body><h1>Tessera</h1></body></html>"
}
