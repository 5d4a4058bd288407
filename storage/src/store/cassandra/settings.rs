//! Small named values every node shares ([`Store::setting`], [`Store::put_setting_if`]):
//! the `settings` table, name → text, written only by lightweight transactions and read
//! at SERIAL, so a compare-and-set is linearizable across the cluster.
//!
//! Touches the `settings` table only (using `single_use`'s reading of a conditional
//! statement's answer).
//!
//! [`Store::setting`]: crate::store::Store::setting
//! [`Store::put_setting_if`]: crate::store::Store::put_setting_if

use super::single_use::applied;
use super::{err, CassandraStore};
use crate::store::StoreError;

impl CassandraStore {
    pub(super) fn read_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.run(move |inner| {
            Box::pin(async move {
                let rows = inner
                    .session
                    .execute_unpaged(&inner.st.get_setting, (&name,))
                    .await
                    .map_err(err)?
                    .into_rows_result()
                    .map_err(err)?;
                Ok(rows
                    .maybe_first_row::<(Option<String>,)>()
                    .map_err(err)?
                    .and_then(|(value,)| value))
            })
        })
    }

    /// `INSERT ... IF NOT EXISTS` when `expected` is `None`, `UPDATE ... IF value = ?`
    /// otherwise; the Paxos round decides, so of racing writers exactly one is applied.
    pub(super) fn cas_setting(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let (name, expected, value) = (
            name.to_owned(),
            expected.map(str::to_owned),
            value.to_owned(),
        );
        self.run(move |inner| {
            Box::pin(async move {
                let result = match &expected {
                    None => {
                        inner
                            .session
                            .execute_unpaged(&inner.st.create_setting, (&name, &value))
                            .await
                    }
                    Some(expected) => {
                        inner
                            .session
                            .execute_unpaged(&inner.st.replace_setting, (&value, &name, expected))
                            .await
                    }
                };
                applied(result.map_err(err)?)
            })
        })
    }
}
