//! `GET /metrics`: Prometheus text exposition of [`crate::metrics`] — on the public
//! listener, or only on the admin listener with `[admin] metrics = true` (which calls
//! [`render`]).

use super::Ctx;
use crate::http::Reply;
use crate::metrics::Gauges;
use crate::oauth::clients::Clients;
use crate::state::App;
use std::sync::atomic::Ordering;

pub fn handle(ctx: Ctx<'_>, body: &mut Vec<u8>) -> Reply {
    render(ctx.app, ctx.clients, body)
}

/// Every metric, with `clients` naming the per-client series.
pub fn render(app: &App, clients: &Clients, body: &mut Vec<u8>) -> Reply {
    let gauges = Gauges {
        live_tokens: app.table.len(),
        grants: app.table.grant_count(),
        purged_total: app.purged_total.load(Ordering::Relaxed),
    };
    // By metrics index, which is stable per client id (see `ClientIndices`).
    let mut ids: Vec<&str> = Vec::new();
    for c in clients.iter() {
        if ids.len() <= c.index {
            ids.resize(c.index + 1, "");
        }
        ids[c.index] = &c.id;
    }
    app.metrics
        .render(body, gauges, |i| ids.get(i).copied().unwrap_or(""));
    if let (Some(writer), Some(store)) = (&app.writer, &app.store) {
        crate::metrics::render_store(
            body,
            store.name(),
            writer.queue_depth(),
            app.config.store.queue_capacity,
            writer.stats(),
            crate::clock::now_millis(),
        );
    }
    Reply {
        content_type: Some("text/plain; version=0.0.4; charset=utf-8"),
        ..Reply::json(200)
    }
}
