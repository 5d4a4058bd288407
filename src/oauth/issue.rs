//! Minting tokens: generate the string, store its record under its key through
//! [`TokenOps`], hand the string back for the response. The raw token exists only in the
//! returned [`TokenBuf`]; what is stored is its key (a hash).

use super::clients::{Client, TokenSettings};
use super::token_gen::TokenBuf;
use super::tokens::TokenOps;
use tessera_storage::{GrantId, Sym, TokenKey, TokenKind, TokenRecord};

/// Who and what a token is for.
#[derive(Debug, Clone, Copy)]
pub struct Claims {
    pub client: Sym,
    pub user: Option<Sym>,
    pub scope: Sym,
    pub meta: Option<Sym>,
    pub grant: GrantId,
}

impl Claims {
    /// Claims for a token issued to `client` now, with its current metadata.
    pub fn new(client: &Client, user: Option<Sym>, scope: Sym, grant: GrantId) -> Claims {
        Claims {
            client: client.sym,
            user,
            scope,
            meta: client.meta,
            grant,
        }
    }

    /// The claims of an existing record (a refresh carries them forward).
    pub fn of(record: &TokenRecord) -> Claims {
        Claims {
            client: record.client,
            user: record.user,
            scope: record.scope,
            meta: record.meta,
            grant: record.grant,
        }
    }
}

/// A stored token and its string.
#[derive(Debug)]
pub struct Minted {
    pub token: TokenBuf,
    pub key: TokenKey,
    pub expires_at: u32,
    /// Whose and which grant's, from its claims (for the audit log).
    pub user: Option<Sym>,
    pub grant: GrantId,
}

impl Minted {
    pub fn link(&self) -> (TokenKey, u32) {
        (self.key, self.expires_at)
    }
}

/// Generates a token of `length` characters and stores its record.
pub fn mint<O: TokenOps + ?Sized>(
    ops: &mut O,
    claims: Claims,
    kind: TokenKind,
    length: usize,
    ttl: u32,
    now: u32,
) -> Minted {
    let token = TokenBuf::generate(length);
    let key = TokenKey::of(token.as_bytes());
    let expires_at = now.saturating_add(ttl);
    ops.insert_minted(
        key,
        TokenRecord {
            grant: claims.grant,
            client: claims.client,
            user: claims.user,
            scope: claims.scope,
            meta: claims.meta,
            issued_at: now,
            expires_at,
            kind,
        },
    );
    Minted {
        token,
        key,
        expires_at,
        user: claims.user,
        grant: claims.grant,
    }
}

/// An access token for `claims` with the client's length and lifetime.
pub fn mint_access<O: TokenOps + ?Sized>(
    ops: &mut O,
    claims: Claims,
    t: &TokenSettings,
    now: u32,
) -> Minted {
    mint(
        ops,
        claims,
        TokenKind::Access,
        t.access_length,
        t.access_ttl,
        now,
    )
}

/// A refresh token for `claims` with the client's length and lifetime.
pub fn mint_refresh<O: TokenOps + ?Sized>(
    ops: &mut O,
    claims: Claims,
    t: &TokenSettings,
    now: u32,
) -> Minted {
    mint(
        ops,
        claims,
        TokenKind::Refresh,
        t.refresh_length,
        t.refresh_ttl,
        now,
    )
}

/// What a grant hands to the token endpoint's response (RFC 6749 §5.1).
#[derive(Debug)]
pub struct Issued {
    pub access: TokenBuf,
    pub expires_in: u32,
    pub refresh: Option<RefreshOut>,
    pub scope: Sym,
    /// The resource owner, if any, and the grant the tokens belong to
    /// ([`GrantId::NONE`] for client credentials and implicit): the audit log names them.
    pub user: Option<Sym>,
    pub grant: GrantId,
}

impl Issued {
    pub fn new(
        access: Minted,
        t: &TokenSettings,
        refresh: Option<RefreshOut>,
        scope: Sym,
    ) -> Issued {
        Issued {
            access: access.token,
            expires_in: t.access_ttl,
            refresh,
            scope,
            user: access.user,
            grant: access.grant,
        }
    }
}

/// The refresh token in a response: new, or the one presented (the `preserve` policy).
// It lives on the stack for one response; boxing the token would cost an allocation per
// request to save a few hundred bytes of stack.
#[allow(clippy::large_enum_variant)]
pub enum RefreshOut {
    New(TokenBuf),
    Same(String),
}

/// Tokens are credentials: `Debug` shows which kind of answer, never the token.
impl std::fmt::Debug for RefreshOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefreshOut::New(t) => f.debug_tuple("New").field(t).finish(),
            RefreshOut::Same(s) => write!(f, "Same({} chars)", s.len()),
        }
    }
}

impl RefreshOut {
    pub fn as_str(&self) -> &str {
        match self {
            RefreshOut::New(t) => t.as_str(),
            RefreshOut::Same(s) => s,
        }
    }
}
