//! Loading: reading the file, parsing the TOML, moving flat `[store]` keys to their section
//! (the SQL stores' when `kind` names one, else Cassandra's deprecated spellings),
//! deserializing with the exact key of any error (`serde_path_to_error`), and
//! [`Config::validate`], which runs each section's checks. Knows every section's entry point,
//! none of their keys (the flat spellings are listed in `cassandra.rs` and `sql.rs`).

use super::error::{ConfigError, Deprecated};
use super::{assertions, cassandra, clients, sql, Config};
use std::path::Path;

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_warnings(path).map(|(config, _)| config)
    }

    /// [`Config::load`], also listing the keys written under a deprecated name.
    pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<Deprecated>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "",
                format!("cannot read config file {}: {e}", path.display()),
            )
        })?;
        Config::parse_with_warnings(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_with_warnings(text).map(|(config, _)| config)
    }

    /// [`Config::parse`], also listing the keys written under a deprecated name. An error
    /// about such a key names the key and says how the file spelled it.
    pub fn parse_with_warnings(text: &str) -> Result<(Config, Vec<Deprecated>), ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("", e.message().trim()))?;
        // `tls`, `tls_ca_file` and the timeouts are keys of both the SQL sections and
        // `[store.cassandra]`: written flat, they belong to the kind the file chose.
        let (moved, deprecated) = match sql::kind_in(&table) {
            Some(dialect) => (sql::lift_flat_keys(&mut table, dialect)?, Vec::new()),
            None => (Vec::new(), cassandra::lift_flat_keys(&mut table)?),
        };
        let config: Config = serde_path_to_error::deserialize(table)
            .map_err(|e| {
                let key = e.path().to_string();
                let key = if key == "." { String::new() } else { key };
                ConfigError::new(key, e.into_inner().message().trim().to_owned())
            })
            .and_then(|config: Config| config.validate().map(|()| config))
            .map_err(|e| name_old_spelling(e, &deprecated, &moved))?;
        Ok((config, deprecated))
    }

    /// Checks what types alone cannot: ranges, references between keys, uniqueness.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.log.validate()?;
        self.store.validate()?;
        self.tokens.validate()?;
        self.security.validate()?;
        self.admin
            .validate(self.server.listen, self.server.listen_plain)?;
        self.authorize.validate()?;
        self.oidc.validate()?;
        self.assertions.validate()?;
        assertions::validate_issuers(&self.assertion_issuers)?;
        clients::validate_all(&self.clients, &self.users)?;
        self.issuers_are_not_clients()?;
        self.signing_keys_cover_clients()
    }

    /// A JWT assertion's `iss` names either a client (its own assertion) or a trusted
    /// issuer, never both: the client's keys would be chosen and the issuer's never used.
    fn issuers_are_not_clients(&self) -> Result<(), ConfigError> {
        for (i, is) in self.assertion_issuers.iter().enumerate() {
            if self.clients.iter().any(|c| c.id == is.issuer) {
                return Err(ConfigError::new(
                    format!("assertion_issuers[{i}].issuer"),
                    format!(
                        "{:?} is also a client id; an assertion's iss must name one or the other",
                        is.issuer
                    ),
                ));
            }
        }
        Ok(())
    }

    /// With key files, every client's `id_token_signing_alg` needs a file of that algorithm
    /// (generated keys cover both).
    fn signing_keys_cover_clients(&self) -> Result<(), ConfigError> {
        if self.oidc.signing_key_files.is_empty() {
            return Ok(());
        }
        let algs: Vec<_> = self
            .oidc
            .signing_key_files
            .iter()
            .filter_map(|p| super::oidc::read_signing_key(p).ok().map(|(alg, _)| alg))
            .collect();
        for (i, c) in self.clients.iter().enumerate() {
            if !algs.contains(&c.id_token_signing_alg) {
                return Err(ConfigError::new(
                    format!("clients[{i}].id_token_signing_alg"),
                    format!(
                        "{} needs a key of that algorithm in oidc.signing_key_files",
                        c.id_token_signing_alg
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An error about a key the file gave flat in `[store]` also names that spelling, so the
/// operator finds the line: `deprecated` ones (Cassandra's) say so, `moved` ones (the SQL
/// stores', an accepted spelling) as (flat, nested) names do not.
fn name_old_spelling(
    mut e: ConfigError,
    deprecated: &[Deprecated],
    moved: &[(String, String)],
) -> ConfigError {
    let under = |key: &str, new: &str| {
        key.strip_prefix(new)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
    };
    if let Some(d) = deprecated.iter().find(|d| under(&e.key, &d.new)) {
        e.message = format!("{} (written as {}, which is deprecated)", e.message, d.old);
    } else if let Some((old, _)) = moved.iter().find(|(_, new)| under(&e.key, new)) {
        e.message = format!("{} (written as {old})", e.message);
    }
    e
}

/// Moves each of `keys` found in the parsed file's `[store]` into `[store.<section>]`
/// before the file is deserialized, and lists what it moved as (flat, nested) names. A key
/// given both ways is refused at its nested name, with `both(flat, nested)` as the message.
pub(super) fn move_flat_keys(
    root: &mut toml::Table,
    section: &str,
    keys: &[&str],
    both: impl Fn(&str, &str) -> String,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(toml::Value::Table(store)) = root.get_mut("store") else {
        return Ok(Vec::new()); // no [store], or not a table: serde says so
    };
    let mut moved = Vec::new();
    for &key in keys {
        let Some(value) = store.remove(key) else {
            continue;
        };
        let old = format!("store.{key}");
        let new = format!("store.{section}.{key}");
        let toml::Value::Table(nested) = store
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        else {
            return Err(ConfigError::new(
                format!("store.{section}"),
                format!("must be a table ([store.{section}]); {old} belongs in it"),
            ));
        };
        if nested.contains_key(key) {
            return Err(ConfigError::new(new.clone(), both(&old, &new)));
        }
        nested.insert(key.to_owned(), value);
        moved.push((old, new));
    }
    Ok(moved)
}

/// Parses `text`, which must fail with an error about `key`.
#[cfg(test)]
pub(super) fn err_at(text: &str, key: &str) -> ConfigError {
    match Config::parse(text) {
        Ok(_) => panic!("expected an error at {key} for {text}"),
        Err(e) => {
            assert_eq!(e.key, key, "{text}: {e}");
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cassandra::{FLAT_KEYS, NESTED_ONLY};
    use super::*;

    const NESTED: &str = "[store]\nkind = \"cassandra\"\nnegative_cache_ms = 5\n\
        [store.cassandra]\nkeyspace = \"ks1\"\ncontact_points = [\"10.0.0.1:9042\"]\n\
        read_consistency = \"LOCAL_QUORUM\"\nusername = \"u\"\npassword = \"p\"\n\
        tls = true\ntls_verify = false\nwrite_batching = \"unlogged:4\"\n";

    const FLAT: &str = "[store]\nkind = \"cassandra\"\nnegative_cache_ms = 5\n\
        keyspace = \"ks1\"\ncontact_points = [\"10.0.0.1:9042\"]\n\
        read_consistency = \"LOCAL_QUORUM\"\nusername = \"u\"\npassword = \"p\"\n\
        tls = true\ntls_verify = false\nwrite_batching = \"unlogged:4\"\n";

    #[test]
    fn flat_cassandra_keys_are_accepted_and_equal_the_nested_form() {
        let (nested, none) = Config::parse_with_warnings(NESTED).expect("nested");
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(nested.store.cassandra.keyspace, "ks1");
        let (flat, warnings) = Config::parse_with_warnings(FLAT).expect("flat");
        assert_eq!(flat, nested);
        let listed: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            listed,
            [
                "contact_points",
                "keyspace",
                "username",
                "password",
                "read_consistency",
                "tls",
                "tls_verify",
                "write_batching"
            ]
            .map(|k| format!("store.{k} is deprecated; use store.cassandra.{k}"))
        );
    }

    #[test]
    fn every_flat_key_is_accepted_with_a_warning() {
        let mut flat = String::from("[store]\nkind = \"cassandra\"\n");
        let defaults =
            toml::Table::try_from(super::super::CassandraConfig::default()).expect("serialize");
        for (key, value) in defaults
            .iter()
            .filter(|(k, _)| !NESTED_ONLY.contains(&k.as_str()))
        {
            flat.push_str(&format!("{key} = {value}\n"));
        }
        let (c, warnings) = Config::parse_with_warnings(&flat).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.store.cassandra, super::super::CassandraConfig::default());
        let mut old: Vec<&str> = warnings.iter().map(|d| d.old.as_str()).collect();
        old.sort_unstable();
        let mut want: Vec<String> = FLAT_KEYS.iter().map(|k| format!("store.{k}")).collect();
        want.sort_unstable();
        assert_eq!(old, want);
    }

    #[test]
    fn a_key_given_both_ways_is_refused_naming_both() {
        for text in [
            "[store]\nkeyspace = \"a\"\n[store.cassandra]\nkeyspace = \"b\"\n",
            "[store]\nkeyspace = \"a\"\ncassandra.keyspace = \"b\"\n",
        ] {
            let e = err_at(text, "store.cassandra.keyspace");
            assert!(e.message.contains("store.keyspace"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_stay_refused_flat_and_nested() {
        for (text, key) in [
            (
                "[store]\nkind = \"cassandra\"\n[store.cassandra]\nkeyspce = \"x\"\n",
                "store.cassandra.keyspce",
            ),
            // A shared-store key is not a Cassandra key.
            (
                "[store.cassandra]\nnegative_cache_ms = 5\n",
                "store.cassandra.negative_cache_ms",
            ),
            ("[store]\nkeyspce = \"x\"\n", "store.keyspce"),
        ] {
            err_at(text, key);
        }
    }

    #[test]
    fn an_error_about_a_flat_key_names_the_new_key_and_the_old_spelling() {
        for (text, key, old) in [
            (
                "[store]\nkind = \"cassandra\"\nread_consistency = \"ANY\"\n",
                "store.cassandra.read_consistency",
                "store.read_consistency",
            ),
            (
                "[store]\nkind = \"cassandra\"\ncontact_points = [\"nohost\"]\n",
                "store.cassandra.contact_points[0]",
                "store.contact_points",
            ),
            (
                "[store]\ntls = \"yes\"\n",
                "store.cassandra.tls",
                "store.tls",
            ),
        ] {
            let e = err_at(text, key);
            let note = format!("(written as {old}, which is deprecated)");
            assert!(e.message.ends_with(&note), "{e}");
        }
        // Not a prefix match: tls_verify is not tls.
        let e = err_at(
            "[store]\ntls = true\n[store.cassandra]\ntls_verify = 1\n",
            "store.cassandra.tls_verify",
        );
        assert!(!e.message.contains("written as"), "{e}");
    }

    #[test]
    fn syntax_errors_have_no_key() {
        err_at("[server\n", "");
    }
}
