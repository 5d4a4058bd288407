//! How to reach the database: [`SqlOptions`] (built by the server from `[store.postgres]` or
//! `[store.mysql]`) and turning them into a connection pool — the URL, TLS, the pool's size
//! and timeouts, and the session settings every connection gets.
//!
//! Touches only the driver's connect options and pool builder; no table. Runs on the
//! store's runtime (called from [`super::SqlStore::open`] and `migrate`).

use super::Pool;
use crate::store::SqlDialect;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Executor};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How to reach the database. Its `Debug` never shows the URL's password.
#[derive(Clone, PartialEq, Eq)]
pub struct SqlOptions {
    pub dialect: SqlDialect,
    /// `postgres://user:pass@host:5432/db` or `mysql://user:pass@host:3306/db`.
    pub url: String,
    /// Connections this node keeps to the database.
    pub pool_size: u32,
    /// To open a connection (and to wait for a free one).
    pub connect_timeout: Duration,
    /// Per store operation (a write-behind batch, a read, a claim).
    pub request_timeout: Duration,
    /// Require TLS and verify the server's certificate and name.
    pub tls: bool,
    /// PEM CA bundle to verify the server against; the system's roots when absent.
    pub tls_ca_file: Option<PathBuf>,
}

impl SqlOptions {
    /// Options with the defaults the configuration documents.
    pub fn new(dialect: SqlDialect, url: impl Into<String>) -> SqlOptions {
        SqlOptions {
            dialect,
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            tls: false,
            tls_ca_file: None,
        }
    }

    /// The URL with any password replaced by `***`, for errors and logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Debug for SqlOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlOptions")
            .field("dialect", &self.dialect)
            .field("url", &self.redacted_url())
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

/// `scheme://user:***@host/...?password=***`: the password hidden wherever a URL may carry
/// it — between the first `:` after the scheme and the last `@` before the path, and in
/// any query parameter whose name contains `password` (sqlx reads `?password=` and
/// `?sslpassword=` of PostgreSQL URLs).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = redact_query(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => format!("{scheme}://{userinfo}@{host}{tail}"),
        },
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// `path?a=1&password=x` → `path?a=1&password=***`.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// Opens the pool (connecting once, so a wrong URL or password fails here, at start-up).
pub(super) async fn connect(opts: &SqlOptions) -> Result<Pool, String> {
    let size = opts.pool_size.max(1);
    match opts.dialect {
        SqlDialect::Postgres => {
            let mut o = PgConnectOptions::from_str(&opts.url).map_err(|e| e.to_string())?;
            if opts.tls {
                o = o.ssl_mode(PgSslMode::VerifyFull);
                if let Some(ca) = &opts.tls_ca_file {
                    o = o.ssl_root_cert(ca);
                }
            }
            // Statements are logged by the driver at debug only when slow; never the values.
            // A lock wait longer than the operation's own timeout only holds a connection
            // after the caller has given up: the server ends it too.
            o = o.disable_statement_logging().options([(
                "lock_timeout",
                format!("{}ms", opts.request_timeout.as_millis().max(1)),
            )]);
            let pool = PgPoolOptions::new()
                .max_connections(size)
                .min_connections(1)
                .acquire_timeout(opts.connect_timeout)
                .test_before_acquire(false)
                .connect_with(o)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Pool::Postgres(pool))
        }
        SqlDialect::Mysql => {
            let mut o =
                MySqlConnectOptions::from_str(&mysql_url(&opts.url)).map_err(|e| e.to_string())?;
            if opts.tls {
                o = o.ssl_mode(MySqlSslMode::VerifyIdentity);
                if let Some(ca) = &opts.tls_ca_file {
                    o = o.ssl_ca(ca);
                }
            }
            o = o.disable_statement_logging().charset("utf8mb4");
            // Whole seconds, at least 1 (as for PostgreSQL's lock_timeout above).
            let lock_wait = opts.request_timeout.as_secs_f64().ceil().max(1.0) as u64;
            let pool = MySqlPoolOptions::new()
                .max_connections(size)
                .min_connections(1)
                .acquire_timeout(opts.connect_timeout)
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        // READ COMMITTED: a locking read or delete locks the rows it touches
                        // and no gaps, so the purge's range reads never hold up a token
                        // insert (at REPEATABLE READ, next-key locks would).
                        conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .await?;
                        let wait = format!("SET SESSION innodb_lock_wait_timeout = {lock_wait}");
                        conn.execute(wait.as_str()).await?;
                        Ok(())
                    })
                })
                .connect_with(o)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Pool::Mysql(pool))
        }
    }
}

/// The driver knows `mysql://` only; MariaDB users write `mariadb://` too.
fn mysql_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => format!("mysql://{rest}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_never_show_the_password() {
        for (url, shown) in [
            (
                "postgres://tessera:s3cret@db:5432/tessera",
                "postgres://tessera:***@db:5432/tessera",
            ),
            (
                "mysql://u:p%40ss@h/db?ssl-mode=required",
                "mysql://u:***@h/db?ssl-mode=required",
            ),
            ("postgres://db/tessera", "postgres://db/tessera"),
            (
                "postgres://u@db/x?sslmode=require&password=s3cret&sslpassword=s3cret",
                "postgres://u@db/x?sslmode=require&password=***&sslpassword=***",
            ),
            (
                "postgres://db?Password=s3cret",
                "postgres://db?Password=***",
            ),
            ("postgres://u@db/x", "postgres://u@db/x"),
            ("nonsense", "***"),
        ] {
            let o = SqlOptions::new(SqlDialect::Postgres, url);
            assert_eq!(o.redacted_url(), shown);
            assert!(!format!("{o:?}").contains("s3cret"));
        }
    }
}
