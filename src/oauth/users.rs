//! Resource owners for the password grant (RFC 6749 §4.3), looked up by username.

use super::secret::{PasswordHash, SecretHash};
use crate::config::Config;
use std::collections::HashMap;
use std::sync::Arc;
use tessera_storage::{Interner, Sym};

#[derive(Debug)]
pub struct User {
    pub sym: Sym,
    pub hash: Arc<PasswordHash>,
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
        let mut by_name = HashMap::with_capacity(config.users.len());
        let mut any_slow = false;
        for u in &config.users {
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
                },
            );
        }
        let decoy = if any_slow {
            // Falls back to a fast decoy only if hashing fails, which argon2 does not here.
            super::secret::argon2id_hash(&rand_bytes())
                .map(PasswordHash::Argon2)
                .unwrap_or_else(|_| PasswordHash::Fast(SecretHash::new(b"decoy")))
        } else {
            PasswordHash::Fast(SecretHash::new(&rand_bytes()))
        };
        Users {
            by_name,
            decoy: Arc::new(decoy),
        }
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
