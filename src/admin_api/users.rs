//! `/admin/users`: list and create; `/admin/users/{username}`: read, replace (claims, and
//! the password when one is given — which revokes the user's refresh tokens, as `tessera
//! user set-password`), delete (revoking every token of the user). The password is hashed
//! with argon2id on the admin thread's blocking pool and never returned.

use super::{audit, change_directory, read_directory, reply, revoke, segment, Call};
use crate::http::{Method, Reply};
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
    match read_directory(call, body, users::list).await {
        Ok(all) => {
            let views: Vec<UserView> = all.iter().map(|(u, s)| UserView::of(u, *s)).collect();
            reply::json(body, 200, &serde_json::json!({ "users": views }))
        }
        Err(reply) => reply,
    }
}

async fn read(call: Call<'_, '_>, name: String, body: &mut Vec<u8>) -> Reply {
    match read_directory(call, body, move |dir, config| {
        users::get(dir, config, &name)
    })
    .await
    {
        Ok((u, source)) => reply::json(body, 200, &UserView::of(&u, source)),
        Err(reply) => reply,
    }
}

async fn create(call: Call<'_, '_>, body: &mut Vec<u8>) -> Reply {
    let request: UserRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    match change_directory(call, body, move |dir, config| {
        users::create(dir, config, request)
    })
    .await
    {
        Ok(u) => {
            audit(call, "create", "user", &u.username);
            reply::json(body, 201, &UserView::of(&u, Source::Store))
        }
        Err(reply) => reply,
    }
}

async fn replace(call: Call<'_, '_>, name: String, body: &mut Vec<u8>) -> Reply {
    let request: UserRequest = match reply::read(call.req, body) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let (u, password_changed) = match change_directory(call, body, move |dir, config| {
        users::replace(dir, config, &name, request)
    })
    .await
    {
        Ok(done) => done,
        Err(reply) => return reply,
    };
    if password_changed {
        // RFC 6819 §5.2.2.3: a new password ends the refresh tokens (and logins) the old
        // one obtained.
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

async fn delete(call: Call<'_, '_>, name: String, body: &mut Vec<u8>) -> Reply {
    let n = name.clone();
    let existed = match change_directory(call, body, move |dir, config| {
        users::remove(dir, config, &n)
    })
    .await
    {
        Ok(existed) => existed,
        Err(reply) => return reply,
    };
    match revoke::owned(call.app, Owner::User(&name), OwnedTokens::All).await {
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
    }
}
