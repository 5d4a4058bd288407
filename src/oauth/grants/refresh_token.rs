//! Refresh token grant (RFC 6749 §6) with the three refresh policies:
//! - `rotate`: a new access and refresh token; the presented refresh token is used up.
//!   Of two concurrent refreshes with one token exactly one succeeds (RFC 9700 §4.14.2).
//! - `none`: a new access token only; the presented refresh token is used up.
//! - `preserve`: a new access token; the presented refresh token stays valid and is returned.
//!
//! The new tokens carry the grant's user, metadata and scope (or a narrower scope the
//! client asks for; never a wider one). New access tokens join the grant, so revoking the
//! grant's refresh token later revokes them too; if the grant is revoked while this request
//! runs, what it minted is removed again and the request fails.

use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issue::{mint_access, mint_refresh, Claims, Issued, RefreshOut};
use crate::oauth::params::Params;
use crate::oauth::scope;
use crate::oauth::tokens::TokenOps;
use crate::oauth::types::RefreshPolicy;
use tessera_storage::{GrantId, Interner, Sym, TokenKey, TokenKind, TokenRecord};

const GONE: &str = "refresh token is invalid, expired or revoked";

/// The endpoint has already fetched the presented token into this node's table when the
/// store is shared (a read-through), so `ops.lookup` sees tokens other nodes issued.
/// A refresh request that passed every check and may now use the token: with a shared
/// store, the endpoint claims the use cluster-wide ([`Checked::single_use`]) between
/// [`check`] and [`issue`], so a request that fails a check never uses the token up.
#[derive(Debug)]
pub struct Checked<'p> {
    pub key: TokenKey,
    pub record: TokenRecord,
    /// The token as presented (returned as is under `preserve`).
    presented: &'p str,
    scope: Sym,
}

impl Checked<'_> {
    /// Whether this refresh uses the token up (`rotate`, `none`), so its use must be single
    /// across the cluster.
    pub fn single_use(&self, client: &Client) -> bool {
        client.tokens.refresh_policy != RefreshPolicy::Preserve
    }
}

/// The grant to revoke when the presented token's key holds `record`, a refresh token of
/// `client` that was already used: a replay (RFC 9700 §4.14.2), by a thief or a client
/// that kept an old token. `None` for anything else (which [`check`] then refuses or
/// accepts on its own terms).
///
/// A used marker without a grant is not a refresh token's (an assertion's `jti`, see
/// `oauth::once`): a presented string that hashes to one is just an invalid token.
pub fn replay_of(record: &TokenRecord, client: &Client) -> Option<GrantId> {
    (record.kind == TokenKind::Used
        && { record.client } == client.sym
        && !{ record.grant }.is_none())
    .then_some(record.grant)
}

/// The whole grant: [`check`], then [`issue`] (a single node needs no claim in between:
/// the table's consume is the single use).
pub fn grant<O: TokenOps + ?Sized>(
    ops: &mut O,
    scopes: &Interner,
    client: &Client,
    params: &Params<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let checked = check(ops, scopes, client, params, now)?;
    issue(ops, client, checked, now)
}

/// Every rule of the request: the token is a live refresh token of this client, and the
/// scope asked for is within the grant's.
pub fn check<'p, O: TokenOps + ?Sized>(
    ops: &O,
    scopes: &Interner,
    client: &Client,
    params: &'p Params<'p>,
    now: u32,
) -> Result<Checked<'p>, OAuthError> {
    let presented = Params::required(&params.refresh_token, "refresh_token")?;
    let key = TokenKey::of(presented.as_bytes());
    let record = ops
        .lookup(&key, now)
        .filter(|r| r.kind == TokenKind::Refresh)
        .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
    if { record.client } != client.sym {
        return Err(OAuthError::invalid_grant(
            "refresh token was issued to another client",
        ));
    }
    let scope = scope::narrow(scopes, record.scope, params.scope.as_deref())?;
    Ok(Checked {
        key,
        record,
        presented,
        scope,
    })
}

/// Issues the new tokens under the client's refresh policy, using the token up unless the
/// policy is `preserve`.
pub fn issue<O: TokenOps + ?Sized>(
    ops: &mut O,
    client: &Client,
    checked: Checked<'_>,
    now: u32,
) -> Result<Issued, OAuthError> {
    let Checked {
        key,
        record,
        presented,
        scope,
    } = checked;
    let claims = Claims {
        scope,
        ..Claims::of(&record)
    };
    let t = client.tokens;
    // Consumed only if it is still the token looked at above: the same client and grant.
    let (client_sym, grant_id) = (record.client, record.grant);
    let same_grant = |r: &TokenRecord| {
        let (kind, owner, grant) = (r.kind, r.client, r.grant);
        kind == TokenKind::Refresh && owner == client_sym && grant == grant_id
    };

    match t.refresh_policy {
        RefreshPolicy::Rotate => {
            ops.consume_if(&key, now, &same_grant)
                .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
            // The new refresh token keeps the grant's original scope (§6: "identical to
            // that of the refresh token included by the client"), so a narrowed refresh
            // does not shrink what later refreshes may ask for.
            let refresh = mint_refresh(
                ops,
                Claims {
                    scope: record.scope,
                    ..claims
                },
                &t,
                now,
            );
            let access = mint_access(ops, claims, &t, now);
            if !ops.join_grant(record.grant, access.link(), Some(refresh.key), now) {
                ops.discard(&refresh.key);
                ops.discard(&access.key);
                return Err(OAuthError::invalid_grant(GONE));
            }
            Ok(Issued::new(
                access,
                &t,
                Some(RefreshOut::New(refresh.token)),
                scope,
            ))
        }
        RefreshPolicy::None => {
            ops.consume_if(&key, now, &same_grant)
                .ok_or_else(|| OAuthError::invalid_grant(GONE))?;
            // The grant has no refresh token left to revoke it by; its links can go.
            ops.close_grant(record.grant);
            let access = mint_access(
                ops,
                Claims {
                    grant: GrantId::NONE,
                    ..claims
                },
                &t,
                now,
            );
            Ok(Issued::new(access, &t, None, scope))
        }
        RefreshPolicy::Preserve => {
            let access = mint_access(ops, claims, &t, now);
            if !ops.join_grant(record.grant, access.link(), None, now) {
                ops.discard(&access.key);
                return Err(OAuthError::invalid_grant(GONE));
            }
            Ok(Issued::new(
                access,
                &t,
                Some(RefreshOut::Same(presented.to_owned())),
                scope,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::clients::Client;
    use crate::oauth::grants::password;
    use crate::oauth::grants::testing::*;
    use crate::oauth::tokens::memory::Op;
    use crate::oauth::types::GrantType;
    use tessera_storage::RevokeOutcome;

    /// A client with `policy` and a fresh password grant for alice: (client, refresh
    /// token, access token key).
    fn granted(w: &mut World, policy: RefreshPolicy) -> (Client, String, TokenKey) {
        let mut c = w.confidential(&[GrantType::Password, GrantType::RefreshToken]);
        c.tokens.refresh_policy = policy;
        let scope = w.scopes.intern("read write");
        let alice = w.user("alice");
        let issued = password::grant(&mut w.ops, &c, scope, Some(alice), NOW).expect("grant");
        let refresh = issued.refresh.expect("refresh").as_str().to_owned();
        w.ops.log.clear();
        (c, refresh, TokenKey::of(issued.access.as_bytes()))
    }

    fn refresh(
        w: &mut World,
        c: &Client,
        token: &str,
        extra: &str,
        now: u32,
    ) -> Result<Issued, OAuthError> {
        let p = params_of(format!("refresh_token={token}{extra}"));
        grant(&mut w.ops, &w.scopes, c, &p, now)
    }

    fn key(s: &str) -> TokenKey {
        TokenKey::of(s.as_bytes())
    }

    #[test]
    fn rotate_issues_a_new_pair_and_uses_up_the_presented_refresh_token() {
        let mut w = World::new();
        let (c, old, first_access) = granted(&mut w, RefreshPolicy::Rotate);
        let issued = refresh(&mut w, &c, &old, "", NOW + 10).expect("rotated");
        let Some(RefreshOut::New(new)) = &issued.refresh else {
            panic!("a new refresh token");
        };
        assert_ne!(new.as_str(), old);
        // Used up: its key holds only the memory of its use, for replay detection.
        let used = w.ops.lookup(&key(&old), NOW + 10).expect("remembered");
        assert_eq!(used.kind, TokenKind::Used, "old one used up");
        assert_eq!(replay_of(&used, &c), Some(used.grant));
        assert_eq!(w.ops.log[0], Op::Consume(key(&old)));
        let new_record = w.ops.lookup(&key(new.as_str()), NOW + 10).expect("new");
        let access = w
            .ops
            .lookup(&TokenKey::of(issued.access.as_bytes()), NOW + 10)
            .expect("access");
        assert_eq!({ new_record.grant }, { access.grant }, "same grant");
        assert_eq!({ new_record.user }, Some(w.user("alice")));
        assert_eq!({ new_record.expires_at }, NOW + 10 + 43_200);
        let g = w.ops.table.grant(access.grant).expect("grant");
        assert_eq!(g.refresh, Some(key(new.as_str())));
        assert!(g.access.iter().any(|(k, _)| *k == first_access));
        // RFC 7009 §2.1: revoking the current refresh token takes the grant's access tokens.
        let outcome = w.ops.revoke(&key(new.as_str()), c.sym, NOW + 11);
        assert!(matches!(
            outcome,
            RevokeOutcome::Revoked { cascaded: 2, .. }
        ));
        assert!(w.ops.lookup(&first_access, NOW + 11).is_none());
    }

    #[test]
    fn rfc9700_4_14_2_a_used_token_is_a_replay_for_its_client_only_until_it_would_have_expired() {
        let mut w = World::new();
        let (c, old, _) = granted(&mut w, RefreshPolicy::Rotate);
        let grant = w.ops.lookup(&key(&old), NOW).expect("live").grant;
        refresh(&mut w, &c, &old, "", NOW).expect("first use");
        let used = w.ops.lookup(&key(&old), NOW).expect("remembered");
        assert_eq!(replay_of(&used, &c), Some(grant));
        let other = w.client(
            "other",
            crate::oauth::types::AuthMethod::ClientSecretBasic,
            &[GrantType::RefreshToken],
        );
        assert_eq!(replay_of(&used, &other), None, "another client's token");
        // Remembered exactly as long as the token would have lived.
        assert!(w.ops.lookup(&key(&old), NOW + 43_199).is_some());
        assert!(w.ops.lookup(&key(&old), NOW + 43_200).is_none());
        // A live refresh token is no replay.
        let (c2, live, _) = granted(&mut w, RefreshPolicy::Rotate);
        let r = w.ops.lookup(&key(&live), NOW).expect("live");
        assert_eq!(replay_of(&r, &c2), None);
    }

    #[test]
    fn rfc9700_4_14_2_a_rotated_refresh_token_cannot_be_used_again() {
        let mut w = World::new();
        let (c, old, _) = granted(&mut w, RefreshPolicy::Rotate);
        refresh(&mut w, &c, &old, "", NOW).expect("first use");
        let e = refresh(&mut w, &c, &old, "", NOW).expect_err("second use");
        assert_eq!(e.code.as_str(), "invalid_grant");
    }

    #[test]
    fn none_policy_issues_an_access_token_only_and_closes_the_grant() {
        let mut w = World::new();
        let (c, old, first_access) = granted(&mut w, RefreshPolicy::None);
        let grant_id = w.ops.lookup(&key(&old), NOW).expect("live").grant;
        let issued = refresh(&mut w, &c, &old, "", NOW).expect("refreshed");
        assert!(issued.refresh.is_none());
        let used = w.ops.lookup(&key(&old), NOW).expect("remembered");
        assert_eq!(used.kind, TokenKind::Used, "used up");
        assert!(w.ops.table.grant(grant_id).is_none(), "grant closed");
        assert!(w.ops.log.contains(&Op::CloseGrant(grant_id)));
        let access = w
            .ops
            .lookup(&TokenKey::of(issued.access.as_bytes()), NOW)
            .expect("access");
        assert!({ access.grant }.is_none());
        assert!(
            w.ops.lookup(&first_access, NOW).is_some(),
            "earlier access tokens live out their lifetime"
        );
        let e = refresh(&mut w, &c, &old, "", NOW).expect_err("used up");
        assert_eq!(e.code.as_str(), "invalid_grant");
    }

    #[test]
    fn preserve_returns_the_same_refresh_token_which_stays_valid() {
        let mut w = World::new();
        let (c, old, _) = granted(&mut w, RefreshPolicy::Preserve);
        for i in 0..3 {
            let issued = refresh(&mut w, &c, &old, "", NOW + i).expect("refreshed");
            let Some(RefreshOut::Same(same)) = &issued.refresh else {
                panic!("the same refresh token");
            };
            assert_eq!(same, &old);
        }
        let r = w.ops.lookup(&key(&old), NOW).expect("still valid");
        let g = w.ops.table.grant(r.grant).expect("grant");
        assert_eq!(g.access.len(), 4, "every access token joined the grant");
        assert!(!w.ops.log.iter().any(|op| matches!(op, Op::Consume(_))));
    }

    #[test]
    fn rfc6749_6_scope_may_narrow_and_rotation_keeps_the_original_scope() {
        let mut w = World::new();
        let (c, old, _) = granted(&mut w, RefreshPolicy::Rotate);
        let issued = refresh(&mut w, &c, &old, "&scope=read", NOW).expect("narrowed");
        assert_eq!(w.scope(issued.scope), "read");
        let Some(RefreshOut::New(new)) = &issued.refresh else {
            panic!("rotated");
        };
        let r = w.ops.lookup(&key(new.as_str()), NOW).expect("new refresh");
        assert_eq!(w.scope(r.scope), "read write");
        let again = refresh(&mut w, &c, new.as_str(), "&scope=write", NOW).expect("again");
        assert_eq!(w.scope(again.scope), "write");
    }

    #[test]
    fn rfc6749_6_a_wider_scope_is_invalid_scope_and_uses_nothing_up() {
        let mut w = World::new();
        let (c, old, _) = granted(&mut w, RefreshPolicy::Rotate);
        let e = refresh(&mut w, &c, &old, "&scope=read+admin", NOW).expect_err("wider");
        assert_eq!(e.code.as_str(), "invalid_scope");
        assert!(w.ops.log.is_empty());
        assert!(w.ops.lookup(&key(&old), NOW).is_some());
    }

    #[test]
    fn rfc6749_5_2_another_clients_refresh_token_is_invalid_grant_and_stays_valid() {
        let mut w = World::new();
        let (_, old, _) = granted(&mut w, RefreshPolicy::Rotate);
        let thief = w.client(
            "thief",
            crate::oauth::types::AuthMethod::ClientSecretBasic,
            &[GrantType::RefreshToken],
        );
        let e = refresh(&mut w, &thief, &old, "", NOW).expect_err("not theirs");
        assert_eq!(e.code.as_str(), "invalid_grant");
        assert!(w.ops.log.is_empty());
        assert!(w.ops.lookup(&key(&old), NOW).is_some());
    }

    #[test]
    fn rfc6749_5_2_expired_unknown_and_access_tokens_are_invalid_grant() {
        let mut w = World::new();
        let (c, old, access) = granted(&mut w, RefreshPolicy::Rotate);
        let e = refresh(&mut w, &c, &old, "", NOW + 43_200).expect_err("expired");
        assert_eq!(e.code.as_str(), "invalid_grant");
        let e = refresh(&mut w, &c, "made-up-token", "", NOW).expect_err("unknown");
        assert_eq!(e.code.as_str(), "invalid_grant");
        // An access token is no refresh token, even when its key is presented.
        let record = w.ops.lookup(&access, NOW).expect("access");
        assert_eq!(record.kind, TokenKind::Access);
        let p = params("grant_type=refresh_token");
        let e = grant(&mut w.ops, &w.scopes, &c, &p, NOW).expect_err("missing");
        assert_eq!(e.code.as_str(), "invalid_request");
        assert!(w.ops.log.is_empty());
    }

    #[test]
    fn rfc6749_5_2_codes_sessions_and_consents_are_invalid_grant_and_stay() {
        let mut w = World::new();
        let (c, _, _) = granted(&mut w, RefreshPolicy::Rotate);
        for kind in [TokenKind::Code, TokenKind::Session, TokenKind::Consent] {
            let presented = format!("{kind:?}-value");
            // Of this client, with a grant, like a refresh token in every other respect.
            let record = TokenRecord {
                kind,
                grant: GrantId(99),
                client: c.sym,
                user: Some(w.user("alice")),
                scope: w.scopes.intern("read"),
                meta: None,
                issued_at: NOW,
                expires_at: NOW + 600,
            };
            w.ops.table.insert(key(&presented), record);
            let e = refresh(&mut w, &c, &presented, "", NOW).expect_err("not a refresh token");
            assert_eq!(e.code.as_str(), "invalid_grant", "{kind:?}");
            assert_eq!(replay_of(&record, &c), None, "{kind:?} is no replay");
            assert_eq!(
                w.ops.lookup(&key(&presented), NOW),
                Some(record),
                "{kind:?}"
            );
        }
        assert!(w.ops.log.is_empty());
    }

    #[test]
    fn a_grant_revoked_during_the_refresh_discards_what_was_minted() {
        for policy in [RefreshPolicy::Rotate, RefreshPolicy::Preserve] {
            let mut w = World::new();
            let (c, old, _) = granted(&mut w, policy);
            let grant_id = w.ops.lookup(&key(&old), NOW).expect("live").grant;
            // Another node's revocation removed the grant; its refresh record is not gone yet.
            w.ops.table.close_grant(grant_id);
            let e = refresh(&mut w, &c, &old, "", NOW).expect_err("revoked");
            assert_eq!(e.code.as_str(), "invalid_grant", "{policy:?}");
            let minted: Vec<_> = w
                .ops
                .log
                .iter()
                .filter_map(|op| match op {
                    Op::Insert(k) => Some(*k),
                    _ => None,
                })
                .collect();
            assert!(!minted.is_empty());
            for k in minted {
                assert!(w.ops.log.contains(&Op::Discard(k)), "{policy:?}");
                assert!(w.ops.lookup(&k, NOW).is_none(), "{policy:?}");
            }
        }
    }

    #[test]
    fn refreshed_tokens_carry_the_grant_user_and_metadata_forward() {
        let mut w = World::new();
        let mut c = w.confidential(&[GrantType::Password, GrantType::RefreshToken]);
        c.meta = Some(w.scopes.intern(r#"{"dept":"eng"}"#));
        let alice = w.user("alice");
        let issued =
            password::grant(&mut w.ops, &c, c.default_scope, Some(alice), NOW).expect("grant");
        let old = issued.refresh.expect("refresh").as_str().to_owned();
        // The client's metadata changes later; the grant keeps what it was issued with.
        c.meta = None;
        let next = refresh(&mut w, &c, &old, "", NOW).expect("rotated");
        let a = w
            .ops
            .lookup(&TokenKey::of(next.access.as_bytes()), NOW)
            .expect("access");
        assert_eq!({ a.user }, Some(alice));
        assert!({ a.meta }.is_some());
    }
}
