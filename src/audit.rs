//! Audit events: who was given, refused or lost access, and from where — one function per
//! event, each writing one tracing event on the target [`TARGET`] (`tessera::audit`), so the
//! log filter keeps or drops them apart from the operational logs (`[log] level =
//! "info,tessera::audit=off"`), and `[log] format = "json"` makes each a JSON line.
//!
//! Every event has `event` (its name, below), `peer` (the address the request came from)
//! and the identities involved. An event never carries a secret, password, token,
//! authorization code or assertion: only client ids, usernames, grant types, grant ids,
//! scopes and counts. Names a caller presented (a client id or username that failed, an
//! admin path's id) are cut to [`MAX_PRESENTED_CHARS`] and have their control characters
//! escaped, so a crafted name cannot forge a line in the text format.
//!
//! | `event` | level | fields |
//! |---|---|---|
//! | `token_issued` | info | `grant`, `client`, `user`?, `grant_id`?, `scope`, `refresh` |
//! | `token_revoked` | info | `client`, `kind`, `grant_id`?, `cascaded` |
//! | `refresh_token_reuse` | warn | `client`, `grant_id` |
//! | `code_reuse` | warn | `client`, `grant_id` |
//! | `client_auth_failed` | info | `client`? |
//! | `user_login_failed` | info | `user` |
//! | `lockout` | warn | `kind` (`client`, `user`, `address`), `identity`?, `lockout_secs`, `in_a_row` |
//! | `admin_change` | info | `action`, `object`, `id` |
//! | `admin_auth_failed` | warn | `token_sent` |
//!
//! `grant_id` is the grant's decimal id as a string (64-bit ids do not survive JSON
//! numbers in every reader); it is absent for tokens issued without a grant (client
//! credentials, implicit).
//!
//! Cost: every function here is a tracing event whose fields are evaluated only after
//! tracing's `enabled` check, which the subscriber answers once per call site and tracing
//! caches; with the target filtered out an event is a load and a branch — no allocation,
//! no interner read, no formatting (bench/RESULTS.md, "Audit events"). Names behind a
//! [`Sym`] are resolved while the line is written, borrowed from the interner, never
//! copied.
//!
//! Touches nothing but tracing: callers pass what they already hold.

use crate::guard::Identity;
use crate::oauth::issue::Issued;
use crate::oauth::types::GrantType;
use std::fmt;
use std::net::IpAddr;
use tessera_storage::{GrantId, Interner, Sym, Symbols, TokenKind};
use tracing::{event, Level};

/// The tracing target of every audit event.
pub const TARGET: &str = "tessera::audit";

/// Names a caller presented are logged up to this many characters: they are whatever the
/// caller sent, of any length.
pub const MAX_PRESENTED_CHARS: usize = 128;

/// A token response went out (token endpoint, or the implicit grant's redirect) to
/// `client` under `grant`.
pub fn token_issued(syms: &Symbols, peer: IpAddr, client: &str, grant: GrantType, issued: &Issued) {
    event!(
        target: TARGET,
        Level::INFO,
        event = "token_issued",
        %peer,
        grant = grant.as_str(),
        client,
        user = issued.user.map(|u| tracing::field::display(Interned(&syms.users, u))),
        grant_id = grant_id(issued.grant).map(tracing::field::display),
        scope = %Interned(&syms.scopes, issued.scope),
        refresh = issued.refresh.is_some(),
        "token issued"
    );
}

/// A client revoked one of its tokens (RFC 7009); `cascaded` access tokens of its grant went
/// with it.
pub fn token_revoked(peer: IpAddr, client: &str, kind: TokenKind, grant: GrantId, cascaded: usize) {
    let kind = match kind {
        TokenKind::Access => "access",
        TokenKind::Refresh => "refresh",
        // Neither is revocable through the endpoint; named rather than hidden if one ever is.
        TokenKind::Used => "used",
        TokenKind::Code => "code",
        TokenKind::Session => "session",
        TokenKind::Consent => "consent",
    };
    event!(
        target: TARGET,
        Level::INFO,
        event = "token_revoked",
        %peer,
        client,
        kind,
        grant_id = grant_id(grant).map(tracing::field::display),
        cascaded,
        "token revoked"
    );
}

/// A used refresh token came back (RFC 9700 §4.14.2): its grant is revoked.
pub fn refresh_token_reuse(peer: IpAddr, client: &str, grant: GrantId) {
    event!(
        target: TARGET,
        Level::WARN,
        event = "refresh_token_reuse",
        %peer,
        client,
        grant_id = %{ grant.0 },
        "used refresh token presented again; its grant is revoked"
    );
}

/// A redeemed authorization code came back (RFC 6749 §4.1.2): its grant is revoked.
pub fn code_reuse(peer: IpAddr, client: &str, grant: GrantId) {
    event!(
        target: TARGET,
        Level::WARN,
        event = "code_reuse",
        %peer,
        client,
        grant_id = %{ grant.0 },
        "authorization code used again; its grant is revoked"
    );
}

/// Client authentication failed; `client` is the id presented, if one could be read.
pub fn client_auth_failed(peer: IpAddr, client: Option<&str>) {
    event!(
        target: TARGET,
        Level::INFO,
        event = "client_auth_failed",
        %peer,
        client = client.map(|c| tracing::field::display(Presented(c))),
        "client authentication failed"
    );
}

/// A resource owner's login failed (password grant, authorize login form or Basic login);
/// `user` is the username presented, known or not.
pub fn user_login_failed(peer: IpAddr, user: &str) {
    event!(
        target: TARGET,
        Level::INFO,
        event = "user_login_failed",
        %peer,
        user = %Presented(user),
        "user login failed"
    );
}

/// The brute-force guard locked `identity` out from `peer` (or, for
/// [`Identity::Address`], the address itself) for `lockout_secs`.
pub fn lockout(peer: IpAddr, identity: Identity<'_>, lockout_secs: u32, in_a_row: u32) {
    let name = match identity {
        Identity::Address => None,
        _ => Some(identity.name()),
    };
    event!(
        target: TARGET,
        Level::WARN,
        event = "lockout",
        %peer,
        kind = identity.kind(),
        identity = name.map(|n| tracing::field::display(Presented(n))),
        lockout_secs,
        in_a_row,
        "locked out after repeated authentication failures"
    );
}

/// A change made through the admin API: `action` (`create`, `update`, `delete`,
/// `rotate_secret`, `revoke`...) on `object` (`client`, `user`, `grant`...) named `id`, by
/// an administrator at `peer`.
pub fn admin_change(action: &str, object: &str, id: &str, peer: IpAddr) {
    event!(
        target: TARGET,
        Level::INFO,
        event = "admin_change",
        %peer,
        action,
        object,
        id = %Presented(id),
        "admin change"
    );
}

/// A call on the admin listener came without the admin token (`token_sent = false`) or
/// with a wrong one. Warn: the admin listener should only ever see administrators.
pub fn admin_auth_failed(peer: IpAddr, token_sent: bool) {
    event!(
        target: TARGET,
        Level::WARN,
        event = "admin_auth_failed",
        %peer,
        token_sent,
        "admin authentication failed"
    );
}

/// `None` for the placeholder grant of tokens issued without one.
fn grant_id(grant: GrantId) -> Option<u64> {
    (!grant.is_none()).then_some(grant.0)
}

/// The string behind a [`Sym`], written borrowed from the interner (no copy).
struct Interned<'a>(&'a Interner, Sym);

impl fmt::Display for Interned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.with(self.1, |s| f.write_str(s))
    }
}

/// A name a caller presented: at most [`MAX_PRESENTED_CHARS`] characters, control
/// characters escaped (`\n`, `\u{1b}`), so it stays on its line and cannot colour a
/// terminal.
struct Presented<'a>(&'a str);

impl fmt::Display for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars().take(MAX_PRESENTED_CHARS) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_keep_to_one_line_and_a_bounded_length() {
        assert_eq!(
            Presented("svc-a\nINFO forged line\u{1b}[31m").to_string(),
            "svc-a\\nINFO forged line\\u{1b}[31m"
        );
        let long = "é".repeat(MAX_PRESENTED_CHARS + 50);
        assert_eq!(
            Presented(&long).to_string().chars().count(),
            MAX_PRESENTED_CHARS
        );
        assert_eq!(Presented("ünïcode-ok").to_string(), "ünïcode-ok");
    }

    #[test]
    fn tokens_without_a_grant_log_no_grant_id() {
        assert_eq!(grant_id(GrantId::NONE), None);
        assert_eq!(grant_id(GrantId(42)), Some(42));
    }

    #[test]
    fn interned_names_are_written_as_they_are() {
        let i = Interner::new();
        let sym = i.intern("alice");
        assert_eq!(Interned(&i, sym).to_string(), "alice");
    }
}
