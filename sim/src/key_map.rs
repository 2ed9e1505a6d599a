//! A map from 64-bit keys to values by open addressing (linear probing, backward-shift
//! deletion), for the prefix indexes: a prefix cache's entries and a router's global
//! index of which instances hold each prefix key. Those are looked up, inserted and
//! removed one key at a time, millions of times in a fleet-scale run, and never
//! iterated; an ordered map paid a cache miss per tree level for each.
//!
//! Invariants: no iteration API, so no result can depend on where a key sits (the map
//! is deterministic anyway: the slot of a key is a fixed function of the key and the
//! keys inserted and removed before it). Every stored key is reachable from its home
//! slot without crossing an empty slot; at most half the slots are full. Key 0 is the
//! empty marker of the table and lives apart, in `zero`.

/// A map from `u64` keys to `V`, without iteration.
#[derive(Clone, Debug)]
pub(crate) struct KeyMap<V> {
    /// `(key, value)`, key 0 = empty; the length is a power of two (or 0).
    slots: Vec<(u64, V)>,
    /// Stored keys other than 0.
    len: usize,
    /// The value of key 0.
    zero: Option<V>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            slots: Vec::new(),
            len: 0,
            zero: None,
        }
    }
}

/// Home slot of `key` in a table of `mask + 1` slots (Fibonacci hashing: the keys here
/// are mostly hashes already, but a router's own keys need not be).
fn home(key: u64, mask: usize) -> usize {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((h ^ (h >> 32)) as usize) & mask
}

impl<V: Default> KeyMap<V> {
    /// Whether no key is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && self.zero.is_none()
    }

    /// Slot of `key` (not 0), if stored.
    fn find(&self, key: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = home(key, mask);
        loop {
            let k = self.slots[i].0;
            if k == key {
                return Some(i);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Whether `key` is stored.
    pub(crate) fn contains_key(&self, key: u64) -> bool {
        if key == 0 {
            self.zero.is_some()
        } else {
            self.find(key).is_some()
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: u64) -> Option<&V> {
        if key == 0 {
            self.zero.as_ref()
        } else {
            self.find(key).map(|i| &self.slots[i].1)
        }
    }

    /// The value of `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        if key == 0 {
            self.zero.as_mut()
        } else {
            self.find(key).map(|i| &mut self.slots[i].1)
        }
    }

    /// The value of `key`, inserted as `V::default()` when absent.
    pub(crate) fn entry_or_default(&mut self, key: u64) -> &mut V {
        if key == 0 {
            return self.zero.get_or_insert_with(V::default);
        }
        let (i, stored) = self.slot_for_insert(key);
        if !stored {
            self.slots[i].0 = key;
            self.len += 1;
        }
        &mut self.slots[i].1
    }

    /// The slot of `key` (not 0) and whether it is stored there; when it is not, the
    /// empty slot where it goes, after growing the table if it would be over half full.
    fn slot_for_insert(&mut self, key: u64) -> (usize, bool) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = home(key, mask);
        loop {
            match self.slots[i].0 {
                k if k == key => return (i, true),
                0 => return (i, false),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Insert `key` with `value` (replacing any value it had).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, key: u64, value: V) {
        *self.entry_or_default(key) = value;
    }

    /// Insert `key` with `value` unless it is stored; returns whether it was inserted.
    pub(crate) fn insert_new(&mut self, key: u64, value: V) -> bool {
        if key == 0 {
            if self.zero.is_some() {
                return false;
            }
            self.zero = Some(value);
            return true;
        }
        let (i, stored) = self.slot_for_insert(key);
        if !stored {
            self.slots[i] = (key, value);
            self.len += 1;
        }
        !stored
    }

    /// Apply `f` to the value of `key` (if stored) and remove the key when `f` says so;
    /// returns whether it was stored.
    pub(crate) fn update_or_remove(&mut self, key: u64, f: impl FnOnce(&mut V) -> bool) -> bool {
        if key == 0 {
            let Some(v) = self.zero.as_mut() else {
                return false;
            };
            if f(v) {
                self.zero = None;
            }
            return true;
        }
        let Some(i) = self.find(key) else {
            return false;
        };
        if f(&mut self.slots[i].1) {
            self.remove_at(i);
        }
        true
    }

    /// Remove `key`; returns its value.
    pub(crate) fn remove(&mut self, key: u64) -> Option<V> {
        if key == 0 {
            return self.zero.take();
        }
        let i = self.find(key)?;
        Some(self.remove_at(i))
    }

    /// Remove the key in slot `i`; returns its value.
    fn remove_at(&mut self, mut i: usize) -> V {
        let mask = self.slots.len() - 1;
        let out = std::mem::take(&mut self.slots[i]).1;
        self.len -= 1;
        // Backward shift: move later keys of the probe run into the hole when their home
        // is not between the hole and them (cyclically), so every key stays reachable.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j].0;
            if k == 0 {
                break;
            }
            let h = home(k, mask);
            let stays = if i <= j {
                i < h && h <= j
            } else {
                i < h || h <= j
            };
            if !stays {
                self.slots.swap(i, j);
                i = j;
            }
        }
        out
    }

    /// Double the table (at least 16 slots) and reinsert every key.
    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let mut slots = Vec::with_capacity(cap);
        slots.resize_with(cap, <(u64, V)>::default);
        let old = std::mem::replace(&mut self.slots, slots);
        let mask = cap - 1;
        for (k, v) in old {
            if k == 0 {
                continue;
            }
            let mut i = home(k, mask);
            while self.slots[i].0 != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn zero_and_collisions() {
        let mut m: KeyMap<u32> = KeyMap::default();
        assert!(m.is_empty());
        m.insert(0, 7);
        assert_eq!(m.get(0), Some(&7));
        assert!(!m.is_empty());
        // Keys sharing a home slot in a 16-slot table.
        let same: Vec<u64> = (1..10_000u64)
            .filter(|&k| home(k, 15) == home(1, 15))
            .take(5)
            .collect();
        for (n, &k) in same.iter().enumerate() {
            m.insert(k, n as u32);
        }
        assert_eq!(m.remove(same[1]), Some(1));
        for (n, &k) in same.iter().enumerate() {
            assert_eq!(m.get(k).copied(), (n != 1).then_some(n as u32));
        }
        assert_eq!(m.remove(0), Some(7));
        assert_eq!(m.remove(0), None);
    }

    proptest! {
        /// Any sequence of inserts, updates and removals leaves the map answering as an
        /// ordered map does.
        #[test]
        fn key_map_behaves_as_an_ordered_map(
            ops in proptest::collection::vec((0u8..6, 0u64..64, any::<u32>()), 0..400),
            spread in any::<bool>(),
        ) {
            let mut m: KeyMap<u32> = KeyMap::default();
            let mut r: BTreeMap<u64, u32> = BTreeMap::new();
            for (op, k, v) in ops {
                let k = if spread { k.wrapping_mul(0x1000_0000_01b3) } else { k };
                match op {
                    0 => {
                        m.insert(k, v);
                        r.insert(k, v);
                    }
                    1 => prop_assert_eq!(m.remove(k), r.remove(&k)),
                    2 => {
                        let a = m.entry_or_default(k);
                        *a = a.wrapping_add(1);
                        let b = r.entry(k).or_default();
                        *b = b.wrapping_add(1);
                    }
                    3 => {
                        let fresh = !r.contains_key(&k);
                        if fresh {
                            r.insert(k, v);
                        }
                        prop_assert_eq!(m.insert_new(k, v), fresh);
                    }
                    4 => {
                        let had = m.update_or_remove(k, |x| {
                            *x ^= v;
                            *x % 2 == 0
                        });
                        prop_assert_eq!(had, r.contains_key(&k));
                        if let Some(x) = r.get_mut(&k) {
                            *x ^= v;
                            if *x % 2 == 0 {
                                r.remove(&k);
                            }
                        }
                    }
                    _ => {
                        if let Some(x) = m.get_mut(k) {
                            *x ^= v;
                        }
                        if let Some(x) = r.get_mut(&k) {
                            *x ^= v;
                        }
                    }
                }
                for q in 0..64u64 {
                    let q = if spread { q.wrapping_mul(0x1000_0000_01b3) } else { q };
                    prop_assert_eq!(m.get(q), r.get(&q));
                    prop_assert_eq!(m.contains_key(q), r.contains_key(&q));
                }
                prop_assert_eq!(m.is_empty(), r.is_empty());
            }
        }
    }
}
