//! Shutdown signalling, across threads and within a worker.
//!
//! [`Shutdown`] is triggered once — by the signal thread (SIGTERM/SIGINT), or by a worker
//! thread whose worker failed — and awaited by each worker's accept loop, which then fires
//! that worker's [`LocalSignal`]. Connections wait on the `LocalSignal`: registering a
//! waiter there reuses a slot in a small slab, so the per-request idle wait allocates
//! nothing. Only a future that ends with its runtime may await [`Shutdown::wait`] (see
//! `worker::serve`): a monoio runtime leaks the tasks still pending when it goes away.

use event_listener::Event;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A one-shot, process-wide shutdown trigger.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    event: Event,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    pub fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.event.notify(usize::MAX);
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Resolves once [`Shutdown::trigger`] has been called (from any thread).
    pub async fn wait(&self) {
        loop {
            if self.is_triggered() {
                return;
            }
            let listener = self.inner.event.listen();
            if self.is_triggered() {
                return;
            }
            listener.await;
        }
    }
}

/// A signal for the tasks of one worker thread: fired once, awaited by many.
#[derive(Debug, Default)]
pub struct LocalSignal {
    fired: Cell<bool>,
    waiters: RefCell<Slab>,
}

#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl LocalSignal {
    pub fn fire(&self) {
        self.fired.set(true);
        let mut w = self.waiters.borrow_mut();
        for slot in w.slots.iter_mut() {
            if let Some(waker) = slot.take() {
                waker.wake();
            }
        }
    }

    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// A future that resolves when the signal fires.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            signal: self,
            slot: None,
        }
    }
}

#[derive(Debug)]
pub struct Wait<'a> {
    signal: &'a LocalSignal,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_fired() {
            return Poll::Ready(());
        }
        let mut w = self.signal.waiters.borrow_mut();
        match self.slot {
            Some(i) => w.slots[i] = Some(cx.waker().clone()),
            None => {
                let waker = Some(cx.waker().clone());
                let i = match w.free.pop() {
                    Some(i) => {
                        w.slots[i] = waker;
                        i
                    }
                    None => {
                        w.slots.push(waker);
                        w.slots.len() - 1
                    }
                };
                drop(w);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let mut w = self.signal.waiters.borrow_mut();
            w.slots[i] = None;
            w.free.push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiter_slots_are_reused() {
        let s = LocalSignal::default();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..100 {
            let mut w = std::pin::pin!(s.wait());
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(s.waiters.borrow().slots.len(), 1);
        s.fire();
        let mut w = std::pin::pin!(s.wait());
        assert!(w.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn global_shutdown_wakes_waiters_on_other_threads() {
        let s = Shutdown::new();
        let s2 = s.clone();
        let h = std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .build()
                .expect("runtime");
            rt.block_on(s2.wait());
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        s.trigger();
        assert!(h.join().is_ok());
    }
}
