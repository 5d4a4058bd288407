//! Resource owners for the password grant (RFC 6749 §4.3), looked up by username: built
//! from `[[users]]` and the users kept in a shared store. Passwords are held only as hashes.

use crate::config::{Config, UserConfig};
use crate::oauth::secret::{PasswordHash, SecretHash};
use std::collections::HashMap;
use std::sync::Arc;
use tessera_storage::{Interner, Sym};

#[derive(Debug)]
pub struct User {
    pub sym: Sym,
    pub hash: Arc<PasswordHash>,
    /// OpenID Connect claims (`users[].claims`), released by scope.
    pub claims: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Users {
    by_name: HashMap<Box<str>, User>,
    /// Checked when the username is unknown, with the same cost as a real check, so the
    /// response time does not reveal which usernames exist.
    pub decoy: Arc<PasswordHash>,
}

impl Users {
    pub fn from_config(config: &Config, syms: &Interner) -> Users {
        Users::build(config, &[], syms, None)
    }

    /// The configuration's users plus `stored` ones (kept in a shared store; the file wins
    /// on a name clash). `decoy` reuses an earlier registry's decoy hash, which is slow to
    /// make.
    pub fn build(
        config: &Config,
        stored: &[UserConfig],
        syms: &Interner,
        decoy: Option<Arc<PasswordHash>>,
    ) -> Users {
        let mut by_name = HashMap::with_capacity(config.users.len() + stored.len());
        let mut any_slow = false;
        for u in config.users.iter().chain(stored) {
            if by_name.contains_key(u.username.as_str()) {
                continue;
            }
            let hash = match (&u.password, &u.password_hash) {
                (Some(plain), _) => PasswordHash::Fast(SecretHash::new(plain.as_bytes())),
                (None, Some(phc)) => PasswordHash::Argon2(phc.clone()),
                // Validation rejects a user with neither; this user can never log in.
                (None, None) => PasswordHash::Fast(SecretHash::new(&rand_bytes())),
            };
            any_slow |= hash.is_slow();
            by_name.insert(
                u.username.clone().into_boxed_str(),
                User {
                    sym: syms.intern(&u.username),
                    hash: Arc::new(hash),
                    claims: u
                        .claims
                        .iter()
                        .map(|(n, v)| (n.clone(), v.clone()))
                        .collect(),
                },
            );
        }
        let decoy = if let Some(d) = decoy.filter(|d| d.is_slow() || !any_slow) {
            d
        } else if any_slow {
            Arc::new(
                // Falls back to a fast decoy only if hashing fails, which argon2 does not here.
                crate::oauth::secret::argon2id_hash(&rand_bytes())
                    .map(PasswordHash::Argon2)
                    .unwrap_or_else(|_| PasswordHash::Fast(SecretHash::new(b"decoy"))),
            )
        } else {
            Arc::new(PasswordHash::Fast(SecretHash::new(&rand_bytes())))
        };
        Users { by_name, decoy }
    }

    pub fn get(&self, username: &str) -> Option<&User> {
        self.by_name.get(username)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn rand_bytes() -> [u8; 16] {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b
}
