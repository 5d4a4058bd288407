//! The token tables and how a row becomes a [`StoredToken`]: which table holds which
//! record kind, the columns they share, each dialect's placeholders, and the statements
//! built once per store from them.
//!
//! A leaf: no I/O, no other file of the backend.

use crate::key::TokenKey;
use crate::record::{GrantId, TokenKind};
use crate::store::{SqlDialect, StoredToken, Token};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::sync::Arc;

/// One table of token-like records; every one has [`COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Table {
    pub name: &'static str,
    pub kind: TokenKind,
}

/// Every table of token-like records, each for one kind.
pub(super) const TOKEN_TABLES: [Table; 5] = [
    Table {
        name: "access_tokens",
        kind: TokenKind::Access,
    },
    Table {
        name: "refresh_tokens",
        kind: TokenKind::Refresh,
    },
    Table {
        name: "authorization_codes",
        kind: TokenKind::Code,
    },
    Table {
        name: "sessions",
        kind: TokenKind::Session,
    },
    Table {
        name: "consents",
        kind: TokenKind::Consent,
    },
];

/// The tables a single-use claim consumes its key from (a refresh token, a code).
pub(super) const SINGLE_USE_TABLES: [&str; 2] = ["refresh_tokens", "authorization_codes"];

/// The index into [`TOKEN_TABLES`] of the table holding `kind`; `None` for a used marker,
/// which lives in `used_tokens`, written by the claim (`single_use`).
pub(super) fn table_of(kind: TokenKind) -> Option<usize> {
    TOKEN_TABLES.iter().position(|t| t.kind == kind)
}

/// The columns of every token table, in the order [`token_from_row`] reads them after the
/// `kind` column.
pub(super) const COLUMNS: &str =
    "token_hash, grant_id, client_id, user_name, scope, metadata, issued_at, expires_at";

/// A text column as selected in `d`. MySQL flags a column with a binary collation
/// (`utf8mb4_bin`, chosen so ids compare exactly) as binary, and the driver then refuses
/// to read it as text; converting it in the select gives it a text collation.
pub(super) fn text(d: SqlDialect, column: &str) -> String {
    match d {
        SqlDialect::Postgres => column.to_owned(),
        SqlDialect::Mysql => format!("CONVERT({column} USING utf8mb4)"),
    }
}

/// [`COLUMNS`] as selected in `d` (see [`text`]).
fn select_columns(d: SqlDialect) -> String {
    format!(
        "token_hash, grant_id, {}, {}, {}, {}, issued_at, expires_at",
        text(d, "client_id"),
        text(d, "user_name"),
        text(d, "scope"),
        text(d, "metadata")
    )
}

/// The `n`th (1-based) bind placeholder of `dialect`.
fn ph(dialect: SqlDialect, n: usize) -> String {
    match dialect {
        SqlDialect::Postgres => format!("${n}"),
        SqlDialect::Mysql => "?".to_owned(),
    }
}

/// `sql` written with `?` placeholders, in `d`'s spelling (`$1`, `$2`, ... for PostgreSQL).
pub(super) fn placeholders(d: SqlDialect, sql: &str) -> String {
    match d {
        SqlDialect::Mysql => sql.to_owned(),
        SqlDialect::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            for (n, part) in sql.split('?').enumerate() {
                if n > 0 {
                    out.push_str(&ph(d, n));
                }
                out.push_str(part);
            }
            out
        }
    }
}

/// An integer literal that decodes as a 64-bit integer in `dialect` (PostgreSQL types a
/// bare literal `int4`).
fn int8(dialect: SqlDialect, v: u8) -> String {
    match dialect {
        SqlDialect::Postgres => format!("{v}::int8"),
        SqlDialect::Mysql => format!("CAST({v} AS SIGNED)"),
    }
}

/// Statement texts that depend on the dialect, built once per store. (sqlx prepares each
/// distinct text once per connection and keeps it.)
pub(super) struct Statements {
    /// `kind, COLUMNS` of the live row under a key, from whichever table holds it. Binds:
    /// PostgreSQL `(key, now)`; MySQL `(key, now)` once per table.
    pub get: String,
    /// `token_hash` of the live rows of a grant in every table. Binds as for `get`, with
    /// the grant in place of the key.
    pub grant_keys: String,
    /// `kind, COLUMNS` of the live rows of one table (`{table}` filled in per table).
    pub scan: Vec<String>,
}

impl Statements {
    pub(super) fn new(d: SqlDialect) -> Statements {
        let union = |select: &dyn Fn(&Table) -> String| -> String {
            TOKEN_TABLES
                .iter()
                .map(select)
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        };
        let (p1, p2) = (ph(d, 1), ph(d, 2));
        let columns = select_columns(d);
        Statements {
            get: union(&|t| {
                format!(
                    "SELECT {} AS kind, {columns} FROM {} WHERE token_hash = {p1} AND expires_at > {p2}",
                    int8(d, t.kind as u8),
                    t.name
                )
            }),
            grant_keys: union(&|t| {
                format!(
                    "SELECT token_hash FROM {} WHERE grant_id = {p1} AND expires_at > {p2}",
                    t.name
                )
            }),
            scan: TOKEN_TABLES
                .iter()
                .map(|t| {
                    format!(
                        "SELECT {} AS kind, {columns} FROM {} WHERE expires_at > {p1}",
                        int8(d, t.kind as u8),
                        t.name
                    )
                })
                .collect(),
        }
    }
}

/// How many times a statement built by [`Statements::union`]-style text takes its binds:
/// PostgreSQL numbers them (`$1` again and again), MySQL takes each `?` in turn.
pub(super) fn union_binds(d: SqlDialect) -> usize {
    match d {
        SqlDialect::Postgres => 1,
        SqlDialect::Mysql => TOKEN_TABLES.len(),
    }
}

/// A stored key as a [`TokenKey`]; `None` for bytes of the wrong length (not Tessera's).
pub(super) fn key_of(bytes: &[u8]) -> Option<TokenKey> {
    <[u8; 16]>::try_from(bytes).ok().map(TokenKey::from_bytes)
}

/// A `u32` column value stored as a signed 64-bit integer.
fn secs(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

/// Reads `kind, COLUMNS` (as [`Statements`] select them). `None` for a row that is not
/// Tessera's (a key of the wrong length, an unknown kind).
pub(super) fn token_from_row<'r, R>(
    row: &'r R,
) -> Result<Option<(TokenKey, StoredToken)>, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    &'r str: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: i64 = row.try_get(0)?;
    let key: &[u8] = row.try_get(1)?;
    let (Some(kind), Some(key)) = (
        u8::try_from(kind).ok().and_then(TokenKind::from_u8),
        key_of(key),
    ) else {
        return Ok(None);
    };
    let grant: i64 = row.try_get(2)?;
    let client: &str = row.try_get(3)?;
    let user: Option<&str> = row.try_get(4)?;
    let scope: &str = row.try_get(5)?;
    let meta: Option<&str> = row.try_get(6)?;
    let issued_at: i64 = row.try_get(7)?;
    let expires_at: i64 = row.try_get(8)?;
    Ok(Some((
        key,
        Token {
            kind,
            grant: GrantId(grant as u64),
            client: Arc::from(client),
            user: user.map(Arc::from),
            scope: Arc::from(scope),
            meta: meta.map(Arc::from),
            issued_at: secs(issued_at),
            expires_at: secs(expires_at),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_but_the_used_marker_has_one_table() {
        for kind in [
            TokenKind::Access,
            TokenKind::Refresh,
            TokenKind::Code,
            TokenKind::Session,
            TokenKind::Consent,
        ] {
            let i = table_of(kind).expect("a table");
            assert_eq!(TOKEN_TABLES[i].kind, kind);
        }
        assert_eq!(table_of(TokenKind::Used), None);
    }

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        assert_eq!(
            placeholders(SqlDialect::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(placeholders(SqlDialect::Mysql, "a = ?"), "a = ?");
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let pg = Statements::new(SqlDialect::Postgres);
        assert_eq!(pg.get.matches("$1").count(), 5);
        assert!(!pg.get.contains('?'));
        let my = Statements::new(SqlDialect::Mysql);
        assert_eq!(
            my.get.matches('?').count(),
            2 * union_binds(SqlDialect::Mysql)
        );
        assert!(!my.get.contains('$'));
    }
}
