//! Scope rules (RFC 6749 §3.3): syntax, the subset checks, and the canonical form.
//!
//! A granted scope set is interned as one canonical string: the granted scope tokens in the
//! order the client's configuration lists them (or, for a refresh, the order of the original
//! grant), space-separated, without duplicates. The same set therefore always gets the same
//! symbol, and the response's `scope` field is that string as is.

use super::clients::Client;
use super::error::OAuthError;
use std::cell::RefCell;
use tessera_storage::{Interner, Sym};

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Splits a `scope` parameter into its tokens, rejecting bad syntax.
fn requested(scope: &str) -> Result<impl Iterator<Item = &str> + Clone, OAuthError> {
    let tokens = scope.split(' ').filter(|t| !t.is_empty());
    if let Some(bad) = tokens.clone().find(|t| !is_scope_token(t)) {
        return Err(OAuthError::invalid_scope(format!(
            "'{bad}' is not a valid scope token (RFC 6749 section 3.3)"
        )));
    }
    Ok(tokens)
}

thread_local! {
    /// Reused buffer for canonical scope strings: a known scope set costs no allocation.
    static CANONICAL: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The canonical set of `allowed` entries that `requested` names, interned. Fails with
/// `invalid_scope` naming the first requested scope outside `allowed`.
pub fn grant<'a>(
    scopes: &Interner,
    allowed: impl Iterator<Item = &'a str> + Clone,
    scope_param: &str,
) -> Result<Sym, OAuthError> {
    let req = requested(scope_param)?;
    if let Some(bad) = req.clone().find(|r| !allowed.clone().any(|a| a == *r)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{bad}' is not allowed for this client"
        )));
    }
    Ok(CANONICAL.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        for a in allowed.filter(|a| req.clone().any(|r| r == *a)) {
            if !buf.is_empty() {
                buf.push(' ');
            }
            buf.push_str(a);
        }
        scopes.get(&buf).unwrap_or_else(|| scopes.intern(&buf))
    }))
}

/// The scope to grant `client`: the requested subset of its scopes, or its defaults when
/// the request names none (RFC 6749 §3.3).
pub fn for_client(
    scopes: &Interner,
    client: &Client,
    requested: Option<&str>,
) -> Result<Sym, OAuthError> {
    match requested {
        None => Ok(client.default_scope),
        Some(s) => grant(scopes, client.scope_names(), s),
    }
}

/// The canonical scope string [`for_client`] would grant, without interning it: for a
/// request nobody has authenticated yet (the authorization endpoint before login), which
/// must not make the interner keep every subset of a client's scopes an anonymous caller
/// names. Intern it once the request is worth it.
pub fn canonical_for_client(
    scopes: &Interner,
    client: &Client,
    requested: Option<&str>,
) -> Result<String, OAuthError> {
    let Some(param) = requested else {
        return Ok(scopes
            .resolve(client.default_scope)
            .unwrap_or_default()
            .to_string());
    };
    let req = self::requested(param)?;
    if let Some(bad) = req.clone().find(|r| !client.scope_names().any(|a| a == *r)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope '{bad}' is not allowed for this client"
        )));
    }
    let granted: Vec<&str> = client
        .scope_names()
        .filter(|a| req.clone().any(|r| r == *a))
        .collect();
    Ok(granted.join(" "))
}

/// A narrower (or equal) scope for a token derived from a grant whose scope is
/// `original` — a refresh (RFC 6749 §6): never a wider one.
pub fn narrow(
    scopes: &Interner,
    original: Sym,
    requested: Option<&str>,
) -> Result<Sym, OAuthError> {
    let Some(requested) = requested else {
        return Ok(original);
    };
    // An owned handle, not `Interner::with`: granting may intern a new scope set, which
    // takes the interner's write lock.
    let original = scopes.resolve(original).unwrap_or_default();
    grant(scopes, original.split(' '), requested).map_err(|_| {
        OAuthError::invalid_scope("a refresh may narrow the scope of the grant, never widen it")
    })
}

/// Interns a scope list given in configuration order.
pub fn intern_list(scopes: &Interner, list: &[String]) -> Sym {
    scopes.intern(&list.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<&'static str> {
        vec!["read", "write", "admin"]
    }

    #[test]
    fn rfc6749_3_3_scope_token_syntax() {
        assert!(is_scope_token("read:all"));
        assert!(is_scope_token("https://api.example.com/x"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token("é"));
    }

    #[test]
    fn granted_scope_is_canonical_order_without_duplicates() {
        let i = Interner::new();
        let s = grant(&i, allowed().into_iter(), "admin read  read").expect("grant");
        assert_eq!(i.with(s, str::to_owned), "read admin");
        let again = grant(&i, allowed().into_iter(), "read admin").expect("grant");
        assert_eq!(s, again);
    }

    #[test]
    fn rfc6749_3_3_no_scope_requested_grants_the_client_defaults() {
        let i = Interner::new();
        let c = crate::oauth::clients::fixtures::client(
            "c",
            crate::oauth::types::AuthMethod::ClientSecretBasic,
            &[],
            &Interner::new(),
            &i,
        );
        assert_eq!(for_client(&i, &c, None), Ok(c.default_scope));
        let s = for_client(&i, &c, Some("write read")).expect("subset");
        assert_eq!(i.with(s, str::to_owned), "read write");
        let e = for_client(&i, &c, Some("delete")).expect_err("outside");
        assert_eq!(e.code.as_str(), "invalid_scope");
    }

    #[test]
    fn canonical_scope_of_an_unauthenticated_request_is_not_interned() {
        let i = Interner::new();
        let c = crate::oauth::clients::fixtures::client(
            "c",
            crate::oauth::types::AuthMethod::ClientSecretBasic,
            &[],
            &Interner::new(),
            &i,
        );
        let before = i.len();
        assert_eq!(
            canonical_for_client(&i, &c, Some("admin read")).as_deref(),
            Ok("read admin")
        );
        assert_eq!(i.len(), before);
        assert_eq!(
            canonical_for_client(&i, &c, None).as_deref(),
            Ok("read write admin")
        );
        assert!(canonical_for_client(&i, &c, Some("delete")).is_err());
    }

    #[test]
    fn rfc6749_6_narrowing_keeps_a_subset_and_refuses_a_wider_scope() {
        let i = Interner::new();
        let original = i.intern("read write");
        assert_eq!(narrow(&i, original, None), Ok(original));
        let s = narrow(&i, original, Some("write")).expect("narrower");
        assert_eq!(i.with(s, str::to_owned), "write");
        let e = narrow(&i, original, Some("read admin")).expect_err("wider");
        assert_eq!(e.code.as_str(), "invalid_scope");
        let e = narrow(&i, original, Some("re\"ad")).expect_err("syntax");
        assert_eq!(e.code.as_str(), "invalid_scope");
    }

    #[test]
    fn rfc6749_5_2_scope_outside_the_allowed_set_is_invalid_scope() {
        let i = Interner::new();
        let e = grant(&i, allowed().into_iter(), "read delete").expect_err("must fail");
        assert_eq!(e.code.as_str(), "invalid_scope");
    }
}
