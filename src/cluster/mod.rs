//! What makes several nodes sharing one store act as one server:
//! - [`read_through`]: a lookup that misses this node's table asks the shared store,
//!   without blocking the worker, behind a small negative cache and an in-flight limit;
//! - [`sync`]: the `tessera-cluster` thread, which applies the other nodes' revocations
//!   from the store's revocation log and reloads the clients and users kept in the store;
//! - [`peers`]: each node's heartbeat in the store, the admin API's list of cluster peers.
//!
//! Both are inactive unless the store is shared (`Store::shared`): `kind = "cassandra"`,
//! `"postgres"` or `"mysql"`.

pub mod peers;
pub mod read_through;
pub mod sync;
