//! The storage conformance suite: the behaviour every [`Store`] backend must show.
//!
//! Each check takes a fresh, empty store. Backends run the whole suite with
//! [`run_all`] from their own tests (memory and RocksDB in this crate; later backends
//! against their real servers), so "passes the suite" means the same thing everywhere.

use crate::key::TokenKey;
use crate::record::{GrantId, TokenKind};
use crate::store::{KeyRange, Mutation, Store, StoredToken, Token};
use std::sync::Arc;

pub const NOW: u32 = 1_800_000_000;

/// What an authorization code's `meta` holds: JSON with escaped quotes and backslashes,
/// and non-ASCII text.
pub const CODE_META: &str = r#"{"redirect_uri":"https://app.example/cb?q=\"x\"&p=a\\b","code_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","code_challenge_method":"S256","nonce":"ñøñçé ✓ 🎉","auth_time":1700000000}"#;

/// A named check over a fresh store.
pub type Check = (&'static str, fn(&dyn Store));

pub const CHECKS: &[Check] = &[
    (
        "put_then_get_returns_every_field",
        put_then_get_returns_every_field,
    ),
    ("get_of_unknown_key_is_none", get_of_unknown_key_is_none),
    (
        "expired_token_is_not_returned",
        expired_token_is_not_returned,
    ),
    (
        "delete_removes_only_that_token",
        delete_removes_only_that_token,
    ),
    (
        "delete_grant_cascades_to_every_token_of_the_grant",
        delete_grant_cascades_to_every_token_of_the_grant,
    ),
    (
        "delete_grant_covers_puts_earlier_in_the_same_batch",
        delete_grant_covers_puts_earlier_in_the_same_batch,
    ),
    ("batch_is_applied_in_order", batch_is_applied_in_order),
    (
        "scan_live_skips_expired_and_deleted",
        scan_live_skips_expired_and_deleted,
    ),
    (
        "scan_live_range_visits_each_live_key_in_exactly_its_range",
        scan_live_range_visits_each_live_key_in_exactly_its_range,
    ),
    (
        "purge_deletes_expired_tokens_in_bounded_batches",
        purge_deletes_expired_tokens_in_bounded_batches,
    ),
    (
        "durable_apply_is_readable_at_once",
        durable_apply_is_readable_at_once,
    ),
    (
        "codes_sessions_and_consents_round_trip",
        codes_sessions_and_consents_round_trip,
    ),
    (
        "purge_deletes_expired_codes_sessions_and_consents_like_tokens",
        purge_deletes_expired_codes_sessions_and_consents_like_tokens,
    ),
    ("absent_setting_is_none", absent_setting_is_none),
    (
        "setting_cas_from_absent_wins_once",
        setting_cas_from_absent_wins_once,
    ),
    (
        "setting_cas_with_a_wrong_expected_value_is_refused",
        setting_cas_with_a_wrong_expected_value_is_refused,
    ),
    (
        "setting_cas_with_the_current_value_overwrites",
        setting_cas_with_the_current_value_overwrites,
    ),
];

/// Runs every check, each on a store from `fresh`. Panics naming the failing check.
pub fn run_all(fresh: &mut dyn FnMut() -> Box<dyn Store>) {
    for (name, check) in CHECKS {
        let store = fresh();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(store.as_ref())));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!(
                "{} store fails conformance check `{name}`: {msg}",
                store.name()
            );
        }
    }
}

/// Runs `cas` on one thread per store (each store as a node of its own would have it),
/// released together; returns the indexes of the threads for which `cas` returned `true`.
/// For the races shared stores must decide exactly once (a compare-and-set, a claim).
pub fn race<S, F>(stores: &[Arc<S>], cas: F) -> Vec<usize>
where
    S: Send + Sync + 'static,
    F: Fn(&S, usize) -> bool + Send + Sync + 'static,
{
    let cas = Arc::new(cas);
    let start = Arc::new(std::sync::Barrier::new(stores.len()));
    let threads: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let (store, start, cas) = (Arc::clone(store), Arc::clone(&start), Arc::clone(&cas));
            std::thread::spawn(move || {
                start.wait();
                cas(&store, i)
            })
        })
        .collect();
    threads
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| t.join().expect("thread").then_some(i))
        .collect()
}

pub fn key(name: &str) -> TokenKey {
    TokenKey::of(name.as_bytes())
}

pub fn token(kind: TokenKind, grant: u64, ttl: u32) -> StoredToken {
    Token {
        kind,
        grant: GrantId(grant),
        client: Arc::from("svc-a"),
        user: None,
        scope: Arc::from("read"),
        meta: None,
        issued_at: NOW,
        expires_at: NOW + ttl,
    }
}

fn put(store: &dyn Store, name: &str, t: StoredToken) {
    store
        .apply(
            &[Mutation::Put {
                key: key(name),
                token: t,
            }],
            false,
        )
        .unwrap_or_else(|e| panic!("put {name}: {e}"));
}

fn get(store: &dyn Store, name: &str, now: u32) -> Option<StoredToken> {
    store
        .get(&key(name), now)
        .unwrap_or_else(|e| panic!("get {name}: {e}"))
}

fn put_then_get_returns_every_field(store: &dyn Store) {
    let full = Token {
        user: Some(Arc::from("ålice")),
        meta: Some(Arc::from(r#"{"department":"Engineering"}"#)),
        scope: Arc::from("read write"),
        ..token(TokenKind::Refresh, 42, 600)
    };
    put(store, "full", full.clone());
    put(store, "bare", token(TokenKind::Access, 0, 60));
    assert_eq!(get(store, "full", NOW), Some(full));
    assert_eq!(
        get(store, "bare", NOW),
        Some(token(TokenKind::Access, 0, 60))
    );
}

fn get_of_unknown_key_is_none(store: &dyn Store) {
    assert_eq!(get(store, "nothing", NOW), None);
}

fn expired_token_is_not_returned(store: &dyn Store) {
    put(store, "t", token(TokenKind::Access, 0, 60));
    assert!(get(store, "t", NOW + 59).is_some());
    assert_eq!(get(store, "t", NOW + 60), None);
}

fn delete_removes_only_that_token(store: &dyn Store) {
    put(store, "a", token(TokenKind::Access, 0, 60));
    put(store, "b", token(TokenKind::Access, 0, 60));
    store
        .apply(
            &[Mutation::Delete {
                key: key("a"),
                issued_at: NOW,
            }],
            false,
        )
        .expect("delete");
    assert_eq!(get(store, "a", NOW), None);
    assert!(get(store, "b", NOW).is_some());
    // Deleting what is not there is not an error.
    store
        .apply(
            &[Mutation::Delete {
                key: key("zz"),
                issued_at: NOW,
            }],
            false,
        )
        .expect("delete missing");
}

fn delete_grant_cascades_to_every_token_of_the_grant(store: &dyn Store) {
    put(store, "r", token(TokenKind::Refresh, 7, 600));
    put(store, "a1", token(TokenKind::Access, 7, 60));
    put(store, "a2", token(TokenKind::Access, 7, 60));
    put(store, "other", token(TokenKind::Access, 8, 60));
    let mut in_grant = store.grant_tokens(GrantId(7), NOW).expect("grant_tokens");
    in_grant.sort();
    let mut expected = vec![key("r"), key("a1"), key("a2")];
    expected.sort();
    assert_eq!(in_grant, expected);
    store
        .apply(
            &[
                Mutation::Delete {
                    key: key("r"),
                    issued_at: NOW,
                },
                Mutation::DeleteGrant { grant: GrantId(7) },
            ],
            false,
        )
        .expect("revoke");
    for gone in ["r", "a1", "a2"] {
        assert_eq!(get(store, gone, NOW), None, "{gone} survived the cascade");
    }
    assert!(get(store, "other", NOW).is_some());
    assert!(store
        .grant_tokens(GrantId(7), NOW)
        .expect("grant_tokens")
        .is_empty());
}

fn delete_grant_covers_puts_earlier_in_the_same_batch(store: &dyn Store) {
    put(store, "r", token(TokenKind::Refresh, 9, 600));
    store
        .apply(
            &[
                Mutation::Put {
                    key: key("late"),
                    token: token(TokenKind::Access, 9, 60),
                },
                Mutation::DeleteGrant { grant: GrantId(9) },
            ],
            false,
        )
        .expect("batch");
    assert_eq!(get(store, "late", NOW), None);
    assert_eq!(get(store, "r", NOW), None);
}

fn batch_is_applied_in_order(store: &dyn Store) {
    store
        .apply(
            &[
                Mutation::Put {
                    key: key("x"),
                    token: token(TokenKind::Access, 0, 60),
                },
                Mutation::Delete {
                    key: key("x"),
                    issued_at: NOW,
                },
                Mutation::Put {
                    key: key("y"),
                    token: token(TokenKind::Access, 0, 60),
                },
            ],
            false,
        )
        .expect("batch");
    assert_eq!(get(store, "x", NOW), None);
    assert!(get(store, "y", NOW).is_some());
}

fn scan_live_skips_expired_and_deleted(store: &dyn Store) {
    for i in 0..50 {
        put(store, &format!("live{i}"), token(TokenKind::Access, 0, 100));
        put(store, &format!("dead{i}"), token(TokenKind::Access, 0, 10));
    }
    store
        .apply(
            &[Mutation::Delete {
                key: key("live0"),
                issued_at: NOW,
            }],
            false,
        )
        .expect("delete");
    let mut seen = Vec::new();
    let n = store
        .scan_live(NOW + 10, &mut |k, t| {
            assert!(t.is_live(NOW + 10));
            seen.push(k);
        })
        .expect("scan");
    assert_eq!(n, 49);
    assert_eq!(seen.len(), 49);
    assert!(!seen.contains(&key("live0")));
    assert!(seen.contains(&key("live1")));
}

fn scan_live_range_visits_each_live_key_in_exactly_its_range(store: &dyn Store) {
    for i in 0..300 {
        put(store, &format!("live{i}"), token(TokenKind::Access, 0, 100));
    }
    for i in 0..30 {
        put(store, &format!("dead{i}"), token(TokenKind::Access, 0, 10));
    }
    let mut whole = Vec::new();
    store
        .scan_live(NOW + 10, &mut |k, _| whole.push(k))
        .expect("scan");
    whole.sort();
    for parts in [1, 2, 3, 7, 256] {
        let mut seen = Vec::new();
        for range in KeyRange::split(parts) {
            let mut here = Vec::new();
            let n = store
                .scan_live_range(NOW + 10, range, &mut |k, t| {
                    assert!(t.is_live(NOW + 10));
                    here.push(k);
                })
                .expect("scan range");
            assert_eq!(n, here.len() as u64, "{parts} parts, {range:?}");
            assert!(here.iter().all(|k| range.contains(k)), "{range:?}");
            seen.extend(here);
        }
        seen.sort();
        assert_eq!(
            seen, whole,
            "{parts} parts together visit what one scan does"
        );
    }
    assert_eq!(whole.len(), 300);
}

fn purge_deletes_expired_tokens_in_bounded_batches(store: &dyn Store) {
    for i in 0..25 {
        put(store, &format!("old{i}"), token(TokenKind::Access, 3, 10));
    }
    put(store, "new", token(TokenKind::Refresh, 3, 100));
    if store.self_expiring() {
        // The store's own TTL removes expired rows (each backend tests that against its
        // server); the purge has nothing to do, and expired tokens are never returned.
        assert_eq!(store.purge_expired(NOW + 10, 10).expect("purge"), 0);
        assert_eq!(get(store, "old3", NOW + 10), None);
        assert!(get(store, "new", NOW + 10).is_some());
        assert_eq!(
            store.grant_tokens(GrantId(3), NOW + 10).expect("grant"),
            vec![key("new")]
        );
        return;
    }
    let mut purged = 0;
    loop {
        let n = store.purge_expired(NOW + 10, 10).expect("purge");
        assert!(n <= 10);
        purged += n;
        if n < 10 {
            break;
        }
    }
    assert_eq!(purged, 25);
    assert_eq!(store.purge_expired(NOW + 10, 10).expect("purge"), 0);
    assert!(get(store, "new", NOW + 10).is_some());
    assert_eq!(
        store.grant_tokens(GrantId(3), NOW + 10).expect("grant"),
        vec![key("new")]
    );
    // Even asked about a time before expiry, purged tokens stay gone.
    assert_eq!(get(store, "old3", NOW), None);
}

fn durable_apply_is_readable_at_once(store: &dyn Store) {
    store
        .apply(
            &[Mutation::Put {
                key: key("d"),
                token: token(TokenKind::Access, 0, 60),
            }],
            true,
        )
        .expect("durable put");
    assert!(get(store, "d", NOW).is_some());
}

/// An authorization code of alice's (its bindings in `meta`), a session of hers (no
/// client, no scope) and her consent to `svc-a`.
pub fn non_tokens(ttl: u32) -> [(TokenKind, StoredToken); 3] {
    let alice = Some(Arc::from("alice"));
    [
        (
            TokenKind::Code,
            Token {
                user: alice.clone(),
                meta: Some(Arc::from(CODE_META)),
                scope: Arc::from("openid read"),
                ..token(TokenKind::Code, 31, ttl)
            },
        ),
        (
            TokenKind::Session,
            Token {
                client: Arc::from(""),
                user: alice.clone(),
                scope: Arc::from(""),
                ..token(TokenKind::Session, 0, ttl)
            },
        ),
        (
            TokenKind::Consent,
            Token {
                user: alice,
                scope: Arc::from("openid read"),
                ..token(TokenKind::Consent, 0, ttl)
            },
        ),
    ]
}

fn codes_sessions_and_consents_round_trip(store: &dyn Store) {
    for (kind, t) in non_tokens(600) {
        put(store, &format!("{kind:?}"), t.clone());
        assert_eq!(get(store, &format!("{kind:?}"), NOW), Some(t), "{kind:?}");
    }
    let mut kinds = Vec::new();
    store
        .scan_live(NOW, &mut |_, t| kinds.push(t.kind))
        .expect("scan");
    kinds.sort_by_key(|k| *k as u8);
    assert_eq!(
        kinds,
        vec![TokenKind::Code, TokenKind::Session, TokenKind::Consent]
    );
}

fn purge_deletes_expired_codes_sessions_and_consents_like_tokens(store: &dyn Store) {
    for (kind, t) in non_tokens(10) {
        put(store, &format!("old {kind:?}"), t);
    }
    for (kind, t) in non_tokens(100) {
        put(store, &format!("new {kind:?}"), t);
    }
    let purged = store.purge_expired(NOW + 10, 100).expect("purge");
    // A self-expiring store leaves it to its TTL (see the token purge check); expired
    // records are never returned. Any other store deletes them: even asked about a time
    // before their expiry, they are gone.
    let (expected, asked_at) = if store.self_expiring() {
        (0, NOW + 10)
    } else {
        (3, NOW)
    };
    assert_eq!(purged, expected);
    for (kind, _) in non_tokens(0) {
        assert_eq!(
            get(store, &format!("old {kind:?}"), asked_at),
            None,
            "{kind:?}"
        );
        assert!(
            get(store, &format!("new {kind:?}"), NOW + 10).is_some(),
            "{kind:?}"
        );
    }
}

fn setting(store: &dyn Store, name: &str) -> Option<String> {
    store
        .setting(name)
        .unwrap_or_else(|e| panic!("setting {name}: {e}"))
}

fn cas(store: &dyn Store, name: &str, expected: Option<&str>, value: &str) -> bool {
    store
        .put_setting_if(name, expected, value)
        .unwrap_or_else(|e| panic!("put_setting_if {name}: {e}"))
}

fn absent_setting_is_none(store: &dyn Store) {
    assert_eq!(setting(store, "oidc.signing_keys"), None);
}

fn setting_cas_from_absent_wins_once(store: &dyn Store) {
    assert!(cas(store, "s", None, "first"));
    assert!(!cas(store, "s", None, "second"), "absent twice");
    assert_eq!(setting(store, "s").as_deref(), Some("first"));
    // Another name is another value.
    assert_eq!(setting(store, "t"), None);
}

fn setting_cas_with_a_wrong_expected_value_is_refused(store: &dyn Store) {
    assert!(cas(store, "s", None, "v1"));
    assert!(!cas(store, "s", Some("v0"), "v2"));
    assert_eq!(setting(store, "s").as_deref(), Some("v1"));
    // Expecting a value where there is none is refused too, and writes nothing.
    assert!(!cas(store, "absent", Some("v1"), "v2"));
    assert_eq!(setting(store, "absent"), None);
}

fn setting_cas_with_the_current_value_overwrites(store: &dyn Store) {
    // A JSON document with quotes, backslashes and non-ASCII text, like the signing keys.
    let doc = r#"{"keys":[{"kid":"k1","pem":"-----BEGIN\nå\"x\""}]}"#;
    assert!(cas(store, "s", None, doc));
    assert_eq!(setting(store, "s").as_deref(), Some(doc));
    assert!(cas(store, "s", Some(doc), "v2"));
    assert_eq!(setting(store, "s").as_deref(), Some("v2"));
    assert!(cas(store, "s", Some("v2"), "v3"));
    assert!(!cas(store, "s", Some("v2"), "v4"), "stale expected value");
    assert_eq!(setting(store, "s").as_deref(), Some("v3"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn memory_store_passes_the_conformance_suite() {
        run_all(&mut || Box::new(MemoryStore::new()));
    }
}
