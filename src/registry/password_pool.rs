//! The password-hash pool: a few named threads for the slow cryptography of a request —
//! argon2id password checks and RSA ID-token signatures (~0.3 ms each) — so a worker never
//! spends that CPU inside one request while its other connections wait.
//!
//! Workers send a job over a bounded channel and await its reply; the channel being full
//! means the server is saturated with such work, and the request gets
//! `temporarily_unavailable` instead of an unbounded queue.

use crate::oauth::secret::PasswordHash;
use crossbeam_channel::{bounded, Sender, TrySendError};
use futures_channel::oneshot;
use std::sync::Arc;

/// Jobs waiting beyond this are refused with 503.
const QUEUE: usize = 1024;

/// Work for a pool thread; it sends its own reply.
type Job = Box<dyn FnOnce() + Send>;

/// Why a password could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The queue is full.
    Busy,
    /// The pool's threads are gone (shutdown).
    Stopped,
}

#[derive(Debug)]
pub struct PasswordPool {
    jobs: Sender<Job>,
}

impl PasswordPool {
    /// Starts `threads` verifier threads. They end when the pool is dropped.
    pub fn start(threads: usize) -> std::io::Result<PasswordPool> {
        let (tx, rx) = bounded::<Job>(QUEUE);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("tessera-pwhash-{i}"))
                .spawn(move || {
                    for job in rx.iter() {
                        job();
                    }
                })?;
        }
        Ok(PasswordPool { jobs: tx })
    }

    /// Verifies `password` against `hash`: inline when that is cheap, on the pool otherwise.
    pub async fn verify(
        &self,
        hash: &Arc<PasswordHash>,
        password: &str,
    ) -> Result<bool, PoolError> {
        if !hash.is_slow() {
            return Ok(hash.verify(password.as_bytes()));
        }
        let hash = Arc::clone(hash);
        let mut password = password.as_bytes().to_vec();
        self.run(move || {
            let ok = hash.verify(&password);
            password.fill(0);
            ok
        })
        .await
    }

    /// Runs `work` on a pool thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The requester may have gone away (connection closed); that is fine.
            let _ = reply.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => answer.await.map_err(|_| PoolError::Stopped),
            Err(TrySendError::Full(_)) => Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Stopped),
        }
    }
}
