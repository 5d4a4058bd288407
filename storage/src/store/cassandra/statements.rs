//! Every CQL statement the store runs on data, prepared once per store at
//! [`super::CassandraStore::open`] with its consistency level: token puts, deletes and
//! reads, the grant links, the revocation log, the clients and users.
//!
//! Touches no row: it only prepares. The other files pick their statements from
//! [`Statements`]; the keyspace and table names appear here and in the schema only.

use super::{CassandraOptions, Level};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};

/// The prepared statements; the token tables' are indexed 0 = `access_tokens`,
/// 1 = `refresh_tokens`.
pub(super) struct Statements {
    pub(super) put: [PreparedStatement; 2],
    pub(super) link: PreparedStatement,
    pub(super) delete: [PreparedStatement; 2],
    pub(super) delete_grant: PreparedStatement,
    pub(super) select_grant: PreparedStatement,
    pub(super) get: [PreparedStatement; 2],
    pub(super) scan: [PreparedStatement; 2],
    pub(super) log_revocation: PreparedStatement,
    pub(super) revocations: PreparedStatement,
    pub(super) clients: PreparedStatement,
    pub(super) put_client: PreparedStatement,
    /// `INSERT ... IF NOT EXISTS`: a new client, of racing creators exactly one.
    pub(super) create_client: PreparedStatement,
    /// `UPDATE ... IF spec = ?`: a client changed only if nobody changed or removed it
    /// since it was read.
    pub(super) replace_client: PreparedStatement,
    /// `DELETE ... IF EXISTS`: conditional like the creation and the replacement, since a
    /// plain write's timestamp does not order it against a lightweight transaction's.
    pub(super) delete_client: PreparedStatement,
    pub(super) users: PreparedStatement,
    pub(super) put_user: PreparedStatement,
    /// `INSERT ... IF NOT EXISTS`: a new user, of racing creators exactly one.
    pub(super) create_user: PreparedStatement,
    /// `UPDATE ... IF spec = ?` (as `replace_client`).
    pub(super) replace_user: PreparedStatement,
    /// `DELETE ... IF EXISTS` (as `delete_client`).
    pub(super) delete_user: PreparedStatement,
    /// `INSERT ... IF NOT EXISTS` into `used_tokens`: the single-use claim.
    pub(super) claim_use: PreparedStatement,
    pub(super) select_used: PreparedStatement,
    /// A setting's value, read at SERIAL (sees every committed compare-and-set).
    pub(super) get_setting: PreparedStatement,
    /// `INSERT ... IF NOT EXISTS` into `settings`: the compare-and-set from absent.
    pub(super) create_setting: PreparedStatement,
    /// `UPDATE ... IF value = ?`: the compare-and-set from a value.
    pub(super) replace_setting: PreparedStatement,
}

async fn prepare(
    session: &Session,
    cql: String,
    level: Level,
) -> Result<PreparedStatement, String> {
    let mut st = session.prepare(cql.as_str()).await.map_err(|e| {
        format!("{e} (preparing `{cql}`; has `tessera migrate` created the schema?)")
    })?;
    st.set_consistency(level.driver());
    Ok(st)
}

pub(super) async fn prepare_all(
    session: &Session,
    opts: &CassandraOptions,
) -> Result<Statements, String> {
    let ks = &opts.keyspace;
    let (r, w) = (opts.read_consistency, opts.write_consistency);
    let tables = ["access_tokens", "refresh_tokens"];
    let mut put = Vec::new();
    let mut delete = Vec::new();
    let mut get = Vec::new();
    let mut scan = Vec::new();
    for t in tables {
        put.push(
            prepare(
                session,
                format!("INSERT INTO {ks}.{t} (key, grant_id, client, record) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"),
                w,
            )
            .await?,
        );
        delete.push(
            prepare(
                session,
                format!("DELETE FROM {ks}.{t} USING TIMESTAMP ? WHERE key = ?"),
                not_a_hint(w),
            )
            .await?,
        );
        get.push(
            prepare(
                session,
                format!("SELECT record FROM {ks}.{t} WHERE key = ?"),
                r,
            )
            .await?,
        );
        let mut s = prepare(session, format!("SELECT key, record FROM {ks}.{t}"), r).await?;
        s.set_page_size(5_000);
        scan.push(s);
    }
    let two = |v: Vec<PreparedStatement>| -> Result<[PreparedStatement; 2], String> {
        v.try_into().map_err(|_| "statement count".to_string())
    };
    Ok(Statements {
        put: two(put)?,
        delete: two(delete)?,
        get: two(get)?,
        scan: two(scan)?,
        link: prepare(
            session,
            format!("INSERT INTO {ks}.grants (grant_id, key, kind, expires_at) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"),
            w,
        )
        .await?,
        delete_grant: prepare(
            session,
            format!("DELETE FROM {ks}.grants USING TIMESTAMP ? WHERE grant_id = ?"),
            not_a_hint(w),
        )
        .await?,
        select_grant: prepare(
            session,
            format!("SELECT key, expires_at, WRITETIME(kind) FROM {ks}.grants WHERE grant_id = ?"),
            r,
        )
        .await?,
        log_revocation: prepare(
            session,
            format!("INSERT INTO {ks}.revocations (bucket, at, target) VALUES (?, ?, ?)"),
            not_a_hint(w),
        )
        .await?,
        revocations: prepare(
            session,
            format!("SELECT at, target FROM {ks}.revocations WHERE bucket = ? AND at > ?"),
            r,
        )
        .await?,
        clients: prepare(session, format!("SELECT id, spec FROM {ks}.clients"), r).await?,
        put_client: prepare(
            session,
            format!("INSERT INTO {ks}.clients (id, spec, updated_at) VALUES (?, ?, toTimestamp(now()))"),
            not_a_hint(w),
        )
        .await?,
        create_client: {
            let mut s = prepare(
                session,
                format!("INSERT INTO {ks}.clients (id, spec, updated_at) VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        replace_client: {
            let mut s = prepare(
                session,
                format!("UPDATE {ks}.clients SET spec = ?, updated_at = toTimestamp(now()) WHERE id = ? IF spec = ?"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        delete_client: {
            let mut s = prepare(
                session,
                format!("DELETE FROM {ks}.clients WHERE id = ? IF EXISTS"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        users: prepare(session, format!("SELECT username, spec FROM {ks}.users"), r).await?,
        put_user: prepare(
            session,
            format!("INSERT INTO {ks}.users (username, spec, updated_at) VALUES (?, ?, toTimestamp(now()))"),
            not_a_hint(w),
        )
        .await?,
        create_user: {
            let mut s = prepare(
                session,
                format!("INSERT INTO {ks}.users (username, spec, updated_at) VALUES (?, ?, toTimestamp(now())) IF NOT EXISTS"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        replace_user: {
            let mut s = prepare(
                session,
                format!("UPDATE {ks}.users SET spec = ?, updated_at = toTimestamp(now()) WHERE username = ? IF spec = ?"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        delete_user: {
            let mut s = prepare(
                session,
                format!("DELETE FROM {ks}.users WHERE username = ? IF EXISTS"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        claim_use: {
            let mut s = prepare(
                session,
                format!("INSERT INTO {ks}.used_tokens (key, grant_id) VALUES (?, ?) IF NOT EXISTS USING TTL ?"),
                single_use_level(opts),
            )
            .await?;
            // The Paxos round decides the one winner; LOCAL_SERIAL keeps it in the local
            // datacenter when the operator named one.
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        get_setting: {
            let mut s = prepare(
                session,
                format!("SELECT value FROM {ks}.settings WHERE name = ?"),
                single_use_level(opts),
            )
            .await?;
            // A read at SERIAL completes any compare-and-set still in flight first, so the
            // value it returns is the one a following compare-and-set will compare with.
            s.set_consistency(match serial_level(opts) {
                SerialConsistency::LocalSerial => Consistency::LocalSerial,
                SerialConsistency::Serial => Consistency::Serial,
            });
            s
        },
        create_setting: {
            let mut s = prepare(
                session,
                format!("INSERT INTO {ks}.settings (name, value) VALUES (?, ?) IF NOT EXISTS"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        replace_setting: {
            let mut s = prepare(
                session,
                format!("UPDATE {ks}.settings SET value = ? WHERE name = ? IF value = ?"),
                single_use_level(opts),
            )
            .await?;
            s.set_serial_consistency(Some(serial_level(opts)));
            s
        },
        select_used: prepare(
            session,
            format!("SELECT grant_id FROM {ks}.used_tokens WHERE key = ?"),
            single_use_level(opts),
        )
        .await?,
    })
}

/// Single use must hold across nodes whatever the configured levels: the claim commits
/// and the reuse check reads at a quorum (local to the named datacenter, if any), so a
/// claim is seen by every later check.
fn single_use_level(opts: &CassandraOptions) -> Level {
    if opts.local_datacenter.is_some() {
        Level::LocalQuorum
    } else {
        Level::Quorum
    }
}

/// The Paxos level of the lightweight transactions (single use, settings): local to the
/// named datacenter, if any.
fn serial_level(opts: &CassandraOptions) -> SerialConsistency {
    if opts.local_datacenter.is_some() {
        SerialConsistency::LocalSerial
    } else {
        SerialConsistency::Serial
    }
}

/// The level of writes that must not live only in a hint: removals (token and grant
/// deletes, the revocation log — a revocation is acknowledged only once durable, and a
/// hint is not) and administrative writes (clients, users; rare). `ANY` becomes `ONE` for
/// them; issuance keeps `write_consistency`.
pub(super) fn not_a_hint(level: Level) -> Level {
    if level == Level::Any {
        Level::One
    } else {
        level
    }
}
