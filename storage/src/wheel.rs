//! A hashed timing wheel of expiry seconds (Varghese & Lauck, scheme 6).
//!
//! Each shard of the table owns one wheel. Inserting a token drops `(expiry, key)` into the
//! slot `expiry mod slots`; the purge walks the slots for the seconds that have passed since
//! it last ran and hands back the keys that are due. Entries for a later turn of the wheel
//! stay where they are and are looked at once per turn, so the purge's work is proportional
//! to the seconds elapsed and the entries in their slots — never to the size of the table.
//!
//! The wheel may hold keys that are already gone (revoked or rotated) or that were
//! re-inserted with another expiry: the caller looks each key up in its map when its slot
//! comes round, so the wheel never needs deleting from.
//!
//! An entry is the key alone (16 bytes, part of the table's per-token memory budget): the
//! expiry is read from the record the key points to. That costs the purge one map lookup
//! per entry per turn of the wheel (about live tokens ÷ 1024 lookups a second), which is
//! far less than the 4 bytes per live token it saves are worth at 10 M tokens.

use crate::key::TokenKey;

#[derive(Debug)]
pub struct TimerWheel {
    slots: Box<[Vec<TokenKey>]>,
    mask: u32,
    /// The first second not yet swept: every entry due before it has been handed out.
    cursor: u32,
    /// Where a sweep that ran out of budget stopped inside the cursor's slot, so the next
    /// one goes on from there instead of looking at the kept entries again.
    resume: usize,
    len: usize,
}

/// What the caller found behind a swept key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// Due (and reclaimed by the caller) or already gone: the entry is dropped.
    Done,
    /// A record that lives on until this second: the entry stays if that is its slot (a
    /// later turn), and is dropped otherwise (a re-insert scheduled its own entry).
    Lives(u32),
}

impl TimerWheel {
    /// A wheel with `slots` one-second slots (rounded up to a power of two), starting at `now`.
    pub fn new(slots: usize, now: u32) -> TimerWheel {
        let slots = slots.max(1).next_power_of_two();
        TimerWheel {
            slots: (0..slots).map(|_| Vec::new()).collect(),
            mask: (slots - 1) as u32,
            cursor: now,
            resume: 0,
            len: 0,
        }
    }

    /// Schedules `key` to be handed out by the first sweep at or after `expires_at`.
    pub fn insert(&mut self, key: TokenKey, expires_at: u32) {
        let slot = &mut self.slots[self.slot_of(expires_at)];
        if slot.len() == slot.capacity() {
            // Grow by an eighth, not by doubling: a slot holds every token of a second, so
            // a doubled one would leave up to 16 B per token unused (the table's memory
            // budget is ~118 B per token). A large realloc is a page remap, not a copy.
            slot.reserve_exact((slot.len() / 8).max(16));
        }
        slot.push(key);
        self.len += 1;
    }

    /// The slot an expiry at `expires_at` is kept in. Something already due goes into the
    /// slot swept next, so it is not missed.
    #[inline]
    fn slot_of(&self, expires_at: u32) -> usize {
        (expires_at.max(self.cursor) & self.mask) as usize
    }

    /// Entries scheduled and not yet swept (including keys that may be gone from the map).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Walks the slots of every second up to `now`, handing each key to `check`, which
    /// reclaims the record if it is due and says what it found ([`Swept`]). At most
    /// `budget` keys are looked at; returns `true` when the sweep reached `now`, `false`
    /// when the budget ran out first (call again; the caller releases its lock in between
    /// so requests are not stalled).
    pub fn sweep(
        &mut self,
        now: u32,
        budget: usize,
        mut check: impl FnMut(TokenKey) -> Swept,
    ) -> bool {
        let mut looked = 0usize;
        // Sweeping more than one full turn visits every slot once; the cursor then jumps.
        let slot_count = self.slots.len() as u64;
        while self.cursor <= now {
            let behind = u64::from(now - self.cursor) + 1;
            let idx = (self.cursor & self.mask) as usize;
            let mut i = self.resume;
            while i < self.slots[idx].len() {
                if looked == budget {
                    self.resume = i;
                    return false;
                }
                looked += 1;
                let key = self.slots[idx][i];
                let keep = match check(key) {
                    Swept::Done => false,
                    // Scheduled in this slot for a later turn; anything else was put in its
                    // own slot when it was inserted again.
                    Swept::Lives(expires_at) => {
                        expires_at > now && (expires_at & self.mask) as usize == idx
                    }
                };
                if keep {
                    i += 1;
                } else {
                    self.slots[idx].swap_remove(i);
                    self.len -= 1;
                }
            }
            self.resume = 0;
            let slot = &mut self.slots[idx];
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
    use std::collections::HashMap;

    fn key(n: u32) -> TokenKey {
        TokenKey::of(&n.to_le_bytes())
    }

    /// A wheel and the expiries it points at, as a table shard keeps them.
    struct Scheduled {
        wheel: TimerWheel,
        expiry: HashMap<TokenKey, u32>,
    }

    impl Scheduled {
        fn new(slots: usize, now: u32) -> Scheduled {
            Scheduled {
                wheel: TimerWheel::new(slots, now),
                expiry: HashMap::new(),
            }
        }

        fn insert(&mut self, n: u32, expires_at: u32) {
            self.expiry.insert(key(n), expires_at);
            self.wheel.insert(key(n), expires_at);
        }

        /// One sweep of at most `budget` keys: `(reached now, keys reclaimed)`.
        fn sweep(&mut self, now: u32, budget: usize) -> (bool, Vec<TokenKey>) {
            let mut out = Vec::new();
            let expiry = &mut self.expiry;
            let finished = self.wheel.sweep(now, budget, |k| match expiry.get(&k) {
                Some(&at) if at > now => Swept::Lives(at),
                Some(_) => {
                    expiry.remove(&k);
                    out.push(k);
                    Swept::Done
                }
                None => Swept::Done,
            });
            (finished, out)
        }

        fn sweep_all(&mut self, now: u32) -> Vec<TokenKey> {
            let (finished, out) = self.sweep(now, usize::MAX);
            assert!(finished);
            out
        }
    }

    #[test]
    fn entries_come_out_only_when_due() {
        let mut w = Scheduled::new(8, 1000);
        w.insert(1, 1002);
        w.insert(2, 1005);
        assert!(w.sweep_all(1001).is_empty());
        assert_eq!(w.sweep_all(1002), vec![key(1)]);
        assert!(w.sweep_all(1004).is_empty());
        assert_eq!(w.sweep_all(1005), vec![key(2)]);
        assert!(w.wheel.is_empty());
    }

    #[test]
    fn entries_beyond_one_turn_wait_for_their_turn() {
        let mut w = Scheduled::new(8, 0);
        w.insert(1, 3);
        w.insert(2, 3 + 8 * 5);
        assert_eq!(w.sweep_all(3), vec![key(1)]);
        assert!(w.sweep_all(3 + 8 * 5 - 1).is_empty());
        assert_eq!(w.wheel.len(), 1, "kept for its turn");
        assert_eq!(w.sweep_all(3 + 8 * 5), vec![key(2)]);
    }

    #[test]
    fn a_long_pause_sweeps_everything_due_once() {
        let mut w = Scheduled::new(8, 0);
        for n in 0..100 {
            w.insert(n, n);
        }
        let out = w.sweep_all(10_000);
        assert_eq!(out.len(), 100);
        assert!(w.wheel.is_empty());
        w.insert(500, 10_003);
        assert!(w.sweep_all(10_002).is_empty());
        assert_eq!(w.sweep_all(10_003), vec![key(500)]);
    }

    #[test]
    fn inserting_an_already_due_entry_is_not_missed() {
        let mut w = Scheduled::new(8, 0);
        w.sweep_all(50);
        w.insert(7, 10);
        assert_eq!(w.sweep_all(51), vec![key(7)]);
    }

    #[test]
    fn budget_bounds_one_sweep_and_the_next_continues() {
        let mut w = Scheduled::new(8, 0);
        for n in 0..10 {
            w.insert(n, 5);
        }
        let (finished, first) = w.sweep(5, 4);
        assert!(!finished);
        assert_eq!(first.len(), 4);
        let (finished, rest) = w.sweep(5, 100);
        assert!(finished);
        assert_eq!(first.len() + rest.len(), 10);
    }

    #[test]
    fn a_slot_full_of_later_turns_does_not_stall_a_budgeted_sweep() {
        // More kept entries in one slot than one sweep may look at: each sweep goes on
        // where the last one stopped, so the sweep still reaches `now`.
        let mut w = Scheduled::new(8, 0);
        for n in 0..50 {
            w.insert(n, 3 + 8 * 10);
        }
        w.insert(99, 3);
        let mut reclaimed = Vec::new();
        let mut sweeps = 0;
        loop {
            sweeps += 1;
            assert!(sweeps < 100, "the sweep never reached now");
            let (finished, out) = w.sweep(3, 7);
            reclaimed.extend(out);
            if finished {
                break;
            }
        }
        assert_eq!(reclaimed, vec![key(99)]);
        assert_eq!(w.wheel.len(), 50);
    }

    #[test]
    fn a_key_inserted_again_with_a_later_expiry_leaves_its_old_entry_behind() {
        let mut w = Scheduled::new(8, 0);
        w.insert(1, 2);
        // Replaced before it was due, by a record living three seconds longer: the entry
        // of second 2 is dropped when its slot comes round, the new one stays.
        w.insert(1, 5);
        assert!(w.sweep_all(2).is_empty());
        assert_eq!(w.wheel.len(), 1);
        assert_eq!(w.sweep_all(5), vec![key(1)]);
        assert!(w.wheel.is_empty());
    }

    #[test]
    fn a_removed_key_is_forgotten_when_its_slot_comes_round() {
        let mut w = Scheduled::new(8, 0);
        w.insert(1, 2);
        w.expiry.remove(&key(1));
        assert!(w.sweep_all(2).is_empty());
        assert!(w.wheel.is_empty());
    }

    #[test]
    fn an_entry_is_the_key_alone() {
        // Part of the table's per-token memory budget.
        assert_eq!(std::mem::size_of::<TokenKey>(), 16);
    }
}
