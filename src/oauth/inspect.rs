//! Who may learn what about a token: the rules of the tokeninfo path and of RFC 7662
//! introspection. Plain predicates over a record and the caller.

use super::clients::Client;
use tessera_storage::{TokenKind, TokenRecord};

/// `tokeninfo` describes access tokens only (RFC 6750 bearer tokens); a refresh token
/// presented there is as invalid as an unknown one.
pub fn tokeninfo_shows(record: &TokenRecord) -> bool {
    record.kind == TokenKind::Access
}

/// RFC 7662 §2.1/§4: any authenticated confidential client may introspect access tokens
/// (it is a resource server); a refresh token only by the client it was issued to.
/// Everything else is `{"active":false}`, never a hint of why.
pub fn introspection_shows(record: &TokenRecord, caller: &Client) -> bool {
    record.kind == TokenKind::Access || record.client == caller.sym
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::World;
    use crate::oauth::types::GrantType;
    use tessera_storage::GrantId;

    fn record(w: &World, kind: TokenKind, client: &str) -> TokenRecord {
        TokenRecord {
            grant: GrantId::NONE,
            client: w.client_syms.intern(client),
            user: None,
            scope: w.scopes.intern("read"),
            meta: None,
            issued_at: 0,
            expires_at: 10,
            kind,
        }
    }

    #[test]
    fn tokeninfo_describes_access_tokens_only() {
        let w = World::new();
        assert!(tokeninfo_shows(&record(&w, TokenKind::Access, "app")));
        assert!(!tokeninfo_shows(&record(&w, TokenKind::Refresh, "app")));
    }

    #[test]
    fn rfc7662_access_tokens_for_any_caller_refresh_tokens_for_their_client_only() {
        let w = World::new();
        let rs = w.confidential(&[GrantType::ClientCredentials]);
        assert!(introspection_shows(
            &record(&w, TokenKind::Access, "someone"),
            &rs
        ));
        assert!(introspection_shows(
            &record(&w, TokenKind::Refresh, "app"),
            &rs
        ));
        assert!(!introspection_shows(
            &record(&w, TokenKind::Refresh, "someone"),
            &rs
        ));
    }
}
