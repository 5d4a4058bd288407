//! Where clients and users made at run time (the admin API, `tessera client|user`) are
//! kept: a shared store's own client and user tables (Cassandra, SQL), read by every node
//! sharing it; or, for a store of one node (RocksDB, memory), two store settings holding
//! a JSON object each (`directory.clients`, `directory.users`), changed by
//! compare-and-set. Either way a spec is the `ClientConfig` / `UserConfig` JSON the
//! configuration file's entries deserialize from.
//!
//! Touches only the store it is given.

use std::collections::BTreeMap;
use tessera_storage::store::{SharedStore, Store, StoreError};

/// The setting holding the clients of a one-node store.
const CLIENTS_SETTING: &str = "directory.clients";
/// The setting holding the users of a one-node store.
const USERS_SETTING: &str = "directory.users";
/// Compare-and-set attempts before giving up (only concurrent admin calls contend).
const CAS_ATTEMPTS: usize = 16;

/// The clients and users kept in a store.
#[derive(Clone, Copy, Debug)]
pub enum Directory<'a> {
    /// Cassandra or SQL: every node reads the same tables.
    Shared(&'a dyn SharedStore),
    /// RocksDB or memory: this node only, kept as store settings.
    Local(&'a dyn Store),
}

/// Which of the two lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Clients,
    Users,
}

impl Kind {
    fn setting(self) -> &'static str {
        match self {
            Kind::Clients => CLIENTS_SETTING,
            Kind::Users => USERS_SETTING,
        }
    }
}

impl<'a> Directory<'a> {
    /// The directory of `store`: its shared tables, else its settings.
    pub fn of(store: &'a dyn Store) -> Directory<'a> {
        match store.shared() {
            Some(shared) => Directory::Shared(shared),
            None => Directory::Local(store),
        }
    }

    /// Every `(name, spec)` of `kind`, sorted by name.
    pub fn list(&self, kind: Kind) -> Result<Vec<(String, String)>, StoreError> {
        let mut list = match (self, kind) {
            (Directory::Shared(s), Kind::Clients) => s.clients()?,
            (Directory::Shared(s), Kind::Users) => s.users()?,
            (Directory::Local(s), kind) => read_map(*s, kind)?.0.into_iter().collect(),
        };
        list.sort();
        Ok(list)
    }

    /// The spec of `name`, if there is one.
    pub fn get(&self, kind: Kind, name: &str) -> Result<Option<String>, StoreError> {
        match self {
            Directory::Shared(_) => Ok(self
                .list(kind)?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, spec)| spec)),
            Directory::Local(s) => Ok(read_map(*s, kind)?.0.remove(name)),
        }
    }

    /// Stores `spec` under `name`, replacing any.
    pub fn put(&self, kind: Kind, name: &str, spec: &str) -> Result<(), StoreError> {
        match (self, kind) {
            (Directory::Shared(s), Kind::Clients) => s.put_client(name, spec),
            (Directory::Shared(s), Kind::Users) => s.put_user(name, spec),
            (Directory::Local(s), kind) => update(*s, kind, |map| {
                map.insert(name.to_owned(), spec.to_owned());
                true
            })
            .map(|_| ()),
        }
    }

    /// Stores `spec` under `name` unless there is one: `false` (nothing written) when it
    /// exists. Decided by the store, so of creators racing on any nodes one wins.
    pub fn create(&self, kind: Kind, name: &str, spec: &str) -> Result<bool, StoreError> {
        match (self, kind) {
            (Directory::Shared(s), Kind::Clients) => s.create_client(name, spec),
            (Directory::Shared(s), Kind::Users) => s.create_user(name, spec),
            (Directory::Local(s), kind) => update(*s, kind, |map| {
                if map.contains_key(name) {
                    return false;
                }
                map.insert(name.to_owned(), spec.to_owned());
                true
            }),
        }
    }

    /// Replaces the spec of `name` with `new` if it is still `old`: `false` (nothing
    /// written) when it changed or went away since it was read. Decided by the store, so an
    /// update racing a removal or another update on any node never resurrects the entry or
    /// silently undoes the other.
    pub fn replace(
        &self,
        kind: Kind,
        name: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        match (self, kind) {
            (Directory::Shared(s), Kind::Clients) => s.replace_client(name, old, new),
            (Directory::Shared(s), Kind::Users) => s.replace_user(name, old, new),
            (Directory::Local(s), kind) => update(*s, kind, |map| match map.get_mut(name) {
                Some(spec) if spec == old => {
                    new.clone_into(spec);
                    true
                }
                _ => false,
            }),
        }
    }

    /// Removes `name`; `false` when there was none.
    pub fn remove(&self, kind: Kind, name: &str) -> Result<bool, StoreError> {
        match (self, kind) {
            (Directory::Shared(s), Kind::Clients) => s.remove_client(name),
            (Directory::Shared(s), Kind::Users) => s.remove_user(name),
            (Directory::Local(s), kind) => update(*s, kind, |map| map.remove(name).is_some()),
        }
    }
}

/// The map kept in `kind`'s setting, and the setting's text (for the compare-and-set).
fn read_map(
    store: &dyn Store,
    kind: Kind,
) -> Result<(BTreeMap<String, String>, Option<String>), StoreError> {
    let text = store.setting(kind.setting())?;
    let map = match &text {
        None => BTreeMap::new(),
        Some(t) => serde_json::from_str(t).map_err(|e| StoreError::Corrupt {
            message: format!("setting {}: {e}", kind.setting()),
        })?,
    };
    Ok((map, text))
}

/// Applies `change` to `kind`'s map by compare-and-set; returns what `change` returned.
/// A change that returns `false` writes nothing.
fn update(
    store: &dyn Store,
    kind: Kind,
    mut change: impl FnMut(&mut BTreeMap<String, String>) -> bool,
) -> Result<bool, StoreError> {
    for _ in 0..CAS_ATTEMPTS {
        let (mut map, old) = read_map(store, kind)?;
        if !change(&mut map) {
            return Ok(false);
        }
        let new = serde_json::to_string(&map).map_err(|e| StoreError::Corrupt {
            message: format!("setting {}: {e}", kind.setting()),
        })?;
        if store.put_setting_if(kind.setting(), old.as_deref(), &new)? {
            return Ok(true);
        }
    }
    Err(StoreError::Io {
        backend: store.name(),
        message: format!(
            "setting {} changed under every attempt; retry",
            kind.setting()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_storage::store::memory::MemoryStore;

    #[test]
    fn a_local_directory_keeps_specs_in_a_setting_sorted_by_name() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        assert!(matches!(dir, Directory::Local(_)));
        dir.put(Kind::Clients, "b", "{\"id\":\"b\"}")
            .expect("put b");
        dir.put(Kind::Clients, "a", "{\"id\":\"a\"}")
            .expect("put a");
        dir.put(Kind::Users, "alice", "{}").expect("put user");
        let names: Vec<_> = dir
            .list(Kind::Clients)
            .expect("list")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            dir.get(Kind::Users, "alice").expect("get").as_deref(),
            Some("{}")
        );
        assert!(
            dir.get(Kind::Users, "a").expect("get").is_none(),
            "kinds apart"
        );
    }

    #[test]
    fn creating_in_a_local_directory_refuses_an_existing_name_and_keeps_its_spec() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        assert!(dir.create(Kind::Clients, "a", "one").expect("create"));
        assert!(!dir.create(Kind::Clients, "a", "two").expect("create again"));
        assert_eq!(
            dir.get(Kind::Clients, "a").expect("get").as_deref(),
            Some("one")
        );
    }

    #[test]
    fn replacing_in_a_local_directory_needs_the_spec_that_was_read() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        assert!(dir.create(Kind::Users, "a", "one").expect("create"));
        assert!(!dir
            .replace(Kind::Users, "a", "other", "two")
            .expect("stale"));
        assert!(dir
            .replace(Kind::Users, "a", "one", "two")
            .expect("replace"));
        assert!(dir.remove(Kind::Users, "a").expect("remove"));
        assert!(!dir
            .replace(Kind::Users, "a", "two", "three")
            .expect("removed"));
        assert!(
            dir.get(Kind::Users, "a").expect("get").is_none(),
            "brought back"
        );
    }

    #[test]
    fn removing_from_a_local_directory_says_whether_it_was_there() {
        let store = MemoryStore::new();
        let dir = Directory::of(&store);
        dir.put(Kind::Clients, "a", "{}").expect("put");
        assert!(dir.remove(Kind::Clients, "a").expect("remove"));
        assert!(!dir.remove(Kind::Clients, "a").expect("remove again"));
        assert!(dir.list(Kind::Clients).expect("list").is_empty());
    }

    #[test]
    fn a_corrupt_directory_setting_is_an_error_not_an_empty_list() {
        let store = MemoryStore::new();
        assert!(store
            .put_setting_if(CLIENTS_SETTING, None, "not json")
            .expect("cas"));
        let e = Directory::of(&store)
            .list(Kind::Clients)
            .expect_err("corrupt");
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    }
}
