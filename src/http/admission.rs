//! Connection admission: which accepted connections a worker keeps, so that a flood of
//! connections that send nothing (or little) cannot starve the clients that send requests.
//!
//! Three defences, each cheap for the server:
//!
//! - **Per-address limit** ([`AddressTable`], process-wide): at most
//!   `server.max_connections_per_address` open connections per source address across all
//!   workers; the next one is closed at once. The table is touched on accept and on close
//!   only, never per request; it holds an entry only for an address with an open connection,
//!   so its size is bounded by the open connections. IPv6 peers count per /64, the block a
//!   single host is usually given.
//! - **First-byte timeout** (in [`super::conn`], `Limits::first_request_timeout`): a
//!   connection that has not begun its first request by then is closed, instead of being
//!   held for the keep-alive timeout.
//! - **Idle eviction at the cap** ([`IdleList`], one per worker): at
//!   `max_connections_per_worker`, the connection that has been idle longest (waiting for its
//!   first request or between keep-alive requests, never one with a request in progress) is
//!   told to close, and the new connection is served; only when none is idle is the new one
//!   refused with a 503. Closing an idle persistent connection is always allowed
//!   (RFC 9112 §9.5); clients retry on a fresh one, as after a keep-alive timeout.
//!
//! Touches nothing but its own state: the worker calls it on accept, the connection loop
//! marks its idle waits through an [`IdleSlot`]. Metrics are the caller's business.

use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// One worker's admission decisions: the process-wide [`AddressTable`], the worker's
/// [`IdleList`] and its connection cap.
#[derive(Debug)]
pub struct Admission {
    addresses: Arc<AddressTable>,
    idle: Rc<IdleList>,
    max_connections: usize,
}

/// What to do with a connection just accepted.
#[derive(Debug)]
pub enum Verdict {
    /// Serve it, holding the ticket until it closes. `evicted`: an idle connection was told
    /// to close to make room.
    Serve { ticket: Ticket, evicted: bool },
    /// Its address has `max_connections_per_address` open: close it at once, without a
    /// response (a well-behaved client never gets here; writing costs more than closing).
    AddressLimit,
    /// The worker is at its cap and no connection is idle: refuse it (503).
    Full,
}

/// An admitted connection's places: in the address table and in the worker's idle list.
#[derive(Debug)]
pub struct Ticket {
    pub idle: IdleSlot,
    _address: AddressPermit,
}

impl Admission {
    pub fn new(addresses: Arc<AddressTable>, max_connections: usize) -> Admission {
        Admission {
            addresses,
            idle: IdleList::new(),
            max_connections,
        }
    }

    /// Decides about a connection from `peer` accepted while `open` others are.
    pub fn admit(&self, peer: IpAddr, open: usize) -> Verdict {
        let Some(permit) = self.addresses.admit(peer) else {
            return Verdict::AddressLimit;
        };
        // The evicted connection closes when its task next runs, so for a moment the worker
        // holds one more than its cap: one per accept, never more than the accepts of one
        // turn of the loop.
        let evicted = open >= self.max_connections;
        if evicted && !self.idle.evict_oldest() {
            return Verdict::Full;
        }
        Verdict::Serve {
            ticket: Ticket {
                idle: self.idle.register(),
                _address: permit,
            },
            evicted,
        }
    }
}

/// Shards of the address table: accepts on different workers rarely share a lock.
const ADDRESS_SHARDS: usize = 64;

/// Open connections per source address, shared by all workers.
#[derive(Debug)]
pub struct AddressTable {
    /// 0 = unlimited: nothing is counted.
    limit: u32,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<IpAddr, u32>>]>,
}

impl AddressTable {
    /// `limit` connections per address; 0 turns the limit (and the counting) off.
    pub fn new(limit: usize) -> AddressTable {
        AddressTable {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            hasher: RandomState::new(),
            shards: (0..ADDRESS_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Counts a new connection from `peer`; `None` when the address already has `limit`
    /// open. The returned permit gives the place back when dropped.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<AddressPermit> {
        if self.limit == 0 {
            return Some(AddressPermit { table: None });
        }
        let key = address_key(peer);
        let mut shard = self.shard(key).lock();
        let count = shard.entry(key).or_insert(0);
        if *count >= self.limit {
            if *count == 0 {
                shard.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(AddressPermit {
            table: Some((Arc::clone(self), key)),
        })
    }

    fn shard(&self, key: IpAddr) -> &Mutex<HashMap<IpAddr, u32>> {
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[h % self.shards.len()]
    }

    fn release(&self, key: IpAddr) {
        let mut shard = self.shard(key).lock();
        if let Some(count) = shard.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                shard.remove(&key);
                // A flood from many addresses grew the shard; give the memory back once it
                // is mostly empty, so the table stays the size of what is open now.
                if shard.capacity() > 64 && shard.len() < shard.capacity() / 4 {
                    let keep = shard.len() * 2;
                    shard.shrink_to(keep);
                }
            }
        }
    }

    /// Addresses with at least one open connection (for tests).
    pub fn addresses(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

/// What a peer is counted as: its IPv4 address (IPv4-mapped IPv6 included), or its IPv6 /64.
fn address_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// One open connection's place in the [`AddressTable`]; dropping it frees the place.
#[derive(Debug)]
pub struct AddressPermit {
    table: Option<(Arc<AddressTable>, IpAddr)>,
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        if let Some((table, key)) = self.table.take() {
            table.release(key);
        }
    }
}

/// One worker's connections and which of them are idle, oldest idle first.
///
/// Single-threaded (the worker's runtime), so a `RefCell` and `Rc`, no lock. Going idle
/// appends to a queue; going busy only clears the slot's mark, and the stale queue entry is
/// skipped (or swept once stale entries outnumber live ones), so each costs O(1).
#[derive(Debug, Default)]
pub struct IdleList {
    inner: RefCell<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// `(slot, period)` in the order the idle periods began; an entry is live while its
    /// slot is still in that period.
    queue: VecDeque<(usize, u64)>,
    /// Idle periods are numbered from 1 and never reused, so a freed and reused slot never
    /// matches an old entry.
    next_period: u64,
    idle: usize,
}

#[derive(Debug, Default)]
struct Slot {
    /// The idle period the connection is in; 0 = busy.
    period: u64,
    evicted: bool,
    waker: Option<Waker>,
}

impl IdleList {
    pub fn new() -> Rc<IdleList> {
        Rc::default()
    }

    /// A slot for a newly accepted connection, freed when dropped.
    pub fn register(self: &Rc<Self>) -> IdleSlot {
        let mut inner = self.inner.borrow_mut();
        let index = match inner.free.pop() {
            Some(i) => {
                inner.slots[i] = Slot::default();
                i
            }
            None => {
                inner.slots.push(Slot::default());
                inner.slots.len() - 1
            }
        };
        IdleSlot {
            list: Rc::clone(self),
            index,
        }
    }

    /// Tells the connection idle longest to close. `false`: none is idle.
    pub fn evict_oldest(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        while let Some((i, period)) = inner.queue.pop_front() {
            let slot = &mut inner.slots[i];
            if slot.period != period {
                continue;
            }
            slot.period = 0;
            slot.evicted = true;
            let waker = slot.waker.take();
            inner.idle -= 1;
            drop(inner);
            if let Some(w) = waker {
                w.wake();
            }
            return true;
        }
        false
    }

    /// Connections idle now.
    pub fn idle(&self) -> usize {
        self.inner.borrow().idle
    }

    fn begin_idle(&self, i: usize) {
        let mut inner = self.inner.borrow_mut();
        if inner.slots[i].evicted || inner.slots[i].period != 0 {
            return;
        }
        inner.next_period += 1;
        let period = inner.next_period;
        inner.slots[i].period = period;
        inner.idle += 1;
        inner.queue.push_back((i, period));
        // Busy-again connections leave stale entries behind; sweep them once they
        // outnumber the live ones, so the queue stays O(open connections).
        if inner.queue.len() > 2 * inner.idle + 64 {
            let Inner { queue, slots, .. } = &mut *inner;
            queue.retain(|&(i, p)| slots[i].period == p);
        }
    }

    fn end_idle(&self, i: usize) {
        let mut inner = self.inner.borrow_mut();
        let slot = &mut inner.slots[i];
        slot.waker = None;
        if slot.period != 0 {
            slot.period = 0;
            inner.idle -= 1;
        }
    }
}

/// A connection's entry in its worker's [`IdleList`].
#[derive(Debug)]
pub struct IdleSlot {
    list: Rc<IdleList>,
    index: usize,
}

impl IdleSlot {
    /// A connection with no list of its own (tests, tools): never evicted.
    pub fn standalone() -> IdleSlot {
        IdleList::new().register()
    }

    /// Marks the connection idle for as long as the returned future lives; it resolves if
    /// the worker evicts the connection meanwhile (the connection should then close).
    pub fn idle(&self) -> Evicted<'_> {
        self.list.begin_idle(self.index);
        Evicted { slot: self }
    }

    /// Whether the worker has told this connection to close.
    pub fn is_evicted(&self) -> bool {
        self.list.inner.borrow().slots[self.index].evicted
    }
}

impl Drop for IdleSlot {
    fn drop(&mut self) {
        self.list.end_idle(self.index);
        let mut inner = self.list.inner.borrow_mut();
        inner.slots[self.index].evicted = false;
        inner.free.push(self.index);
    }
}

/// An idle wait: resolves when the connection is evicted; dropping it marks it busy again.
#[derive(Debug)]
pub struct Evicted<'a> {
    slot: &'a IdleSlot,
}

impl Future for Evicted<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.slot.list.inner.borrow_mut();
        let slot = &mut inner.slots[self.slot.index];
        if slot.evicted {
            return Poll::Ready(());
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Evicted<'_> {
    fn drop(&mut self) {
        self.slot.list.end_idle(self.slot.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn poll_once(f: &mut Evicted<'_>, flag: &Arc<Flag>) -> bool {
        let waker = Waker::from(Arc::clone(flag));
        Pin::new(f)
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
    }

    fn flag() -> Arc<Flag> {
        Arc::new(Flag(Default::default()))
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn at_the_cap_an_idle_connection_makes_room_and_without_one_the_new_is_refused() {
        let admission = Admission::new(Arc::new(AddressTable::new(0)), 2);
        let Verdict::Serve { ticket: a, evicted } = admission.admit(A, 0) else {
            panic!("first");
        };
        assert!(!evicted);
        let Verdict::Serve { ticket: _b, .. } = admission.admit(A, 1) else {
            panic!("second");
        };
        assert!(matches!(admission.admit(A, 2), Verdict::Full), "none idle");
        let _idle = a.idle.idle();
        let Verdict::Serve { evicted, .. } = admission.admit(A, 2) else {
            panic!("room made");
        };
        assert!(evicted && a.idle.is_evicted());
    }

    #[test]
    fn over_the_address_limit_the_connection_is_closed_before_the_cap_is_considered() {
        let admission = Admission::new(Arc::new(AddressTable::new(1)), 10);
        let _held = admission.admit(A, 0);
        assert!(matches!(admission.admit(A, 1), Verdict::AddressLimit));
        assert!(matches!(admission.admit(B, 1), Verdict::Serve { .. }));
    }

    #[test]
    fn address_limit_refuses_the_connection_past_the_limit_and_frees_on_close() {
        let table = Arc::new(AddressTable::new(2));
        let one = table.admit(A).expect("first");
        let _two = table.admit(A).expect("second");
        assert!(table.admit(A).is_none(), "third from the same address");
        assert!(table.admit(B).is_some(), "another address is not affected");
        drop(one);
        assert!(
            table.admit(A).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn address_table_forgets_addresses_without_open_connections() {
        let table = Arc::new(AddressTable::new(4));
        let permits: Vec<_> = (0..1000u32)
            .map(|i| table.admit(IpAddr::V4(Ipv4Addr::from(i))).expect("admit"))
            .collect();
        assert_eq!(table.addresses(), 1000);
        drop(permits);
        assert_eq!(table.addresses(), 0);
    }

    #[test]
    fn address_limit_zero_counts_nothing() {
        let table = Arc::new(AddressTable::new(0));
        let held: Vec<_> = (0..10_000)
            .map(|_| table.admit(A).expect("unlimited"))
            .collect();
        assert_eq!(table.addresses(), 0);
        drop(held);
    }

    #[test]
    fn ipv6_peers_count_per_64_and_mapped_ipv4_as_ipv4() {
        let table = Arc::new(AddressTable::new(1));
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("v6");
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("v6");
        let other_64: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        let _p = table.admit(a).expect("first");
        assert!(table.admit(same_64).is_none());
        assert!(table.admit(other_64).is_some());
        let _v4 = table.admit(A).expect("v4");
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert!(table.admit(mapped).is_none());
        assert_eq!(
            address_key(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        );
    }

    #[test]
    fn eviction_takes_the_connection_idle_longest() {
        let list = IdleList::new();
        let (a, b, c) = (list.register(), list.register(), list.register());
        let (fa, fb) = (flag(), flag());
        let mut wa = a.idle();
        let mut wb = b.idle();
        assert!(!poll_once(&mut wa, &fa));
        assert!(!poll_once(&mut wb, &fb));
        assert_eq!(list.idle(), 2);
        assert!(list.evict_oldest());
        assert!(
            fa.0.load(std::sync::atomic::Ordering::SeqCst),
            "a was woken"
        );
        assert!(poll_once(&mut wa, &fa), "a resolves: evicted");
        assert!(!poll_once(&mut wb, &fb), "b is still idle");
        assert!(a.is_evicted() && !b.is_evicted() && !c.is_evicted());
        assert!(list.evict_oldest());
        assert!(poll_once(&mut wb, &fb));
        assert!(!list.evict_oldest(), "c never went idle");
    }

    #[test]
    fn a_connection_serving_a_request_is_never_evicted() {
        let list = IdleList::new();
        let a = list.register();
        let b = list.register();
        {
            let _idle = a.idle();
        } // a's read returned: busy again
        let _wb = b.idle();
        assert!(list.evict_oldest(), "b is idle");
        assert!(!a.is_evicted() && b.is_evicted());
        assert!(!list.evict_oldest());
    }

    #[test]
    fn going_idle_again_moves_a_connection_to_the_back() {
        let list = IdleList::new();
        let (a, b) = (list.register(), list.register());
        drop(a.idle());
        let _wb = b.idle();
        let _wa = a.idle();
        assert!(list.evict_oldest());
        assert!(b.is_evicted() && !a.is_evicted());
    }

    #[test]
    fn a_freed_slot_reused_by_a_new_connection_is_not_evicted_for_the_old_one() {
        let list = IdleList::new();
        let a = list.register();
        let w = a.idle();
        std::mem::forget(w); // the slot stays "idle" in the queue until `a` is dropped
        drop(a);
        let b = list.register();
        assert!(!list.evict_oldest(), "the old entry is stale");
        assert!(!b.is_evicted());
    }

    #[test]
    fn the_queue_stays_bounded_under_many_requests_per_connection() {
        let list = IdleList::new();
        let slots: Vec<_> = (0..10).map(|_| list.register()).collect();
        for _ in 0..10_000 {
            for s in &slots {
                drop(s.idle());
            }
        }
        assert!(list.inner.borrow().queue.len() <= 2 * 10 + 64 + 1);
        assert_eq!(list.idle(), 0);
    }
}
