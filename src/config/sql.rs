//! `[store.postgres]` and `[store.mysql]`: the keys only the relational stores read (the
//! database URL, the pool, timeouts, TLS), one [`SqlConfig`] per section with the section's
//! own default URL, their checks (a URL of the other database's scheme is refused), the
//! driver's options built from them (`StoreConfig::sql_options`), and the flat `[store]`
//! spelling of these keys that operators coming from the gateway write ([`lift_flat_keys`]).
//! Touches `[store]` only to move those flat keys, and only when `kind` names a SQL store.

use super::error::ConfigError;
use super::load::move_flat_keys;
use super::store::check_range;
#[cfg(feature = "sql")]
use super::store::StoreConfig;
use crate::oauth::secret::Redacted;
use serde::{Deserialize, Deserializer, Serialize};

/// Which relational database a SQL store talks to (the `store.kind` that names it).
pub use tessera_storage::store::SqlDialect;

/// The keys of `[store.postgres]` or `[store.mysql]`. Deserialized through
/// [`postgres_section`] / [`mysql_section`], because the default URL depends on which
/// section it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlConfig {
    /// `postgres://user:password@host:5432/database` or `mysql://...`; redacted in `Debug`
    /// because it may carry the password.
    pub url: Redacted<String>,
    /// Connections this node keeps open to the database.
    pub pool_size: u32,
    /// To open a connection, and to wait for a free one.
    pub connect_timeout_ms: u64,
    /// Per store operation (a write-behind batch, a read-through, a claim).
    pub request_timeout_ms: u64,
    /// Require TLS and verify the server's certificate and host name.
    pub tls: bool,
    /// PEM CA bundle to verify the server against; empty: the system's roots.
    pub tls_ca_file: String,
}

impl SqlConfig {
    /// The defaults of the section for `dialect`: a local database `tessera`, user `tessera`.
    pub fn defaults(dialect: SqlDialect) -> SqlConfig {
        let url = match dialect {
            SqlDialect::Postgres => "postgres://tessera@127.0.0.1:5432/tessera",
            SqlDialect::Mysql => "mysql://tessera@127.0.0.1:3306/tessera",
        };
        SqlConfig {
            url: url.into(),
            pool_size: 8,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 2_000,
            tls: false,
            tls_ca_file: String::new(),
        }
    }

    pub(super) fn validate(&self, dialect: SqlDialect) -> Result<(), ConfigError> {
        let section = format!("store.{}", dialect.name());
        if !dialect.accepts_url(&self.url) {
            return Err(ConfigError::new(
                format!("{section}.url"),
                url_problem(dialect, &self.url),
            ));
        }
        check_range(
            &format!("{section}.pool_size"),
            u64::from(self.pool_size),
            1..=1024,
        )?;
        for (key, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("request_timeout_ms", self.request_timeout_ms),
        ] {
            check_range(&format!("{section}.{key}"), v, 1..=600_000)?;
        }
        if !self.tls && !self.tls_ca_file.is_empty() {
            return Err(ConfigError::new(
                format!("{section}.tls_ca_file"),
                format!("is used only with {section}.tls = true"),
            ));
        }
        Ok(())
    }
}

/// Why `url` is not one `dialect` accepts. Names the schemes, never the URL itself, which
/// may carry a password.
fn url_problem(dialect: SqlDialect, url: &str) -> String {
    let schemes = dialect
        .schemes()
        .iter()
        .map(|s| format!("{s}://"))
        .collect::<Vec<_>>()
        .join(" or ");
    let example = match dialect {
        SqlDialect::Postgres => "postgres://user:password@host:5432/database",
        SqlDialect::Mysql => "mysql://user:password@host:3306/database",
    };
    let wanted = format!("must be a {schemes} URL, e.g. {example}");
    if url.trim().is_empty() {
        return format!("is empty; {wanted}");
    }
    // The likeliest slip: the other database's URL under this kind.
    let other = match dialect {
        SqlDialect::Postgres => SqlDialect::Mysql,
        SqlDialect::Mysql => SqlDialect::Postgres,
    };
    if other.accepts_url(url) {
        return format!(
            "{wanted}; a {}:// URL is for store.kind = \"{}\"",
            url.split_once("://").map_or("", |(scheme, _)| scheme),
            other.name()
        );
    }
    wanted
}

/// A section as written: every key optional, so the missing ones take the defaults of the
/// section they are missing from (a derived `Default` cannot know which). Unknown keys are
/// refused, naming them, as in `[store.cassandra]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    url: Option<Redacted<String>>,
    pool_size: Option<u32>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    tls: Option<bool>,
    tls_ca_file: Option<String>,
}

impl Written {
    fn over(self, d: SqlConfig) -> SqlConfig {
        SqlConfig {
            url: self.url.unwrap_or(d.url),
            pool_size: self.pool_size.unwrap_or(d.pool_size),
            connect_timeout_ms: self.connect_timeout_ms.unwrap_or(d.connect_timeout_ms),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(d.request_timeout_ms),
            tls: self.tls.unwrap_or(d.tls),
            tls_ca_file: self.tls_ca_file.unwrap_or(d.tls_ca_file),
        }
    }
}

/// `[store.postgres]`, defaults filled in.
pub(super) fn postgres_section<'de, D: Deserializer<'de>>(d: D) -> Result<SqlConfig, D::Error> {
    Written::deserialize(d).map(|w| w.over(SqlConfig::defaults(SqlDialect::Postgres)))
}

/// `[store.mysql]`, defaults filled in.
pub(super) fn mysql_section<'de, D: Deserializer<'de>>(d: D) -> Result<SqlConfig, D::Error> {
    Written::deserialize(d).map(|w| w.over(SqlConfig::defaults(SqlDialect::Mysql)))
}

#[cfg(feature = "sql")]
impl SqlConfig {
    /// The driver's settings for `dialect` (validated: the URL's scheme fits it).
    pub fn options(&self, dialect: SqlDialect) -> tessera_storage::store::sql::SqlOptions {
        use std::time::Duration;
        let mut o = tessera_storage::store::sql::SqlOptions::new(dialect, self.url.0.clone());
        o.pool_size = self.pool_size;
        o.connect_timeout = Duration::from_millis(self.connect_timeout_ms);
        o.request_timeout = Duration::from_millis(self.request_timeout_ms);
        o.tls = self.tls;
        o.tls_ca_file = (!self.tls_ca_file.is_empty()).then(|| self.tls_ca_file.clone().into());
        o
    }
}

#[cfg(feature = "sql")]
impl StoreConfig {
    /// The driver's settings from `[store.postgres]` or `[store.mysql]`, whichever `kind`
    /// names; `None` for the other kinds.
    pub fn sql_options(&self) -> Option<tessera_storage::store::sql::SqlOptions> {
        self.sql().map(|(dialect, c)| c.options(dialect))
    }
}

/// The SQL dialect that `[store] kind` names in the parsed file, if any. Read before
/// deserializing, to know where flat keys go.
pub(super) fn kind_in(root: &toml::Table) -> Option<SqlDialect> {
    let kind = root.get("store")?.as_table()?.get("kind")?.as_str()?;
    [SqlDialect::Postgres, SqlDialect::Mysql]
        .into_iter()
        .find(|d| d.name() == kind)
}

/// The keys of [`SqlConfig`], which may also be written flat in `[store]` (as in the
/// gateway's configuration: `url = ...` under the store).
pub(super) const KEYS: &[&str] = &[
    "url",
    "pool_size",
    "connect_timeout_ms",
    "request_timeout_ms",
    "tls",
    "tls_ca_file",
];

/// Moves each of [`KEYS`] found in the parsed file's `[store]` into `[store.<dialect>]`,
/// before the file is deserialized, and lists what it moved as (flat, nested) names. This is
/// an accepted spelling, not a deprecated one, so nothing is warned about; a key given both
/// ways is refused, naming both spellings.
pub(super) fn lift_flat_keys(
    root: &mut toml::Table,
    dialect: SqlDialect,
) -> Result<Vec<(String, String)>, ConfigError> {
    move_flat_keys(root, dialect.name(), KEYS, |old, new| {
        format!("also given as {old}; write it once, either flat in [store] or as {new}")
    })
}

#[cfg(test)]
mod tests {
    use super::super::load::err_at;
    use super::super::{Config, StoreKind};
    use super::*;

    const DIALECTS: [SqlDialect; 2] = [SqlDialect::Postgres, SqlDialect::Mysql];

    fn store(dialect: SqlDialect, body: &str) -> String {
        format!("[store]\nkind = \"{}\"\n{body}\n", dialect.name())
    }

    fn section(c: &Config, dialect: SqlDialect) -> &SqlConfig {
        match dialect {
            SqlDialect::Postgres => &c.store.postgres,
            SqlDialect::Mysql => &c.store.mysql,
        }
    }

    #[test]
    fn defaults_are_a_local_database_per_kind() {
        let c = Config::parse("[store]\nkind = \"postgres\"\n").expect("postgres");
        assert_eq!(c.store.kind, StoreKind::Postgres);
        assert!(c.store.kind.is_shared());
        let pg = &c.store.postgres;
        assert_eq!(pg.url.as_str(), "postgres://tessera@127.0.0.1:5432/tessera");
        assert_eq!(
            (pg.pool_size, pg.connect_timeout_ms, pg.request_timeout_ms),
            (8, 5_000, 2_000)
        );
        assert!(!pg.tls && pg.tls_ca_file.is_empty());
        let c = Config::parse("[store]\nkind = \"mysql\"\n").expect("mysql");
        assert_eq!(
            c.store.mysql.url.as_str(),
            "mysql://tessera@127.0.0.1:3306/tessera"
        );
        assert_eq!(c.store.mysql, SqlConfig::defaults(SqlDialect::Mysql));
        assert_eq!(c.store.postgres, SqlConfig::defaults(SqlDialect::Postgres));
    }

    #[test]
    fn a_partial_section_keeps_its_own_default_url() {
        let c = Config::parse("[store]\nkind = \"mysql\"\n[store.mysql]\npool_size = 3\n")
            .expect("parse");
        assert_eq!(c.store.mysql.pool_size, 3);
        assert_eq!(
            c.store.mysql.url.as_str(),
            "mysql://tessera@127.0.0.1:3306/tessera"
        );
    }

    #[test]
    fn every_key_can_be_written_in_its_section() {
        for dialect in DIALECTS {
            let mut text = store(dialect, &format!("[store.{}]", dialect.name()));
            let written = SqlConfig {
                url: format!("{}://u:p@db:1/x", dialect.schemes()[1]).into(),
                pool_size: 2,
                connect_timeout_ms: 3,
                request_timeout_ms: 4,
                tls: true,
                tls_ca_file: "ca.pem".to_owned(),
            };
            let table = toml::Table::try_from(&written).expect("serialize");
            let keys: Vec<&str> = table.keys().map(String::as_str).collect();
            let mut want = KEYS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "KEYS lists every key of SqlConfig");
            for (key, value) in &table {
                text.push_str(&format!("{key} = {value}\n"));
            }
            let c = Config::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(section(&c, dialect), &written);
        }
    }

    #[test]
    fn a_url_of_the_wrong_scheme_is_refused_naming_the_kinds_url_key() {
        for (dialect, url) in [
            (
                SqlDialect::Postgres,
                "mysql://tessera:pw@127.0.0.1:3306/tessera",
            ),
            (SqlDialect::Postgres, "mariadb://tessera@db/tessera"),
            (SqlDialect::Postgres, "http://db/tessera"),
            (SqlDialect::Postgres, "127.0.0.1:5432"),
            (SqlDialect::Postgres, ""),
            (
                SqlDialect::Mysql,
                "postgres://tessera:pw@127.0.0.1:5432/tessera",
            ),
            (SqlDialect::Mysql, "postgresql://db/tessera"),
            (SqlDialect::Mysql, "mysql://"),
        ] {
            let key = format!("store.{}.url", dialect.name());
            let text = store(
                dialect,
                &format!("[store.{}]\nurl = \"{url}\"", dialect.name()),
            );
            let e = err_at(&text, &key);
            for scheme in dialect.schemes() {
                assert!(e.message.contains(&format!("{scheme}://")), "{e}");
            }
            assert!(!e.message.contains("pw"), "the password is not echoed: {e}");
        }
        let e = err_at(
            "[store]\nkind = \"postgres\"\n[store.postgres]\nurl = \"mysql://db/t\"\n",
            "store.postgres.url",
        );
        assert!(e.message.contains("store.kind = \"mysql\""), "{e}");
    }

    #[test]
    fn both_schemes_of_each_kind_are_accepted_in_any_case() {
        for (dialect, url) in [
            (SqlDialect::Postgres, "postgres://db/t"),
            (
                SqlDialect::Postgres,
                "PostgreSQL://u:p@db:5432/t?sslmode=disable",
            ),
            (SqlDialect::Mysql, "mysql://db/t"),
            (SqlDialect::Mysql, "MariaDB://u@db:3306/t"),
        ] {
            let text = store(dialect, &format!("url = \"{url}\""));
            let c = Config::parse(&text).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(section(&c, dialect).url.as_str(), url);
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_nested_key() {
        for dialect in DIALECTS {
            let name = dialect.name();
            for (text, key) in [
                ("pool_size = 0", "pool_size"),
                ("pool_size = 1025", "pool_size"),
                ("pool_size = -1", "pool_size"),
                ("connect_timeout_ms = 0", "connect_timeout_ms"),
                ("request_timeout_ms = 600001", "request_timeout_ms"),
                ("tls = \"yes\"", "tls"),
                ("tls_ca_file = \"ca.pem\"", "tls_ca_file"),
            ] {
                // Nested, dotted in [store], and flat in [store].
                for body in [
                    format!("[store.{name}]\n{text}"),
                    format!("{name}.{text}"),
                    text.to_owned(),
                ] {
                    err_at(&store(dialect, &body), &format!("store.{name}.{key}"));
                }
            }
        }
    }

    #[test]
    fn unknown_keys_under_a_sql_section_are_refused_naming_them() {
        for dialect in DIALECTS {
            let name = dialect.name();
            for (body, key) in [
                (
                    format!("[store.{name}]\nurll = \"x\""),
                    format!("store.{name}.urll"),
                ),
                // A Cassandra key is not a SQL key, nested or flat.
                (
                    format!("[store.{name}]\nkeyspace = \"x\""),
                    format!("store.{name}.keyspace"),
                ),
                ("keyspace = \"x\"".to_owned(), "store.keyspace".to_owned()),
                // Nor is a shared-store key.
                (
                    format!("[store.{name}]\nnegative_cache_ms = 5"),
                    format!("store.{name}.negative_cache_ms"),
                ),
            ] {
                let e = err_at(&store(dialect, &body), &key);
                assert!(e.message.contains("unknown field"), "{e}");
            }
        }
    }

    #[test]
    fn flat_keys_are_moved_into_the_kinds_section_without_a_warning() {
        for dialect in DIALECTS {
            let name = dialect.name();
            let url = format!("{name}://tessera:secret@10.0.0.5:1234/tokens");
            let settings = format!(
                "url = \"{url}\"\npool_size = 16\nconnect_timeout_ms = 700\n\
                 request_timeout_ms = 800\ntls = true\ntls_ca_file = \"/etc/ca.pem\"\n"
            );
            let (flat, warnings) = Config::parse_with_warnings(&store(dialect, &settings))
                .unwrap_or_else(|e| panic!("flat {name}: {e}"));
            assert!(warnings.is_empty(), "{warnings:?}");
            let nested = Config::parse(&store(dialect, &format!("[store.{name}]\n{settings}")))
                .expect("nested");
            assert_eq!(flat, nested);
            let c = section(&flat, dialect);
            assert_eq!(c.url.as_str(), url);
            assert_eq!((c.pool_size, c.tls), (16, true));
            // The Cassandra section keeps its defaults though tls, the timeouts and
            // tls_ca_file are Cassandra keys too.
            assert_eq!(
                flat.store.cassandra,
                super::super::CassandraConfig::default()
            );
        }
    }

    #[test]
    fn a_key_given_flat_and_nested_is_refused_naming_both() {
        for dialect in DIALECTS {
            let name = dialect.name();
            for body in [
                format!("pool_size = 2\n[store.{name}]\npool_size = 3"),
                format!("pool_size = 2\n{name}.pool_size = 3"),
            ] {
                let e = err_at(&store(dialect, &body), &format!("store.{name}.pool_size"));
                assert!(e.message.contains("store.pool_size"), "{e}");
                assert!(!e.message.contains("deprecated"), "{e}");
            }
        }
    }

    #[test]
    fn an_error_about_a_flat_key_says_how_it_was_written() {
        let e = err_at(
            "[store]\nkind = \"mysql\"\npool_size = 0\n",
            "store.mysql.pool_size",
        );
        assert!(e.message.ends_with("(written as store.pool_size)"), "{e}");
    }

    #[test]
    fn a_sql_section_is_checked_only_when_its_kind_is_chosen() {
        Config::parse("[store]\nkind = \"mysql\"\n[store.postgres]\nurl = \"mysql://db/t\"\n")
            .expect("[store.postgres] is not read with kind = mysql");
        Config::parse("[store.mysql]\npool_size = 0\n").expect("nor with the default kind");
    }

    #[test]
    fn cassandra_flat_keys_are_still_lifted_for_kind_cassandra() {
        let (c, warnings) = Config::parse_with_warnings(
            "[store]\nkind = \"cassandra\"\ntls = true\nconnect_timeout_ms = 700\nkeyspace = \"k\"\n",
        )
        .expect("parse");
        assert!(c.store.cassandra.tls);
        assert_eq!(c.store.cassandra.connect_timeout_ms, 700);
        assert_eq!(c.store.cassandra.keyspace, "k");
        assert_eq!(c.store.postgres, SqlConfig::defaults(SqlDialect::Postgres));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings
            .iter()
            .all(|w| w.new.starts_with("store.cassandra.")));
    }

    #[test]
    fn debug_never_shows_the_url() {
        let c =
            Config::parse("[store]\nkind = \"postgres\"\nurl = \"postgres://u:hunter2-db@db/t\"\n")
                .expect("parse");
        assert!(!format!("{c:?}").contains("hunter2-db"));
    }

    #[cfg(feature = "sql")]
    #[test]
    fn sql_options_carry_the_kinds_section() {
        use std::time::Duration;
        let c = Config::parse(
            "[store]\nkind = \"mysql\"\n[store.mysql]\nurl = \"mariadb://u:pw@db/t\"\n\
             pool_size = 3\nrequest_timeout_ms = 7\ntls = true\ntls_ca_file = \"ca.pem\"\n\
             [store.postgres]\npool_size = 99\n",
        )
        .expect("parse");
        let o = c.store.sql_options().expect("a SQL kind");
        assert_eq!(o.dialect, SqlDialect::Mysql);
        assert_eq!(o.url, "mariadb://u:pw@db/t");
        assert_eq!(o.pool_size, 3);
        assert_eq!(o.request_timeout, Duration::from_millis(7));
        assert_eq!(o.connect_timeout, Duration::from_millis(5_000));
        assert_eq!(o.tls_ca_file, Some("ca.pem".into()));
        assert!(!format!("{o:?}").contains("pw@"));
        let cassandra = Config::parse("[store]\nkind = \"cassandra\"\n").expect("parse");
        assert!(cassandra.store.sql_options().is_none());
    }
}
