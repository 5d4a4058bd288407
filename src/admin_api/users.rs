//! `/admin/users`: list and create; `/admin/users/{username}`: read, replace (claims, and
//! the password when one is given — which revokes the user's refresh tokens, as `tessera
//! user set-password`), delete (revoking every token of the user). The password is hashed
//! with argon2id on the admin thread's blocking pool and never returned.

use super::{audit, blocking, reload_registry, reply, revoke, segment, Call};
use crate::http::{Method, Reply};
use crate::manage::directory::Directory;
use crate::manage::users::{self, UserRequest, UserView};
use crate::manage::Source;
use tessera_storage::store::{OwnedTokens, Owner};

pub async fn handle(call: Call<'_, '_>, rest: &str, body: &mut Vec<u8>) -> Reply {
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (call.req.method, parts.as_slice()) {
        (Method::Get | Method::Head, []) => list(call, body).await,
        (Method::Post, []) => create(call, body).await,
        (_, []) => super::not_allowed(body, "GET, HEAD, POST"),
        (method, [name]) => {
            let Some(name) = segment(name) else {
                return reply::error(
                    body,
                    400,
                    "invalid_request",
                    "the username in the path is not valid percent-encoded UTF-8",
                );
            };
            match method {
                Method::Get | Method::Head => read(call, name, body).await,
                Method::Put => replace(call, name, body).await,
                Method::Delete => delete(call, name, body).await,
                _ => super::not_allowed(body, "GET, HEAD, PUT, DELETE"),
            }
        }
        _ => reply::error(body, 404, "not_found", "no such path on the admin listener"),
    }
}

async fn list(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    let app = call.app.clone();
    let Some(result) =
        blocking(move || users::list(Directory::of(app.directory.as_ref()), &app.config)).await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(all) => {
            let views: Vec<UserView> = all.iter().map(|(u, s)| UserView::of(u, *s)).collect();
            reply::json(body, 200, &serde_json::json!({ "users": views }))
        }
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn read(call: Call<'_, '_>, name: String, body: &mut Vec<u8>) -> Reply {
    let app = call.app.clone();
    let Some(result) =
        blocking(move || users::get(Directory::of(app.directory.as_ref()), &app.config, &name))
            .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok((u, source)) => reply::json(body, 200, &UserView::of(&u, source)),
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn create(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    let request: UserRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let app = call.app.clone();
    let Some(result) = blocking(move || {
        let u = users::create(Directory::of(app.directory.as_ref()), &app.config, request)?;
        reload_registry(&app);
        Ok(u)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(u) => {
            audit(call, "create", "user", &u.username);
            reply::json(body, 201, &UserView::of(&u, Source::Store))
        }
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn replace(call: Call<'_, '_>, name: String, body: &mut Vec<u8>) -> Reply {
    let request: UserRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let app = call.app.clone();
    let Some(result) = blocking(move || {
        let done = users::replace(
            Directory::of(app.directory.as_ref()),
            &app.config,
            &name,
            request,
        )?;
        reload_registry(&app);
        Ok(done)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok((u, password_changed)) => {
            if password_changed {
                // RFC 6819 §5.2.2.3: a new password ends the refresh tokens (and logins)
                // the old one obtained.
                if let Err(f) = revoke::owned(
                    call.app,
                    Owner::User(&u.username),
                    OwnedTokens::RefreshGrants,
                )
                .await
                {
                    return f.into_reply(body);
                }
                audit(call, "set_password", "user", &u.username);
            } else {
                audit(call, "replace", "user", &u.username);
            }
            reply::json(body, 200, &UserView::of(&u, Source::Store))
        }
        Err(e) => reply::manage_error(body, &e),
    }
}

async fn delete(call: Call<'_, '_>, name: String, body: &mut Vec<u8>) -> Reply {
    let app = call.app.clone();
    let n = name.clone();
    let Some(result) = blocking(move || {
        let existed = users::remove(Directory::of(app.directory.as_ref()), &app.config, &n)?;
        reload_registry(&app);
        Ok(existed)
    })
    .await
    else {
        return reply::cancelled(body);
    };
    match result {
        Ok(existed) => match revoke::owned(call.app, Owner::User(&name), OwnedTokens::All).await {
            Ok(revoked) => {
                audit(call, "delete", "user", &name);
                tracing::info!(user = %name, revoked, "user removed through the admin API");
                if existed {
                    Reply::empty(204)
                } else {
                    reply::error(body, 404, "not_found", &format!("no user {name:?}"))
                }
            }
            Err(f) => f.into_reply(body),
        },
        Err(e) => reply::manage_error(body, &e),
    }
}
