//! Who may learn what about a token: the rules of the tokeninfo path and of RFC 7662
//! introspection. Plain predicates over a record, the registry and the caller.
//!
//! A token of a client that no longer exists is dead at once on a node that knows of the
//! removal, whatever the table still holds.

use super::clients::{Client, Clients};
use tessera_storage::{TokenKind, TokenRecord};

/// `tokeninfo` describes access tokens only (RFC 6750 bearer tokens) of existing clients;
/// anything else (a refresh token, a code, a session, a consent) is as invalid as an
/// unknown token.
pub fn tokeninfo_shows(record: &TokenRecord, clients: &Clients) -> bool {
    record.kind == TokenKind::Access && clients.by_sym(record.client).is_some()
}

/// RFC 7662 §2.1/§4: any authenticated confidential client may introspect access tokens
/// (it is a resource server); a refresh token only by the client it was issued to; no
/// token of a removed client. Everything else is `{"active":false}`, never a hint of why.
pub fn introspection_shows(record: &TokenRecord, caller: &Client, clients: &Clients) -> bool {
    let visible = match record.kind {
        TokenKind::Access => true,
        TokenKind::Refresh => caller.sym == { record.client },
        // A used refresh token is remembered only to recognise a replay; codes, sessions
        // and consents are no tokens: as inactive as an unknown one.
        TokenKind::Used | TokenKind::Code | TokenKind::Session | TokenKind::Consent => false,
    };
    visible && clients.by_sym(record.client).is_some()
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

    /// A registry of `app` (the caller) and `someone`.
    fn registry(w: &World) -> Clients {
        Clients::new(vec![
            w.confidential(&[GrantType::ClientCredentials]),
            w.client(
                "someone",
                crate::oauth::types::AuthMethod::ClientSecretBasic,
                &[],
            ),
        ])
    }

    #[test]
    fn tokeninfo_describes_access_tokens_only() {
        let w = World::new();
        let clients = registry(&w);
        assert!(tokeninfo_shows(
            &record(&w, TokenKind::Access, "app"),
            &clients
        ));
        assert!(!tokeninfo_shows(
            &record(&w, TokenKind::Refresh, "app"),
            &clients
        ));
    }

    #[test]
    fn rfc7662_access_tokens_for_any_caller_refresh_tokens_for_their_client_only() {
        let w = World::new();
        let clients = registry(&w);
        let rs = w.confidential(&[GrantType::ClientCredentials]);
        let shows = |kind, owner| introspection_shows(&record(&w, kind, owner), &rs, &clients);
        assert!(shows(TokenKind::Access, "someone"));
        assert!(shows(TokenKind::Refresh, "app"));
        assert!(!shows(TokenKind::Refresh, "someone"));
    }

    #[test]
    fn codes_sessions_and_consents_are_invalid_to_tokeninfo_and_inactive_to_introspection() {
        let w = World::new();
        let clients = registry(&w);
        let rs = w.confidential(&[GrantType::ClientCredentials]);
        for kind in [
            TokenKind::Used,
            TokenKind::Code,
            TokenKind::Session,
            TokenKind::Consent,
        ] {
            // Even presented by the client they name.
            let r = record(&w, kind, "app");
            assert!(!tokeninfo_shows(&r, &clients), "{kind:?}");
            assert!(!introspection_shows(&r, &rs, &clients), "{kind:?}");
        }
    }

    #[test]
    fn tokens_of_a_removed_client_are_dead_at_once() {
        let w = World::new();
        let rs = w.confidential(&[GrantType::ClientCredentials]);
        let before = registry(&w);
        let removed = record(&w, TokenKind::Access, "someone");
        assert!(tokeninfo_shows(&removed, &before));
        // The registry after `tessera client remove --id someone`.
        let after = Clients::new(vec![w.confidential(&[GrantType::ClientCredentials])]);
        assert!(!tokeninfo_shows(&removed, &after));
        assert!(!introspection_shows(&removed, &rs, &after));
    }
}
