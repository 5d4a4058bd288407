//! Shared set-up for the grants' unit tests: an in-memory [`TokenOps`], interners, clients
//! and parameters, so each test reads as the rule it checks.

use crate::oauth::clients::{fixtures, Client};
use crate::oauth::params::Params;
use crate::oauth::tokens::memory::MemoryTokens;
use crate::oauth::types::{AuthMethod, GrantType};
use tessera_storage::{Interner, Sym};

/// The tests' clock.
pub const NOW: u32 = 1_000_000;

pub struct World {
    pub ops: MemoryTokens,
    pub scopes: Interner,
    pub client_syms: Interner,
    pub users: Interner,
}

impl World {
    pub fn new() -> World {
        World {
            ops: MemoryTokens::new(NOW),
            scopes: Interner::new(),
            client_syms: Interner::new(),
            users: Interner::new(),
        }
    }

    /// A confidential client `app` (Basic) with `grants`.
    pub fn confidential(&self, grants: &[GrantType]) -> Client {
        self.client("app", AuthMethod::ClientSecretBasic, grants)
    }

    /// A public client `spa` with `grants`.
    pub fn public(&self, grants: &[GrantType]) -> Client {
        self.client("spa", AuthMethod::None, grants)
    }

    pub fn client(&self, id: &str, auth: AuthMethod, grants: &[GrantType]) -> Client {
        fixtures::client(id, auth, grants, &self.client_syms, &self.scopes)
    }

    pub fn user(&self, name: &str) -> Sym {
        self.users.intern(name)
    }

    pub fn scope(&self, s: Sym) -> String {
        self.scopes.with(s, str::to_owned)
    }
}

/// Parameters of a form body.
pub fn params(body: &'static str) -> Params<'static> {
    Params::parse(body.as_bytes()).expect("test parameters parse")
}

/// Parameters of a form body built at run time (leaked: tests only).
pub fn params_of(body: String) -> Params<'static> {
    params(Box::leak(body.into_boxed_str()))
}
