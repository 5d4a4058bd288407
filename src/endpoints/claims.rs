//! OpenID Connect claims about the user: which of a user's configured claims a set of
//! granted scopes releases (OpenID Connect Core §5.4), and the signed ID token of a
//! response (§2, §3.1.3.6). Used by the authorize path, the code grant and userinfo.
//!
//! May touch: the user registry, the signing keys, the `oidc` module.

use super::Ctx;
use crate::oauth::authorize::Session;
use crate::oauth::clients::Client;
use crate::oauth::error::ErrorCode;
use crate::oauth::OAuthError;
use crate::oidc::id_token::{sign_id_token, IdTokenClaims};
use tessera_storage::Sym;

/// OpenID Connect Core §5.4: the claims each standard scope requests.
const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];
const EMAIL_CLAIMS: &[&str] = &["email", "email_verified"];
const ADDRESS_CLAIMS: &[&str] = &["address"];
const PHONE_CLAIMS: &[&str] = &["phone_number", "phone_number_verified"];

/// Whether `scope` (a granted, space-separated scope string) releases `claim`.
pub fn released(scope: &str, claim: &str) -> bool {
    scope.split(' ').any(|s| {
        let set: &[&str] = match s {
            "profile" => PROFILE_CLAIMS,
            "email" => EMAIL_CLAIMS,
            "address" => ADDRESS_CLAIMS,
            "phone" => PHONE_CLAIMS,
            _ => &[],
        };
        set.contains(&claim)
    })
}

/// `user`'s configured claims that `scope` releases, as owned pairs.
pub fn user_claims(ctx: Ctx<'_>, user: &str, scope: &str) -> Vec<(String, String)> {
    let users = ctx.app.users();
    let Some(u) = users.get(user) else {
        return Vec::new();
    };
    u.claims
        .iter()
        .filter(|(name, _)| released(scope, name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// The signed ID token for `session`'s user and `client`, valid for
/// `[oidc] id_token_ttl_secs`, with `nonce` and, when an access token goes with it, its
/// `at_hash`. The user's claims are in it only when no access token is issued
/// (`response_type=id_token`, OpenID Connect Core §5.4): otherwise userinfo has them.
///
/// Signed on the password-hash pool: an RSA signature costs ~0.3 ms of CPU, which would
/// stall every other connection of the worker.
pub async fn id_token(
    ctx: Ctx<'_>,
    client: &Client,
    session: Session,
    scope: Sym,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<String, OAuthError> {
    let app = ctx.app;
    let user = app.syms.users.resolve(session.user).unwrap_or_default();
    let scope = app.syms.scopes.resolve(scope).unwrap_or_default();
    let claims = if access_token.is_none() {
        user_claims(ctx, &user, &scope)
    } else {
        Vec::new()
    };
    let now = u64::from(ctx.now);
    let job = std::sync::Arc::new(SignJob {
        keys: app.signing_keys(),
        alg: client.id_token_alg,
        issuer: app.issuer().to_owned(),
        user: user.to_string(),
        client_id: client.id.to_string(),
        issued_at: now,
        expires_at: now + u64::from(app.config.oidc.id_token_ttl_secs),
        auth_time: u64::from(session.auth_time),
        nonce: nonce.map(str::to_owned),
        access_token: access_token.map(str::to_owned),
        claims,
    });
    let on_pool = std::sync::Arc::clone(&job);
    let signed = match app.passwords.run(move || on_pool.sign()).await {
        Ok(signed) => signed,
        // A saturated (or stopping) pool: sign here rather than fail a request whose code
        // or tokens are already used up.
        Err(_) => job.sign(),
    };
    signed.map_err(|e| {
        tracing::error!(error = %e, client = %client.id, "signing an ID token failed");
        OAuthError::new(ErrorCode::ServerError, "the ID token could not be signed")
    })
}

/// What an ID token says, owned, so a pool thread can sign it.
struct SignJob {
    keys: std::sync::Arc<crate::oidc::keys::KeySet>,
    alg: crate::oauth::types::SigningAlg,
    issuer: String,
    user: String,
    client_id: String,
    issued_at: u64,
    expires_at: u64,
    auth_time: u64,
    nonce: Option<String>,
    access_token: Option<String>,
    claims: Vec<(String, String)>,
}

/// It holds an access token (for `at_hash`): never printed.
impl std::fmt::Debug for SignJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignJob")
            .field("alg", &self.alg)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl SignJob {
    fn sign(&self) -> Result<String, crate::oidc::OidcError> {
        let pairs: Vec<(&str, &str)> = self
            .claims
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        sign_id_token(
            &self.keys,
            self.alg,
            &IdTokenClaims {
                issuer: &self.issuer,
                subject: &self.user,
                client_id: &self.client_id,
                issued_at: self.issued_at,
                expires_at: self.expires_at,
                auth_time: self.auth_time,
                nonce: self.nonce.as_deref(),
                access_token: self.access_token.as_deref(),
                user_claims: &pairs,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::released;

    #[test]
    fn openid_connect_5_4_scopes_release_their_claims_only() {
        assert!(released("openid profile", "name"));
        assert!(released("openid email", "email_verified"));
        assert!(!released("openid", "name"));
        assert!(!released("openid profile", "email"));
        assert!(!released("openid email", "password"));
    }
}
