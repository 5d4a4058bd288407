//! The nodes sharing a store, as each saw itself: every node's cluster thread writes a
//! heartbeat (its name and the time) into one store setting, `cluster.nodes`, every
//! [`HEARTBEAT`]; the admin API's store status lists them. Entries older than [`FORGET`]
//! are dropped on the next write, so a node that left disappears.
//!
//! Touches only that setting of the store it is given.

use std::collections::BTreeMap;
use std::time::Duration;
use tessera_storage::store::{Store, StoreError};

const SETTING: &str = "cluster.nodes";
/// How often a node writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A node not heard from for this long is dropped from the list.
const FORGET: Duration = Duration::from_secs(3600);
/// Compare-and-set attempts per heartbeat (other nodes write the same setting).
const ATTEMPTS: usize = 8;

/// Every node heard from within [`FORGET`]: name and last heartbeat (Unix ms).
pub fn read(store: &dyn Store) -> Result<BTreeMap<String, u64>, StoreError> {
    Ok(read_text(store)?.0)
}

fn read_text(store: &dyn Store) -> Result<(BTreeMap<String, u64>, Option<String>), StoreError> {
    let text = store.setting(SETTING)?;
    // A setting that does not parse is rewritten by the next heartbeat, not fatal.
    let map = text
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    Ok((map, text))
}

/// Records that `node` is alive at `now_ms`, dropping nodes gone for [`FORGET`].
pub fn heartbeat(store: &dyn Store, node: &str, now_ms: u64) -> Result<(), StoreError> {
    let forget = u64::try_from(FORGET.as_millis()).unwrap_or(u64::MAX);
    for _ in 0..ATTEMPTS {
        let (mut map, old) = read_text(store)?;
        map.retain(|_, seen| now_ms.saturating_sub(*seen) < forget);
        map.insert(node.to_owned(), now_ms);
        let new = serde_json::to_string(&map).map_err(|e| StoreError::Corrupt {
            message: format!("setting {SETTING}: {e}"),
        })?;
        if store.put_setting_if(SETTING, old.as_deref(), &new)? {
            return Ok(());
        }
    }
    // Lost every race to other nodes' heartbeats: the next one will do.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_storage::store::memory::MemoryStore;

    #[test]
    fn heartbeats_of_two_nodes_are_both_kept_and_a_silent_node_is_forgotten() {
        let store = MemoryStore::new();
        heartbeat(&store, "a", 1_000).expect("a");
        heartbeat(&store, "b", 2_000).expect("b");
        let seen = read(&store).expect("read");
        assert_eq!(seen.get("a"), Some(&1_000));
        assert_eq!(seen.get("b"), Some(&2_000));
        let later = 2_000 + FORGET.as_millis() as u64;
        heartbeat(&store, "b", later).expect("b again");
        let seen = read(&store).expect("read");
        assert!(!seen.contains_key("a"), "{seen:?}");
        assert_eq!(seen.get("b"), Some(&later));
    }
}
