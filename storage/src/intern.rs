//! String interning: each distinct string gets a small [`Sym`] once, records carry the `Sym`.
//!
//! Interned sets are tiny and grow only with configuration (clients, users, scope
//! combinations, metadata sets), never with the number of tokens, so entries are never
//! removed. Reads are lock-free — every token response resolves up to four symbols, and a
//! shared lock's counter is one cache line all workers write — : readers load an immutable
//! snapshot through `arc_swap` (a few atomic operations, no shared write, no allocation).
//! Interning a new string, rare after start-up, copies the snapshot under a mutex and
//! publishes the copy.

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

/// An interned string's id. `NonZero` so that `Option<Sym>` is still four bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(NonZeroU32);

impl Sym {
    /// The symbol at `index` in its interner (0-based).
    pub fn from_index(index: u32) -> Sym {
        Sym(NonZeroU32::MIN.saturating_add(index))
    }

    pub fn index(self) -> u32 {
        self.0.get() - 1
    }
}

/// What readers see: never changed once published.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    by_name: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

/// A string ↔ [`Sym`] table.
#[derive(Debug, Default)]
pub struct Interner {
    current: ArcSwap<Snapshot>,
    /// Serialises writers, so that two first sights of one string give one symbol.
    write: Mutex<()>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The symbol for `name`, creating it on first sight.
    pub fn intern(&self, name: &str) -> Sym {
        if let Some(sym) = self.get(name) {
            return sym;
        }
        let _writer = self.write.lock();
        let current = self.current.load_full();
        if let Some(&sym) = current.by_name.get(name) {
            return sym;
        }
        let index = u32::try_from(current.names.len()).unwrap_or(u32::MAX - 1);
        let sym = Sym::from_index(index);
        let name: Arc<str> = Arc::from(name);
        let mut next = Snapshot::clone(&current);
        next.names.push(Arc::clone(&name));
        next.by_name.insert(name, sym);
        self.current.store(Arc::new(next));
        sym
    }

    /// The symbol for `name` if it was interned before.
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.current.load().by_name.get(name).copied()
    }

    /// Calls `f` with the string behind `sym` (empty if `sym` came from another interner).
    /// Borrowing from the snapshot avoids touching the string's shared `Arc` count on hot
    /// paths. `f` may intern into this interner (it would see the older snapshot).
    pub fn with<R>(&self, sym: Sym, f: impl FnOnce(&str) -> R) -> R {
        let snapshot = self.current.load();
        let name = snapshot.names.get(sym.index() as usize).map_or("", |n| n);
        f(name)
    }

    /// An owned handle on the string behind `sym`.
    pub fn resolve(&self, sym: Sym) -> Option<Arc<str>> {
        self.current.load().names.get(sym.index() as usize).cloned()
    }

    pub fn len(&self) -> usize {
        self.current.load().names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Interned strings by kind. Token records refer to them by [`Sym`]; stores keep the strings.
#[derive(Debug, Default)]
pub struct Symbols {
    pub clients: Interner,
    pub users: Interner,
    pub scopes: Interner,
    /// Metadata sets, each an encoded JSON object.
    pub meta: Interner,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_twice_gives_the_same_symbol() {
        let i = Interner::new();
        let a = i.intern("svc-a");
        let b = i.intern("svc-b");
        assert_ne!(a, b);
        assert_eq!(i.intern("svc-a"), a);
        assert_eq!(i.get("svc-b"), Some(b));
        assert_eq!(i.get("nope"), None);
        assert_eq!(i.with(a, str::to_owned), "svc-a");
        assert_eq!(i.resolve(b).as_deref(), Some("svc-b"));
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn with_may_intern_into_the_same_interner() {
        let i = Interner::new();
        let a = i.intern("a");
        let b = i.with(a, |name| i.intern(&format!("{name}-b")));
        assert_eq!(i.with(b, str::to_owned), "a-b");
    }

    #[test]
    fn racing_first_sights_of_one_name_get_one_symbol() {
        let i = Interner::new();
        let syms: Vec<Vec<Sym>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..200)
                            .map(|n| i.intern(&format!("name-{n}")))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("no panic"))
                .collect()
        });
        assert!(syms.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(i.len(), 200);
        for (n, sym) in syms[0].iter().enumerate() {
            assert_eq!(i.with(*sym, str::to_owned), format!("name-{n}"));
            assert_eq!(i.get(&format!("name-{n}")), Some(*sym));
        }
    }

    #[test]
    fn option_sym_is_four_bytes() {
        assert_eq!(std::mem::size_of::<Option<Sym>>(), 4);
    }
}
