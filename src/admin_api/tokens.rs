//! `POST /admin/revoke` — every token of a client, of a user, or of one grant — and
//! `GET /admin/tokens`, the live access and refresh tokens per client in this node's table.

use super::{audit, blocking, reply, revoke, Call};
use crate::http::{Method, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_storage::store::{OwnedTokens, Owner};
use tessera_storage::{GrantId, TokenKind};

/// Exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    client_id: Option<String>,
    username: Option<String>,
    /// The decimal grant id of the audit log's `grant_id`.
    grant_id: Option<String>,
}

pub async fn revoke_handler(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    if call.req.method != Method::Post {
        return super::not_allowed(body, "POST");
    }
    let request: RevokeRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let outcome = match (&request.client_id, &request.username, &request.grant_id) {
        (Some(id), None, None) => {
            audit(call, "revoke", "client", id);
            revoke::owned(call.app, Owner::Client(id), OwnedTokens::All).await
        }
        (None, Some(name), None) => {
            audit(call, "revoke", "user", name);
            revoke::owned(call.app, Owner::User(name), OwnedTokens::All).await
        }
        (None, None, Some(g)) => match g.parse::<u64>() {
            Ok(n) if n != 0 => {
                audit(call, "revoke", "grant", g);
                revoke::grant(call.app, GrantId(n)).await
            }
            _ => {
                return reply::error(
                    body,
                    400,
                    "invalid_request",
                    "grant_id is the decimal grant id of the audit log",
                )
            }
        },
        _ => {
            return reply::error(
                body,
                400,
                "invalid_request",
                "name exactly one of client_id, username, grant_id",
            )
        }
    };
    match outcome {
        Ok(n) => reply::json(body, 200, &serde_json::json!({ "revoked": n })),
        Err(f) => f.into_reply(body),
    }
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    client_id: String,
    access_tokens: u64,
    refresh_tokens: u64,
}

/// GET /admin/tokens: a scan of this node's table, off the admin thread.
pub async fn counts_handler(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    if !matches!(call.req.method, Method::Get | Method::Head) {
        return super::not_allowed(body, "GET, HEAD");
    }
    let app = call.app.clone();
    let Some((live, per_client)) = blocking(move || {
        let mut per_client: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        let mut live = 0u64;
        app.table.for_each_live(crate::clock::now_secs(), |_, r| {
            let slot = match r.kind {
                TokenKind::Access => 0,
                TokenKind::Refresh => 1,
                _ => return,
            };
            live += 1;
            let e = per_client.entry(r.client.index()).or_default();
            if slot == 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        });
        let named: Vec<Counts> = per_client
            .into_iter()
            .map(|(sym, (access, refresh))| Counts {
                client_id: app
                    .syms
                    .clients
                    .resolve(tessera_storage::Sym::from_index(sym))
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                access_tokens: access,
                refresh_tokens: refresh,
            })
            .collect();
        (live, named)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    let mut clients = per_client;
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    reply::json(
        body,
        200,
        &serde_json::json!({ "live_tokens": live, "clients": clients }),
    )
}
