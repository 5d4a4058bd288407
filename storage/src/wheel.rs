//! A hashed timing wheel of expiry seconds (Varghese & Lauck, scheme 6).
//!
//! Each shard of the table owns one wheel. Inserting a token drops `(expiry, key)` into the
//! slot `expiry mod slots`; the purge walks the slots for the seconds that have passed since
//! it last ran and hands back the keys that are due. Entries for a later turn of the wheel
//! stay where they are and are looked at once per turn, so the purge's work is proportional
//! to the seconds elapsed and the entries in their slots — never to the size of the table.
//!
//! The wheel may hold keys that are already gone (revoked or rotated): the caller checks
//! each returned key against the map, so the wheel never needs deleting from.

use crate::key::TokenKey;

/// One scheduled expiry. 20 bytes: this is part of the per-token memory budget.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: TokenKey,
    expires_at: u32,
}

#[derive(Debug)]
pub struct TimerWheel {
    slots: Box<[Vec<Entry>]>,
    mask: u32,
    /// The first second not yet swept: every entry due before it has been handed out.
    cursor: u32,
    len: usize,
}

impl TimerWheel {
    /// A wheel with `slots` one-second slots (rounded up to a power of two), starting at `now`.
    pub fn new(slots: usize, now: u32) -> TimerWheel {
        let slots = slots.max(1).next_power_of_two();
        TimerWheel {
            slots: (0..slots).map(|_| Vec::new()).collect(),
            mask: (slots - 1) as u32,
            cursor: now,
            len: 0,
        }
    }

    /// Schedules `key` to be handed out by the first sweep at or after `expires_at`.
    pub fn insert(&mut self, key: TokenKey, expires_at: u32) {
        // Something already due goes into the slot swept next, so it is not missed.
        let at = expires_at.max(self.cursor);
        let slot = &mut self.slots[(at & self.mask) as usize];
        if slot.len() == slot.capacity() {
            // Grow by an eighth, not by doubling: a slot holds every token of a second, so
            // a doubled one would leave up to 20 B per token unused (the table's memory
            // budget is ~118 B per token). A large realloc is a page remap, not a copy.
            slot.reserve_exact((slot.len() / 8).max(16));
        }
        slot.push(Entry { key, expires_at });
        self.len += 1;
    }

    /// Entries scheduled and not yet swept (including keys that may be gone from the map).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hands every entry with `expires_at <= now` to `due`, at most `budget` of them.
    /// Returns `true` when the sweep reached `now`, `false` when the budget ran out first
    /// (call again; the caller releases its lock in between so requests are not stalled).
    pub fn sweep(&mut self, now: u32, budget: usize, mut due: impl FnMut(TokenKey, u32)) -> bool {
        let mut handed = 0usize;
        // Sweeping more than one full turn visits every slot once; the cursor then jumps.
        let slot_count = self.slots.len() as u64;
        while self.cursor <= now {
            let behind = u64::from(now - self.cursor) + 1;
            let idx = (self.cursor & self.mask) as usize;
            let slot = &mut self.slots[idx];
            let mut i = 0;
            while i < slot.len() {
                if slot[i].expires_at <= now {
                    if handed == budget {
                        return false;
                    }
                    let e = slot.swap_remove(i);
                    self.len -= 1;
                    handed += 1;
                    due(e.key, e.expires_at);
                } else {
                    i += 1;
                }
            }
            if slot.is_empty() && slot.capacity() > 64 {
                // A burst of issuance in one second should not pin its memory for ever.
                slot.shrink_to(16);
            }
            if behind > slot_count {
                // Every slot will be visited once within this turn; skip the empty turns.
                let visited_all_from = now.wrapping_sub(slot_count as u32) + 1;
                self.cursor = visited_all_from.max(self.cursor + 1);
            } else {
                self.cursor += 1;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> TokenKey {
        TokenKey::of(&n.to_le_bytes())
    }

    fn sweep_all(w: &mut TimerWheel, now: u32) -> Vec<TokenKey> {
        let mut out = Vec::new();
        assert!(w.sweep(now, usize::MAX, |k, _| out.push(k)));
        out
    }

    #[test]
    fn entries_come_out_only_when_due() {
        let mut w = TimerWheel::new(8, 1000);
        w.insert(key(1), 1002);
        w.insert(key(2), 1005);
        assert!(sweep_all(&mut w, 1001).is_empty());
        assert_eq!(sweep_all(&mut w, 1002), vec![key(1)]);
        assert!(sweep_all(&mut w, 1004).is_empty());
        assert_eq!(sweep_all(&mut w, 1005), vec![key(2)]);
        assert!(w.is_empty());
    }

    #[test]
    fn entries_beyond_one_turn_wait_for_their_turn() {
        let mut w = TimerWheel::new(8, 0);
        w.insert(key(1), 3);
        w.insert(key(2), 3 + 8 * 5);
        assert_eq!(sweep_all(&mut w, 3), vec![key(1)]);
        assert!(sweep_all(&mut w, 3 + 8 * 5 - 1).is_empty());
        assert_eq!(sweep_all(&mut w, 3 + 8 * 5), vec![key(2)]);
    }

    #[test]
    fn a_long_pause_sweeps_everything_due_once() {
        let mut w = TimerWheel::new(8, 0);
        for n in 0..100 {
            w.insert(key(n), n);
        }
        let out = sweep_all(&mut w, 10_000);
        assert_eq!(out.len(), 100);
        assert!(w.is_empty());
        w.insert(key(500), 10_003);
        assert!(sweep_all(&mut w, 10_002).is_empty());
        assert_eq!(sweep_all(&mut w, 10_003), vec![key(500)]);
    }

    #[test]
    fn inserting_an_already_due_entry_is_not_missed() {
        let mut w = TimerWheel::new(8, 0);
        sweep_all(&mut w, 50);
        w.insert(key(7), 10);
        assert_eq!(sweep_all(&mut w, 51), vec![key(7)]);
    }

    #[test]
    fn budget_bounds_one_sweep_and_the_next_continues() {
        let mut w = TimerWheel::new(8, 0);
        for n in 0..10 {
            w.insert(key(n), 5);
        }
        let mut got = Vec::new();
        assert!(!w.sweep(5, 4, |k, _| got.push(k)));
        assert_eq!(got.len(), 4);
        assert!(w.sweep(5, 100, |k, _| got.push(k)));
        assert_eq!(got.len(), 10);
    }
}
