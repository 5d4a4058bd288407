//! Readiness and status for a service manager: systemd's `Type=notify` protocol
//! (sd_notify(3)), as used by `config/systemd/tessera.service`.
//!
//! `tessera serve` reports `STATUS=` while it recovers the store, `READY=1` once the store is
//! recovered and every listener accepts connections, and `STOPPING=1` when it begins a
//! graceful shutdown. `systemctl start` returns only at `READY=1`, so units ordered after
//! Tessera (`After=tessera.service`) start against a server that answers.
//!
//! Without `NOTIFY_SOCKET` in the environment (not started by systemd, or `Type=simple`) every
//! call does nothing. A notification that cannot be sent is logged and otherwise ignored: the
//! service manager's start timeout is the safety net, and a server that serves must not stop
//! because its manager went away. Touches only the notify socket named by the environment.

use sd_notify::NotifyState;
use tracing::warn;

/// A progress line for `systemctl status` before the server is ready.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// Start-up is complete: the store is recovered and every listener accepts. `text` says
/// where (`systemctl status` shows it).
pub fn ready(text: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// A graceful shutdown has begun: no new connections, requests in flight finishing, then
/// the store's queue drained.
pub fn stopping(text: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(text)]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}
