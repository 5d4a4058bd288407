//! The password-hash pool: a few named threads that verify argon2id hashes, so a worker
//! never spends milliseconds of CPU inside one request while its other connections wait.
//!
//! Workers send `(hash, password, reply)` over a bounded channel and await the reply; the
//! channel being full means the server is saturated with password logins, and the request
//! gets `temporarily_unavailable` instead of an unbounded queue.

use crate::oauth::secret::PasswordHash;
use crossbeam_channel::{bounded, Sender, TrySendError};
use futures_channel::oneshot;
use std::sync::Arc;

/// Jobs waiting beyond this are refused with 503.
const QUEUE: usize = 1024;

struct Job {
    hash: Arc<PasswordHash>,
    password: Vec<u8>,
    reply: oneshot::Sender<bool>,
}

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

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job(..)")
    }
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
                    for mut job in rx.iter() {
                        let ok = job.hash.verify(&job.password);
                        job.password.fill(0);
                        // The requester may have gone away (connection closed); that is fine.
                        let _ = job.reply.send(ok);
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
        let (reply, answer) = oneshot::channel();
        let job = Job {
            hash: Arc::clone(hash),
            password: password.as_bytes().to_vec(),
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => answer.await.map_err(|_| PoolError::Stopped),
            Err(TrySendError::Full(_)) => Err(PoolError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Stopped),
        }
    }
}
