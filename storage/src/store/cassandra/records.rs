//! The clients and users kept in the store (`tessera client add`, `tessera user add`; the
//! nodes re-read them): the `clients` and `users` tables, name → JSON spec, which the store
//! keeps without parsing. Both tables have the same shape and the same operations.
//!
//! Touches the `clients` and `users` tables only.

use super::single_use::applied;
use super::statements::Statements;
use super::{err, CassandraStore, Inner};
use crate::store::StoreError;
use futures_util::StreamExt;
use scylla::statement::prepared::PreparedStatement;

/// The two administrative tables: same shape (name → JSON spec), same operations.
#[derive(Debug, Clone, Copy)]
pub(super) enum Admin {
    Clients,
    Users,
}

impl Statements {
    /// (list, put, replace if unchanged, delete if there) for `table`.
    fn admin(
        &self,
        table: Admin,
    ) -> (
        &PreparedStatement,
        &PreparedStatement,
        &PreparedStatement,
        &PreparedStatement,
    ) {
        match table {
            Admin::Clients => (
                &self.clients,
                &self.put_client,
                &self.replace_client,
                &self.delete_client,
            ),
            Admin::Users => (
                &self.users,
                &self.put_user,
                &self.replace_user,
                &self.delete_user,
            ),
        }
    }
}

impl Inner {
    async fn pairs(&self, st: &PreparedStatement) -> Result<Vec<(String, String)>, StoreError> {
        let mut rows = self
            .session
            .execute_iter(st.clone(), ())
            .await
            .map_err(err)?
            .rows_stream::<(String, Option<String>)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (id, spec) = row.map_err(err)?;
            out.push((id, spec.unwrap_or_default()));
        }
        Ok(out)
    }
}

impl CassandraStore {
    pub(super) fn list_specs(&self, table: Admin) -> Result<Vec<(String, String)>, StoreError> {
        self.run(move |inner| Box::pin(async move { inner.pairs(inner.st.admin(table).0).await }))
    }

    pub(super) fn put_spec(&self, table: Admin, name: &str, spec: &str) -> Result<(), StoreError> {
        let (name, spec) = (name.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move {
                inner
                    .session
                    .execute_unpaged(inner.st.admin(table).1, (&name, &spec))
                    .await
                    .map(|_| ())
                    .map_err(err)
            })
        })
    }

    /// Stores `spec` under `name` unless there is an entry: a lightweight transaction, so
    /// of creators racing on any nodes exactly one is applied.
    pub(super) fn create_spec(
        &self,
        table: Admin,
        name: &str,
        spec: &str,
    ) -> Result<bool, StoreError> {
        let (name, spec) = (name.to_owned(), spec.to_owned());
        self.run(move |inner| {
            Box::pin(async move {
                let st = match table {
                    Admin::Clients => &inner.st.create_client,
                    Admin::Users => &inner.st.create_user,
                };
                applied(
                    inner
                        .session
                        .execute_unpaged(st, (&name, &spec))
                        .await
                        .map_err(err)?,
                )
            })
        })
    }

    /// Replaces the spec of `name` with `new` if it is still `old`: a lightweight
    /// transaction, so an update racing a removal or another update on any node is not
    /// applied (`false`) instead of bringing the entry back or undoing the other.
    pub(super) fn replace_spec(
        &self,
        table: Admin,
        name: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let (name, old, new) = (name.to_owned(), old.to_owned(), new.to_owned());
        self.run(move |inner| {
            Box::pin(async move {
                let (_, _, replace, _) = inner.st.admin(table);
                applied(
                    inner
                        .session
                        .execute_unpaged(replace, (&new, &name, &old))
                        .await
                        .map_err(err)?,
                )
            })
        })
    }

    /// Whether there was such an entry (decided by the same lightweight transaction that
    /// removes it).
    pub(super) fn remove_spec(&self, table: Admin, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.run(move |inner| {
            Box::pin(async move {
                let (_, _, _, delete) = inner.st.admin(table);
                applied(
                    inner
                        .session
                        .execute_unpaged(delete, (&name,))
                        .await
                        .map_err(err)?,
                )
            })
        })
    }
}
