//! Implicit grant (RFC 6749 §4.2): an access token straight from the authorization
//! endpoint, in the fragment. Only for clients whose configuration lists `implicit` (RFC
//! 9700 §2.1.2 advises against it), and never with a refresh token (§4.2.2).

use crate::oauth::clients::Client;
use crate::oauth::issue::{mint_access, Claims, Issued};
use crate::oauth::tokens::TokenOps;
use tessera_storage::{GrantId, Sym};

/// An access token for `user`, with no grant to refresh or cascade from.
pub fn issue<O: TokenOps + ?Sized>(
    ops: &mut O,
    client: &Client,
    user: Sym,
    scope: Sym,
    now: u32,
) -> Issued {
    let t = client.tokens;
    let access = mint_access(
        ops,
        Claims::new(client, Some(user), scope, GrantId::NONE),
        &t,
        now,
    );
    Issued::new(access, &t, None, scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grants::testing::*;
    use crate::oauth::types::GrantType;
    use tessera_storage::{TokenKey, TokenKind};

    #[test]
    fn rfc6749_4_2_2_an_access_token_and_never_a_refresh_token() {
        let mut w = World::new();
        let c = w.confidential(&[GrantType::Implicit, GrantType::RefreshToken]);
        let scope = w.scopes.intern("read");
        let alice = w.user("alice");
        let issued = issue(&mut w.ops, &c, alice, scope, NOW);
        assert!(issued.refresh.is_none());
        assert_eq!(issued.expires_in, 3600);
        let r = w
            .ops
            .lookup(&TokenKey::of(issued.access.as_bytes()), NOW)
            .expect("stored");
        assert_eq!((r.kind, r.user), (TokenKind::Access, Some(alice)));
    }
}
