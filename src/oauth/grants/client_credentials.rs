//! Client credentials grant (RFC 6749 §4.4): a confidential client asks for a token for
//! itself. No refresh token is issued (§4.4.3).

use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, Claims, Issued};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::tokens::TokenOps;
use tessera_storage::{GrantId, Interner};

pub fn grant<O: TokenOps + ?Sized>(
    ops: &mut O,
    scopes: &Interner,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    // §4.4: "MUST only be used by confidential clients" (config validation also refuses it).
    if client.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials",
        ));
    }
    let scope = scope::for_client(scopes, client, params.scope.as_deref())?;
    let t = client.tokens;
    let access = mint_access(
        ops,
        Claims::new(client, None, scope, GrantId::NONE),
        &t,
        now,
    );
    Ok(Issued::new(access, &t, None, scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::*;
    use crate::oauth::tokens::memory::Op;
    use crate::oauth::types::GrantType;
    use tessera_storage::{TokenKey, TokenKind};

    #[test]
    fn rfc6749_4_4_3_issues_an_access_token_with_the_client_defaults_and_no_refresh_token() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::ClientCredentials]);
        let issued = grant(&mut w.ops, &w.scopes, &c, &params(""), NOW).expect("issued");
        assert!(issued.refresh.is_none());
        assert_eq!(issued.expires_in, 3600);
        assert_eq!(issued.access.as_str().len(), 54);
        assert_eq!(w.scope(issued.scope), "read write admin");
        let record = w
            .ops
            .lookup(&TokenKey::of(issued.access.as_bytes()), NOW)
            .expect("stored under its hash");
        assert_eq!(record.kind, TokenKind::Access);
        assert_eq!({ record.client }, c.sym);
        assert_eq!({ record.user }, None);
        assert!({ record.grant }.is_none());
        assert_eq!({ record.expires_at }, NOW + 3600);
        assert_eq!(w.ops.log.len(), 1);
        assert!(matches!(w.ops.log[0], Op::Insert(_)));
    }

    #[test]
    fn rfc6749_3_3_requested_scope_is_narrowed_to_the_request() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::ClientCredentials]);
        let issued =
            grant(&mut w.ops, &w.scopes, &c, &params("scope=admin+read"), NOW).expect("issued");
        assert_eq!(w.scope(issued.scope), "read admin");
    }

    #[test]
    fn rfc6749_5_2_scope_beyond_the_client_is_invalid_scope_and_mints_nothing() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::ClientCredentials]);
        let e = grant(&mut w.ops, &w.scopes, &c, &params("scope=read+delete"), NOW)
            .expect_err("refused");
        assert_eq!(e.code.as_str(), "invalid_scope");
        assert!(w.ops.log.is_empty());
    }

    #[test]
    fn rfc6749_4_4_public_clients_are_unauthorized() {
        let mut w = World::new();
        let c = w.public(&[GrantType::ClientCredentials]);
        let e = grant(&mut w.ops, &w.scopes, &c, &params(""), NOW).expect_err("refused");
        assert_eq!(e.code.as_str(), "unauthorized_client");
        assert!(w.ops.log.is_empty());
    }

    #[test]
    fn per_client_token_settings_set_length_and_lifetime() {
        let mut w = World::new();
        let mut c = w.confidential(&[GrantType::ClientCredentials]);
        c.tokens.access_length = 22;
        c.tokens.access_ttl = 60;
        let issued = grant(&mut w.ops, &w.scopes, &c, &params(""), NOW).expect("issued");
        assert_eq!(issued.access.as_str().len(), 22);
        assert_eq!(issued.expires_in, 60);
    }
}
