//! `GET /admin/store`: the store's kind and the write-behind's state — queue depth and
//! capacity, batches, errors, rejections, the last flush — and, for a shared store, the
//! peers whose heartbeats it holds (`crate::cluster::peers`).

use super::{blocking, reply, Call};
use crate::http::{Method, Reply};
use serde::Serialize;
use std::sync::atomic::Ordering;

#[derive(Debug, Serialize)]
struct Peer {
    node: String,
    last_seen_ms: u64,
}

#[derive(Debug, Serialize)]
struct StoreStatus {
    kind: &'static str,
    durability: &'static str,
    queue_depth: usize,
    queue_capacity: usize,
    batches_total: u64,
    errors_total: u64,
    rejected_total: u64,
    /// Unix milliseconds of the last batch written; `None` before the first.
    last_flush_at: Option<u64>,
    last_flush_seconds: f64,
    write_age_seconds: f64,
    peers: Vec<Peer>,
}

pub async fn handle(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    if !matches!(call.req.method, Method::Get | Method::Head) {
        return super::not_allowed(body, "GET, HEAD");
    }
    let app = call.app;
    let peers = if app.shared_store().is_some() {
        let a = app.clone();
        let Some(read) = blocking(move || {
            a.store
                .as_deref()
                .map(crate::cluster::peers::read)
                .transpose()
        })
        .await
        else {
            return reply::cancelled(body);
        };
        match read {
            Ok(map) => map
                .unwrap_or_default()
                .into_iter()
                .map(|(node, last_seen_ms)| Peer { node, last_seen_ms })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "admin API: cannot read the peers from the store");
                return reply::error(
                    body,
                    503,
                    "temporarily_unavailable",
                    "the store cannot answer; retry shortly",
                );
            }
        }
    } else {
        Vec::new()
    };
    let s = &app.config.store;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let status = match &app.writer {
        Some(w) => {
            let st = w.stats();
            StoreStatus {
                kind: s.kind.name(),
                durability: match w.durability() {
                    tessera_storage::writer::Durability::Async => "async",
                    tessera_storage::writer::Durability::Sync => "sync",
                },
                queue_depth: w.queue_depth(),
                queue_capacity: s.queue_capacity,
                batches_total: load(&st.batches),
                errors_total: load(&st.errors),
                rejected_total: load(&st.rejected),
                last_flush_at: Some(load(&st.last_flush_ms)).filter(|&t| t > 0),
                last_flush_seconds: load(&st.last_flush_us) as f64 / 1e6,
                write_age_seconds: st.write_age_ms(crate::clock::now_millis()) as f64 / 1e3,
                peers,
            }
        }
        // kind = "memory": nothing is written anywhere.
        None => StoreStatus {
            kind: s.kind.name(),
            durability: "none",
            queue_depth: 0,
            queue_capacity: 0,
            batches_total: 0,
            errors_total: 0,
            rejected_total: 0,
            last_flush_at: None,
            last_flush_seconds: 0.0,
            write_age_seconds: 0.0,
            peers,
        },
    };
    reply::json(body, 200, &status)
}
