//! The OpenID Connect and OAuth metadata: `GET /.well-known/openid-configuration`
//! (OpenID Connect Discovery 1.0 §4), `GET /.well-known/oauth-authorization-server`
//! (RFC 8414 §3) and `GET /api/oauth/jwks`, the public signing keys (RFC 7517 §5). The
//! documents are built once at start-up; the key set is the current one (a rotation
//! elsewhere in the cluster reaches it through the cluster thread).

use super::Ctx;
use crate::http::Reply;

pub fn openid_configuration(ctx: Ctx<'_>, body: &mut Vec<u8>) -> Reply {
    body.extend_from_slice(ctx.app.discovery.openid_configuration.as_bytes());
    Reply::json(200)
}

pub fn authorization_server(ctx: Ctx<'_>, body: &mut Vec<u8>) -> Reply {
    body.extend_from_slice(ctx.app.discovery.authorization_server.as_bytes());
    Reply::json(200)
}

/// Keys past their retirement (every ID token they signed has expired) are left out, also
/// before the next restart or rotation prunes them from the store.
pub fn jwks(ctx: Ctx<'_>, body: &mut Vec<u8>) -> Reply {
    let mut keys = (*ctx.app.signing_keys()).clone();
    keys.prune(u64::from(ctx.now));
    body.extend_from_slice(crate::oidc::jwks::jwks_json(&keys).as_bytes());
    Reply::json(200)
}
