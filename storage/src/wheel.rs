//! A hashed timing wheel of expiry seconds (Varghese & Lauck, scheme 6).
//!
//! Each shard of the table owns one wheel. Inserting a token drops `(expiry, key)` into the
//! slot `expiry mod slots`; the purge walks the slots for the seconds that have passed since
//! it last ran and hands back the keys that are due. Entries for a later turn of the wheel
//! stay where they are and are looked at once per turn, so the purge's work is proportional
//! to the seconds elapsed and the entries in their slots — never to the size of the table.
//!
//! The wheel may hold keys that are already gone (revoked or rotated) or that were
//! re-inserted with another expiry: the caller looks each due key up in its map, so the
//! wheel never needs deleting from.
//!
//! An entry is the key and one byte of its turn (17 bytes, part of the table's per-token
//! memory budget; a full expiry second would be 20): the sweep skips an entry of another
//! turn without looking at the map, and asks the map for the record's expiry only when the
//! turn byte matches. The byte wraps every 256 turns (about three days), so a record living
//! longer is looked up once per 256 turns and kept: the map, not the byte, decides.

use crate::key::TokenKey;

/// A wheel of more than 2^31 slots would shift its turn out of a `u32`.
const TURN_SHIFT_MAX: u32 = 31;

/// One scheduled expiry: the key and the low byte of its turn (`expiry >> log2(slots)`).
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: TokenKey,
    turn: u8,
}

#[derive(Debug)]
pub struct TimerWheel {
    slots: Box<[Vec<Entry>]>,
    mask: u32,
    /// log2 of the slot count: an expiry's turn is `expiry >> turn_shift`.
    turn_shift: u32,
    /// The first second not yet swept: every entry due before it has been handed out.
    cursor: u32,
    /// Where a sweep that ran out of budget stopped inside the cursor's slot, so the next
    /// one goes on from there instead of looking at the kept entries again.
    resume: usize,
    /// After a pause longer than a turn the cursor jumps, and the slots up to this second
    /// may hold entries of turns already past: those slots are checked entry by entry.
    catch_up_until: u32,
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
            turn_shift: slots.trailing_zeros().min(TURN_SHIFT_MAX),
            cursor: now,
            resume: 0,
            catch_up_until: 0,
            len: 0,
        }
    }

    #[inline]
    fn turn(&self, second: u32) -> u8 {
        (second >> self.turn_shift) as u8
    }

    /// Schedules `key` to be handed out by the first sweep at or after `expires_at`.
    pub fn insert(&mut self, key: TokenKey, expires_at: u32) {
        // Something already due goes into the slot swept next, so it is not missed.
        let at = expires_at.max(self.cursor);
        let turn = self.turn(at);
        let slot = &mut self.slots[(at & self.mask) as usize];
        if slot.len() == slot.capacity() {
            // Grow by an eighth, not by doubling: a slot holds every token of a second, so
            // a doubled one would leave up to 17 B per token unused (the table's memory
            // budget is ~118 B per token). A large realloc is a page remap, not a copy.
            slot.reserve_exact((slot.len() / 8).max(16));
        }
        slot.push(Entry { key, turn });
        self.len += 1;
    }

    /// Entries scheduled and not yet swept (including keys that may be gone from the map).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Walks the slots of every second up to `now`, handing each key of the turn being
    /// swept to `check`, which reclaims the record if it is due and says what it found
    /// ([`Swept`]). At most `budget` entries are looked at; returns `true` when the sweep
    /// reached `now`, `false` when the budget ran out first (call again; the caller
    /// releases its lock in between so requests are not stalled).
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
            // After a pause longer than a turn, any turn up to now's may be due in this slot.
            let turns_due = if behind > slot_count || self.cursor <= self.catch_up_until {
                None
            } else {
                Some(self.turn(self.cursor))
            };
            let mut i = self.resume;
            while i < self.slots[idx].len() {
                if looked == budget {
                    self.resume = i;
                    return false;
                }
                looked += 1;
                let entry = self.slots[idx][i];
                if turns_due.is_some_and(|t| t != entry.turn) {
                    // Another turn's: not due, and no need to ask the map.
                    i += 1;
                    continue;
                }
                let keep = match check(entry.key) {
                    Swept::Done => false,
                    // Scheduled in this slot for a later turn; anything else was put in its
                    // own slot when it was inserted again.
                    Swept::Lives(expires_at) => {
                        expires_at > now && (expires_at & self.mask) as usize == idx
                    }
                };
                if keep {
                    // A turn 256 later whose byte wrapped round to this one, or a pause.
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
                self.catch_up_until = now;
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
    fn a_long_pause_swept_in_small_budgets_still_reclaims_every_past_turn() {
        let mut w = Scheduled::new(8, 0);
        for n in 0..100 {
            w.insert(n, n);
        }
        w.insert(500, 10_003);
        let mut reclaimed = 0;
        loop {
            let (finished, out) = w.sweep(10_000, 3);
            reclaimed += out.len();
            if finished {
                break;
            }
        }
        assert_eq!(reclaimed, 100);
        assert_eq!(w.wheel.len(), 1);
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
    fn an_entry_is_the_key_and_one_byte_of_its_turn() {
        // Part of the table's per-token memory budget.
        assert_eq!(std::mem::size_of::<Entry>(), 17);
    }

    #[test]
    fn entries_of_later_turns_are_skipped_without_asking_the_map() {
        let mut w = TimerWheel::new(8, 0);
        for n in 0..10 {
            w.insert(key(n), 3 + 8 * 4);
        }
        w.insert(key(99), 3);
        let mut asked = Vec::new();
        assert!(w.sweep(3, usize::MAX, |k| {
            asked.push(k);
            Swept::Done
        }));
        assert_eq!(asked, vec![key(99)]);
        assert_eq!(w.len(), 10);
    }

    #[test]
    fn a_record_living_past_256_turns_is_kept_when_its_byte_wraps_round() {
        let mut w = Scheduled::new(8, 0);
        // Turn 1 + 256: the same byte as turn 1.
        let far = 8 * (1 + 256) + 2;
        w.insert(1, far);
        assert!(w.sweep_all(8 + 2).is_empty());
        assert_eq!(w.wheel.len(), 1);
        assert_eq!(w.sweep_all(far), vec![key(1)]);
    }
}
