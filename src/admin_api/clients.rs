//! `/admin/clients`: list and create; `/admin/clients/{id}`: read, replace (RFC 7592 §2.2),
//! delete (revoking every token of the client, as `tessera client remove`);
//! `/admin/clients/{id}/secret`: rotate the secret. The work is [`crate::manage::clients`]
//! on the admin thread's blocking pool.

use super::{audit, change_directory, read_directory, reply, revoke, segment, Call};
use crate::http::{Method, Reply};
use crate::manage::clients::{self, ClientRequest, ClientView};
use tessera_storage::store::{OwnedTokens, Owner};

pub async fn handle(call: Call<'_, '_>, rest: &str, body: &mut Vec<u8>) -> Reply {
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (call.req.method, parts.as_slice()) {
        (Method::Get | Method::Head, []) => list(call, body).await,
        (Method::Post, []) => create(call, body).await,
        (_, []) => super::not_allowed(body, "GET, HEAD, POST"),
        (method, [id]) => {
            let Some(id) = segment(id) else {
                return reply::error(
                    body,
                    400,
                    "invalid_request",
                    "the client id in the path is not valid percent-encoded UTF-8",
                );
            };
            match method {
                Method::Get | Method::Head => read(call, id, body).await,
                Method::Put => replace(call, id, body).await,
                Method::Delete => delete(call, id, body).await,
                _ => super::not_allowed(body, "GET, HEAD, PUT, DELETE"),
            }
        }
        (Method::Post, [id, "secret"]) => match segment(id) {
            Some(id) => rotate(call, id, body).await,
            None => reply::error(
                body,
                400,
                "invalid_request",
                "the client id in the path is not valid percent-encoded UTF-8",
            ),
        },
        (_, [_, "secret"]) => super::not_allowed(body, "POST"),
        _ => reply::error(body, 404, "not_found", "no such path on the admin listener"),
    }
}

async fn list(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    match read_directory(call, body, clients::list).await {
        Ok(all) => {
            let views: Vec<ClientView> = all.iter().map(|(c, s)| ClientView::of(c, *s)).collect();
            reply::json(body, 200, &serde_json::json!({ "clients": views }))
        }
        Err(reply) => reply,
    }
}

async fn read(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    match read_directory(call, body, move |dir, config| {
        clients::get(dir, config, &id)
    })
    .await
    {
        Ok((c, source)) => reply::json(body, 200, &ClientView::of(&c, source)),
        Err(reply) => reply,
    }
}

async fn create(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    let request: ClientRequest = match reply::read_client(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let made = match change_directory(call, body, move |dir, config| {
        clients::create(dir, config, request)
    })
    .await
    {
        Ok(made) => made,
        Err(reply) => return reply,
    };
    audit(call, "create", "client", &made.client.id);
    let mut view = serde_json::to_value(ClientView::of(&made.client, crate::manage::Source::Store))
        .unwrap_or_default();
    if let Some(o) = view.as_object_mut() {
        o.insert(
            "client_id_issued_at".to_owned(),
            crate::clock::now_secs().into(),
        );
        if let Some(secret) = &made.secret {
            // Shown this once: only its hash is kept.
            o.insert("client_secret".to_owned(), secret.as_str().into());
            o.insert("client_secret_expires_at".to_owned(), 0.into());
        }
    }
    reply::json(body, 201, &view)
}

async fn replace(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let request: ClientRequest = match reply::read_client(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    match change_directory(call, body, move |dir, config| {
        clients::replace(dir, config, &id, request)
    })
    .await
    {
        Ok(c) => {
            audit(call, "replace", "client", &c.id);
            reply::json(body, 200, &ClientView::of(&c, crate::manage::Source::Store))
        }
        Err(reply) => reply,
    }
}

/// RFC 7592 §2.3: 204 once the client is gone and its tokens are revoked.
async fn delete(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let name = id.clone();
    let existed = match change_directory(call, body, move |dir, config| {
        clients::remove(dir, config, &name)
    })
    .await
    {
        Ok(existed) => existed,
        Err(reply) => return reply,
    };
    // Revoked also when the client was already gone: a retry after a failed revocation
    // must finish the job.
    match revoke::owned(call.app, Owner::Client(&id), OwnedTokens::All).await {
        Ok(n) => {
            audit(call, "delete", "client", &id);
            tracing::info!(client = %id, revoked = n, "client removed through the admin API");
            if existed {
                Reply::empty(204)
            } else {
                reply::error(body, 404, "not_found", &format!("no client {id:?}"))
            }
        }
        Err(reply) => reply.into_reply(body),
    }
}

async fn rotate(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let made = match change_directory(call, body, move |dir, config| {
        clients::rotate_secret(dir, config, &id)
    })
    .await
    {
        Ok(made) => made,
        Err(reply) => return reply,
    };
    audit(call, "rotate_secret", "client", &made.client.id);
    let secret = made.secret.as_ref().map(|s| s.as_str()).unwrap_or_default();
    reply::json(
        body,
        200,
        &serde_json::json!({
            "client_id": made.client.id,
            "client_secret": secret,
            "client_secret_expires_at": 0,
        }),
    )
}
