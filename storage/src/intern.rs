//! String interning: each distinct string gets a small [`Sym`] once, records carry the `Sym`.
//!
//! Interned sets are tiny and grow only with configuration (clients, users, scope
//! combinations, metadata sets), never with the number of tokens, so entries are never
//! removed. Reads take a shared `parking_lot` read lock; writes happen the first time a
//! string is seen.

use parking_lot::RwLock;
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

#[derive(Debug, Default)]
struct Inner {
    by_name: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

/// A string ↔ [`Sym`] table.
#[derive(Debug, Default)]
pub struct Interner {
    inner: RwLock<Inner>,
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
        let mut inner = self.inner.write();
        if let Some(&sym) = inner.by_name.get(name) {
            return sym;
        }
        let index = u32::try_from(inner.names.len()).unwrap_or(u32::MAX - 1);
        let sym = Sym::from_index(index);
        let name: Arc<str> = Arc::from(name);
        inner.names.push(Arc::clone(&name));
        inner.by_name.insert(name, sym);
        sym
    }

    /// The symbol for `name` if it was interned before.
    pub fn get(&self, name: &str) -> Option<Sym> {
        self.inner.read().by_name.get(name).copied()
    }

    /// Calls `f` with the string behind `sym` (empty if `sym` came from another interner).
    /// Borrowing under the read lock avoids touching the shared `Arc` count on hot paths.
    /// `f` must not intern into this interner: the lock is not reentrant (use
    /// [`Interner::resolve`] there).
    pub fn with<R>(&self, sym: Sym, f: impl FnOnce(&str) -> R) -> R {
        let inner = self.inner.read();
        let name = inner.names.get(sym.index() as usize).map_or("", |n| n);
        f(name)
    }

    /// An owned handle on the string behind `sym`.
    pub fn resolve(&self, sym: Sym) -> Option<Arc<str>> {
        self.inner.read().names.get(sym.index() as usize).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().names.len()
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
    fn option_sym_is_four_bytes() {
        assert_eq!(std::mem::size_of::<Option<Sym>>(), 4);
    }
}
