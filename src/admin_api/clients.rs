//! `/admin/clients`: list and create; `/admin/clients/{id}`: read, replace (RFC 7592 §2.2),
//! delete (revoking every token of the client, as `tessera client remove`);
//! `/admin/clients/{id}/secret`: rotate the secret. The work is [`crate::manage::clients`]
//! on the admin thread's blocking pool.

use super::{audit, blocking, reload_registry, reply, revoke, segment, Call};
use crate::http::{Method, Reply};
use crate::manage::clients::{self, ClientRequest, ClientView};
use crate::manage::directory::Directory;
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
    let app = call.app.clone();
    let Some(result) =
        blocking(move || clients::list(Directory::of(app.directory.as_ref()), &app.config)).await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(all) => {
            let views: Vec<ClientView> = all.iter().map(|(c, s)| ClientView::of(c, *s)).collect();
            reply::json(body, 200, &serde_json::json!({ "clients": views }))
        }
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn read(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let app = call.app.clone();
    let Some(result) =
        blocking(move || clients::get(Directory::of(app.directory.as_ref()), &app.config, &id))
            .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok((c, source)) => reply::json(body, 200, &ClientView::of(&c, source)),
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn create(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    let request: ClientRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let app = call.app.clone();
    let Some(result) = blocking(move || {
        let made = clients::create(Directory::of(app.directory.as_ref()), &app.config, request)?;
        reload_registry(&app);
        Ok(made)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(made) => {
            audit(call, "create", "client", &made.client.id);
            let mut view =
                serde_json::to_value(ClientView::of(&made.client, crate::manage::Source::Store))
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
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn replace(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let request: ClientRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let app = call.app.clone();
    let Some(result) = blocking(move || {
        let c = clients::replace(
            Directory::of(app.directory.as_ref()),
            &app.config,
            &id,
            request,
        )?;
        reload_registry(&app);
        Ok(c)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(c) => {
            audit(call, "replace", "client", &c.id);
            reply::json(body, 200, &ClientView::of(&c, crate::manage::Source::Store))
        }
        Err(e) => reply::manage_error(body, &e),
    }
}

/// RFC 7592 §2.3: 204 once the client is gone and its tokens are revoked.
async fn delete(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let app = call.app.clone();
    let name = id.clone();
    let Some(result) = blocking(move || {
        let existed = clients::remove(Directory::of(app.directory.as_ref()), &app.config, &name)?;
        reload_registry(&app);
        Ok(existed)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        // Revoked also when the client was already gone: a retry after a failed
        // revocation must finish the job.
        Ok(existed) => match revoke::owned(call.app, Owner::Client(&id), OwnedTokens::All).await {
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
        },
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn rotate(call: Call<'_, '_>, id: String, body: &mut Vec<u8>) -> Reply {
    let app = call.app.clone();
    let Some(result) = blocking(move || {
        let made = clients::rotate_secret(Directory::of(app.directory.as_ref()), &app.config, &id)?;
        reload_registry(&app);
        Ok(made)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(made) => {
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
        Err(e) => reply::manage_error(body, &e),
    }
}
