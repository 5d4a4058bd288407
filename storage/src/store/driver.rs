//! The thread a network store's async driver runs on (Cassandra, PostgreSQL / MySQL): a
//! current-thread tokio runtime of its own, so no driver future ever runs on a worker, and
//! the bridge from the blocking [`crate::store::Store`] calls (flusher, purge, recovery,
//! CLI) to it.
//!
//! Touches no store; only threads and channels.

use super::StoreError;
use std::future::Future;

/// Starts a runtime on a thread named `thread`; it runs until the returned sender is
/// dropped (with the store that holds it).
pub(crate) fn start_runtime(
    thread: &str,
) -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the driver runtime: {e}"))?;
    let handle = rt.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            // Drives the driver's I/O until the store is dropped.
            let _ = rt.block_on(stopped);
        })
        .map_err(|e| format!("cannot start the driver thread: {e}"))?;
    Ok((handle, stop))
}

/// Runs `fut` on the driver's runtime and waits for it on this (non-worker) thread.
pub(crate) fn block_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    backend: &'static str,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| StoreError::Io {
        backend,
        message: "the driver runtime stopped".to_owned(),
    })?
}
