//! Resource owners as the admin API and `tessera user` manage them: a username, a password
//! stored only as its argon2id hash (never returned), and OpenID Connect claims. Stored as
//! the `UserConfig` JSON, so the API and the CLI read each other's users. Users of the
//! configuration file are read-only here.
//!
//! Hashing takes tens of milliseconds of CPU: callers run these functions off the workers.

use super::directory::{Directory, Kind};
use super::{ManageError, Source};
use crate::config::{Config, UserConfig};
use crate::oauth::secret::{argon2id_hash, Redacted};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A user as POST and PUT send it. `username` is required by POST and, in a PUT, must
/// name the user of the path; `password` is required by POST and, in a PUT, changes the
/// password (which revokes the user's refresh tokens, as `tessera user set-password`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub username: Option<String>,
    pub password: Option<Redacted<String>>,
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    #[serde(default, rename = "source")]
    _source: Option<IgnoredAny>,
}

impl std::fmt::Debug for UserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A user as the API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    pub username: String,
    pub claims: BTreeMap<String, String>,
    pub source: Source,
}

impl UserView {
    pub fn of(u: &UserConfig, source: Source) -> UserView {
        UserView {
            username: u.username.clone(),
            claims: u.claims.clone(),
            source,
        }
    }
}

/// Every user: the configuration file's and the directory's, sorted by name.
pub fn list(dir: Directory<'_>, config: &Config) -> Result<Vec<(UserConfig, Source)>, ManageError> {
    let mut all: Vec<(UserConfig, Source)> = config
        .users
        .iter()
        .map(|u| (u.clone(), Source::Config))
        .collect();
    for (name, spec) in dir.list(Kind::Users)? {
        if config.users.iter().any(|u| u.username == name) {
            continue;
        }
        if let Ok(u) = serde_json::from_str::<UserConfig>(&spec) {
            all.push((u, Source::Store));
        }
    }
    all.sort_by(|a, b| a.0.username.cmp(&b.0.username));
    Ok(all)
}

/// The user `name`, and where it is defined.
pub fn get(
    dir: Directory<'_>,
    config: &Config,
    name: &str,
) -> Result<(UserConfig, Source), ManageError> {
    if let Some(u) = config.users.iter().find(|u| u.username == name) {
        return Ok((u.clone(), Source::Config));
    }
    stored(dir, name).map(|u| (u, Source::Store))
}

fn stored(dir: Directory<'_>, name: &str) -> Result<UserConfig, ManageError> {
    let spec = dir.get(Kind::Users, name)?.ok_or_else(|| not_found(name))?;
    parse(name, &spec)
}

fn not_found(name: &str) -> ManageError {
    ManageError::NotFound(format!("no user {name:?}"))
}

fn parse(name: &str, spec: &str) -> Result<UserConfig, ManageError> {
    serde_json::from_str(spec).map_err(|e| {
        ManageError::Store(tessera_storage::store::StoreError::Corrupt {
            message: format!("user {name:?}: {e}"),
        })
    })
}

/// POST /admin/users.
pub fn create(
    dir: Directory<'_>,
    config: &Config,
    req: UserRequest,
) -> Result<UserConfig, ManageError> {
    let name = req
        .username
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ManageError::invalid_request("username is required"))?;
    check_name(&name)?;
    refuse_configured(config, &name)?;
    let password = req
        .password
        .ok_or_else(|| ManageError::invalid_request("password is required"))?;
    let user = hashed(&name, &password, req.claims)?;
    let spec = serde_json::to_string(&user).map_err(|e| ManageError::Internal(e.to_string()))?;
    if !dir.create(Kind::Users, &name, &spec)? {
        return Err(ManageError::Conflict(format!(
            "user {name:?} already exists"
        )));
    }
    Ok(user)
}

/// PUT /admin/users/{name}: new claims and, when given, a new password. Returns the user
/// and whether the password changed (the caller then revokes the user's refresh tokens).
pub fn replace(
    dir: Directory<'_>,
    config: &Config,
    name: &str,
    req: UserRequest,
) -> Result<(UserConfig, bool), ManageError> {
    refuse_configured(config, name)?;
    if let Some(body) = &req.username {
        if body != name {
            return Err(ManageError::invalid_request(format!(
                "username {body:?} differs from the user in the path ({name:?})"
            )));
        }
    }
    // Hashed once, outside the compare-and-set loop: argon2id is the slow part.
    let hashed = match &req.password {
        Some(password) => Some(hashed(name, password, req.claims.clone())?),
        None => None,
    };
    let changed = hashed.is_some();
    let user = super::update(
        dir,
        Kind::Users,
        name,
        || not_found(name),
        |spec| {
            let user = match &hashed {
                Some(user) => user.clone(),
                None => UserConfig {
                    claims: req.claims.clone(),
                    ..parse(name, spec)?
                },
            };
            let spec = serde_json::to_string(&user)
                .map_err(|e| ManageError::invalid_request(e.to_string()))?;
            Ok((user, spec))
        },
    )?;
    Ok((user, changed))
}

/// DELETE /admin/users/{name} and `tessera user remove`; revoking the user's tokens is the
/// caller's next step. `Ok(false)`: there was no such user in the store.
pub fn remove(dir: Directory<'_>, config: &Config, name: &str) -> Result<bool, ManageError> {
    refuse_configured(config, name)?;
    Ok(dir.remove(Kind::Users, name)?)
}

/// Stores `name` with the argon2id hash of `password` and `claims`, replacing any:
/// `tessera user add | set-password` and the API.
pub fn save(
    dir: Directory<'_>,
    name: &str,
    password: &str,
    claims: BTreeMap<String, String>,
) -> Result<UserConfig, ManageError> {
    let user = hashed(name, password, claims)?;
    put(dir, &user)?;
    Ok(user)
}

/// The user `name` with the argon2id hash of `password`.
fn hashed(
    name: &str,
    password: &str,
    claims: BTreeMap<String, String>,
) -> Result<UserConfig, ManageError> {
    if password.is_empty() {
        return Err(ManageError::invalid_request("password must not be empty"));
    }
    let hash = argon2id_hash(password.as_bytes()).map_err(ManageError::Internal)?;
    Ok(UserConfig {
        username: name.to_owned(),
        password: None,
        password_hash: Some(hash),
        claims,
    })
}

fn put(dir: Directory<'_>, user: &UserConfig) -> Result<(), ManageError> {
    let spec =
        serde_json::to_string(user).map_err(|e| ManageError::invalid_request(e.to_string()))?;
    dir.put(Kind::Users, &user.username, &spec)?;
    Ok(())
}

fn check_name(name: &str) -> Result<(), ManageError> {
    if name.chars().any(char::is_control) {
        return Err(ManageError::invalid_request(
            "username must not contain control characters",
        ));
    }
    Ok(())
}

fn refuse_configured(config: &Config, name: &str) -> Result<(), ManageError> {
    if config.users.iter().any(|u| u.username == name) {
        return Err(ManageError::Conflict(format!(
            "user {name:?} is defined in the configuration file; change it there"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::secret::PasswordHash;
    use tessera_storage::store::memory::MemoryStore;

    fn request(json: &str) -> UserRequest {
        serde_json::from_str(json).expect("request")
    }

    #[test]
    fn a_created_user_keeps_only_an_argon2id_hash_of_the_password() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        create(
            dir,
            &Config::default(),
            request(r#"{"username":"bob","password":"correct horse","claims":{"name":"Bob"}}"#),
        )
        .expect("create");
        let spec = dir.get(Kind::Users, "bob").expect("get").expect("stored");
        assert!(!spec.contains("correct horse"), "{spec}");
        let (user, source) = get(dir, &Config::default(), "bob").expect("get");
        assert_eq!(source, Source::Store);
        let hash = PasswordHash::parse_argon2(user.password_hash.as_deref().expect("hash"))
            .expect("argon2");
        assert!(hash.verify(b"correct horse"));
        assert_eq!(user.claims.get("name").map(String::as_str), Some("Bob"));
    }

    #[test]
    fn a_user_needs_a_name_and_a_password_and_may_exist_once() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        for body in [
            r#"{"password":"p"}"#,
            r#"{"username":"","password":"p"}"#,
            r#"{"username":"x"}"#,
            r#"{"username":"x","password":""}"#,
        ] {
            let e = create(dir, &Config::default(), request(body)).expect_err(body);
            assert!(
                matches!(
                    e,
                    ManageError::Invalid {
                        code: "invalid_request",
                        ..
                    }
                ),
                "{body}: {e:?}"
            );
        }
        create(
            dir,
            &Config::default(),
            request(r#"{"username":"x","password":"p"}"#),
        )
        .expect("first");
        let e = create(
            dir,
            &Config::default(),
            request(r#"{"username":"x","password":"q"}"#),
        )
        .expect_err("again");
        assert!(matches!(e, ManageError::Conflict(_)), "{e:?}");
    }

    #[test]
    fn put_without_a_password_keeps_it_and_with_one_changes_it() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        create(
            dir,
            &Config::default(),
            request(r#"{"username":"bob","password":"one"}"#),
        )
        .expect("create");
        let (user, changed) = replace(
            dir,
            &Config::default(),
            "bob",
            request(r#"{"claims":{"email":"b@example.com"}}"#),
        )
        .expect("claims");
        assert!(!changed);
        let hash = PasswordHash::parse_argon2(user.password_hash.as_deref().expect("hash"))
            .expect("argon2");
        assert!(hash.verify(b"one"));
        let (user, changed) = replace(
            dir,
            &Config::default(),
            "bob",
            request(r#"{"password":"two"}"#),
        )
        .expect("password");
        assert!(changed);
        let hash = PasswordHash::parse_argon2(user.password_hash.as_deref().expect("hash"))
            .expect("argon2");
        assert!(hash.verify(b"two") && !hash.verify(b"one"));
    }

    #[test]
    fn the_view_of_a_user_never_holds_the_password_or_its_hash() {
        let u = UserConfig {
            username: "bob".to_owned(),
            password: None,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".to_owned()),
            claims: BTreeMap::new(),
        };
        let json = serde_json::to_string(&UserView::of(&u, Source::Store)).expect("json");
        assert!(
            !json.contains("argon2") && !json.contains("password"),
            "{json}"
        );
    }
}
