//! Prefix cache of one instance: an index of KV blocks by prefix chain key, shared by
//! the requests that use them, with LRU eviction of unused entries.
//!
//! A request's prompt is cut into hash blocks (`hash_block_tokens` each: 512 for
//! Mooncake traces). Entry `i` is keyed by a hash of the chain `(h_0, ..., h_i)`, so a key
//! identifies a whole prefix: this is the radix tree of vLLM's and SGLang's prefix caches
//! flattened into a map. An entry holds `engine_blocks` KV blocks of the instance.
//!
//! Invariants:
//! - `held_blocks` = entries x `engine_blocks`; `evictable_blocks` = entries with no
//!   reference x `engine_blocks`, and exactly those entries are in the LRU order.
//! - Referenced entries are never evicted. Entries only hold blocks that the instance
//!   accounts as used; evicting returns them.
//! - Deterministic: the entries' map is only looked up by key, never iterated; the LRU
//!   order is an ordered set, ties broken by key.
//! - When it publishes KV events, every change of its set of keys is logged in order
//!   (a [`KvEvent`] per insert and per eviction) until taken: replaying the log onto the
//!   set as it was when last taken gives the set as it is.

use crate::key_map::KeyMap;
use std::collections::BTreeMap;

/// Chain keys of a prompt's full hash blocks: `key_i = mix(key_{i-1}, h_i)`.
pub fn chain_keys(hashes: &[u64], full_blocks: usize) -> Vec<u64> {
    let mut key = 0x9e37_79b9_7f4a_7c15u64;
    hashes
        .iter()
        .take(full_blocks)
        .map(|&h| {
            key = mix(key ^ h.rotate_left(17));
            key
        })
        .collect()
}

/// SplitMix64 finaliser: a fixed, well-distributed 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A change of a cache's keys, as a router receiving KV events sees it (Dynamo's
/// `KvCacheEvent`: blocks stored, blocks removed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KvEvent {
    /// The key became cached.
    Stored(u64),
    /// The key was evicted.
    Removed(u64),
}

#[derive(Copy, Clone, Debug, Default)]
struct Entry {
    refs: u32,
    last_use: u64,
}

/// The prefix cache of one instance.
#[derive(Clone, Debug, Default)]
pub struct PrefixCache {
    engine_blocks: u64,
    entries: KeyMap<Entry>,
    /// The unreferenced entries in LRU order, `(last use, key)`: one bucket per release
    /// (its keys share their last use), keys in descending order so that the least
    /// recently used pops from the back of the first bucket.
    lru: BTreeMap<u64, Vec<u64>>,
    /// Emptied buckets, reused.
    spare: Vec<Vec<u64>>,
    clock: u64,
    held_blocks: u64,
    evictable_blocks: u64,
    /// Changes not taken yet (`None`: it does not publish KV events).
    events: Option<Vec<KvEvent>>,
    /// Prompt tokens looked up at prefill admission.
    pub lookup_tokens: u64,
    /// Prompt tokens found cached at prefill admission.
    pub hit_tokens: u64,
}

impl PrefixCache {
    /// A cache whose entries hold `engine_blocks` KV blocks each (hash block tokens /
    /// KV block tokens).
    pub fn new(engine_blocks: u64) -> PrefixCache {
        PrefixCache {
            engine_blocks,
            ..PrefixCache::default()
        }
    }

    /// KV blocks per entry.
    pub fn engine_blocks(&self) -> u64 {
        self.engine_blocks
    }

    /// Blocks held by entries.
    #[cfg(test)]
    fn held_blocks(&self) -> u64 {
        self.held_blocks
    }

    /// Blocks held by entries no request uses (reclaimable).
    pub fn evictable_blocks(&self) -> u64 {
        self.evictable_blocks
    }

    /// Publish KV events from now on (see [`Self::take_events`]).
    pub fn publish_events(&mut self) {
        self.events.get_or_insert_with(Vec::new);
    }

    /// Whether it publishes KV events.
    pub fn publishes_events(&self) -> bool {
        self.events.is_some()
    }

    /// The changes of its keys since the last call, in order (none unless it publishes).
    pub fn take_events(&mut self) -> impl Iterator<Item = KvEvent> + '_ {
        self.events.iter_mut().flat_map(|log| log.drain(..))
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Length of the longest cached prefix of `keys` (in entries).
    pub fn match_len(&self, keys: &[u64]) -> usize {
        keys.iter()
            .take_while(|&&k| self.entries.contains_key(k))
            .count()
    }

    /// How many of `keys` (all cached) have no reference now.
    pub fn unreferenced(&self, keys: &[u64]) -> u64 {
        keys.iter()
            .filter(|&&k| self.entries.get(k).is_some_and(|e| e.refs == 0))
            .count() as u64
    }

    /// Take a reference on each key (all cached).
    pub fn acquire(&mut self, keys: &[u64]) {
        self.clock += 1;
        for &k in keys {
            let e = self.entries.get_mut(k).expect("acquired key is cached");
            if e.refs == 0 {
                let t = e.last_use;
                let bucket = self.lru.get_mut(&t).expect("an unreferenced entry is in the LRU");
                let at = bucket
                    .binary_search_by(|x| k.cmp(x))
                    .expect("an unreferenced entry is in its bucket");
                bucket.remove(at);
                if bucket.is_empty() {
                    let b = self.lru.remove(&t).expect("the bucket is there");
                    self.spare.push(b);
                }
                self.evictable_blocks -= self.engine_blocks;
            }
            e.refs += 1;
            e.last_use = self.clock;
        }
    }

    /// Drop a reference on each key.
    pub fn release(&mut self, keys: &[u64]) {
        self.clock += 1;
        let mut bucket = self.spare.pop().unwrap_or_default();
        for &k in keys {
            let e = self.entries.get_mut(k).expect("released key is cached");
            debug_assert!(e.refs > 0, "release without acquire");
            e.refs -= 1;
            e.last_use = self.clock;
            if e.refs == 0 {
                bucket.push(k);
                self.evictable_blocks += self.engine_blocks;
            }
        }
        if bucket.is_empty() {
            self.spare.push(bucket);
        } else {
            bucket.sort_unstable_by(|a, b| b.cmp(a));
            self.lru.insert(self.clock, bucket);
        }
    }

    /// Add `key` with one reference, taking over `engine_blocks` blocks the caller
    /// already accounts as used. Returns false (and takes nothing) if it is cached.
    pub fn insert(&mut self, key: u64) -> bool {
        let entry = Entry {
            refs: 1,
            last_use: self.clock + 1,
        };
        if !self.entries.insert_new(key, entry) {
            return false;
        }
        self.clock += 1;
        self.held_blocks += self.engine_blocks;
        if let Some(log) = &mut self.events {
            log.push(KvEvent::Stored(key));
        }
        true
    }

    /// Evict the least recently used unreferenced entry; returns the blocks it held.
    pub fn evict_one(&mut self) -> Option<u64> {
        let mut first = self.lru.first_entry()?;
        let t = *first.key();
        let k = first.get_mut().pop().expect("LRU buckets are not empty");
        if first.get().is_empty() {
            self.spare.push(first.remove());
        }
        let e = self.entries.remove(k).expect("LRU entry is cached");
        debug_assert_eq!((e.refs, e.last_use), (0, t));
        self.held_blocks -= self.engine_blocks;
        self.evictable_blocks -= self.engine_blocks;
        if let Some(log) = &mut self.events {
            log.push(KvEvent::Removed(k));
        }
        Some(self.engine_blocks)
    }

    /// Fraction of looked-up prompt tokens found cached.
    pub fn hit_rate(&self) -> f64 {
        if self.lookup_tokens == 0 {
            0.0
        } else {
            self.hit_tokens as f64 / self.lookup_tokens as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_keys_identify_whole_prefixes() {
        let a = chain_keys(&[1, 2, 3], 3);
        let b = chain_keys(&[1, 2, 4], 3);
        let c = chain_keys(&[9, 2, 3], 3);
        assert_eq!(a[..2], b[..2]);
        assert_ne!(a[2], b[2]);
        assert_ne!(
            a[1], c[1],
            "same block after a different prefix is another key"
        );
        assert_eq!(chain_keys(&[1, 2, 3], 2).len(), 2);
    }

    #[test]
    fn lru_evicts_only_unreferenced_entries_oldest_first() {
        let mut c = PrefixCache::new(4);
        let k = chain_keys(&[1, 2, 3], 3);
        for &key in &k {
            assert!(c.insert(key));
        }
        assert_eq!(c.held_blocks(), 12);
        assert_eq!(c.evictable_blocks(), 0);
        assert_eq!(c.evict_one(), None);
        c.release(&k[2..]);
        c.release(&k[..1]);
        assert_eq!(c.evictable_blocks(), 8);
        // k[2] was released first: it goes first.
        assert_eq!(c.evict_one(), Some(4));
        assert_eq!(c.match_len(&k), 2);
        c.acquire(&k[..1]);
        assert_eq!(
            c.evict_one(),
            None,
            "k[0] referenced again, k[1] still held"
        );
        c.release(&k[..2]);
        assert_eq!(c.evict_one(), Some(4));
        assert_eq!(c.evict_one(), Some(4));
        assert!(c.is_empty());
        assert_eq!((c.held_blocks(), c.evictable_blocks()), (0, 0));
    }

    #[test]
    fn publishes_inserts_and_evictions_in_order() {
        let mut c = PrefixCache::new(1);
        c.insert(7);
        assert_eq!(c.take_events().count(), 0, "not publishing yet");
        c.publish_events();
        c.insert(8);
        c.release(&[7, 8]);
        c.evict_one();
        assert!(!c.insert(8), "cached: no event");
        let got: Vec<KvEvent> = c.take_events().collect();
        assert_eq!(got, vec![KvEvent::Stored(8), KvEvent::Removed(7)]);
        assert_eq!(c.take_events().count(), 0);
    }

    /// The LRU order of a plain ordered set of `(last use, key)`, as the cache kept it
    /// before its buckets.
    #[derive(Default)]
    struct Reference {
        refs: BTreeMap<u64, (u32, u64)>,
        lru: std::collections::BTreeSet<(u64, u64)>,
        clock: u64,
    }

    impl Reference {
        fn insert(&mut self, k: u64) -> bool {
            if self.refs.contains_key(&k) {
                return false;
            }
            self.clock += 1;
            self.refs.insert(k, (1, self.clock));
            true
        }
        fn acquire(&mut self, keys: &[u64]) {
            self.clock += 1;
            for k in keys {
                let e = self.refs.get_mut(k).unwrap();
                if e.0 == 0 {
                    self.lru.remove(&(e.1, *k));
                }
                *e = (e.0 + 1, self.clock);
            }
        }
        fn release(&mut self, keys: &[u64]) {
            self.clock += 1;
            for k in keys {
                let e = self.refs.get_mut(k).unwrap();
                *e = (e.0 - 1, self.clock);
                if e.0 == 0 {
                    self.lru.insert((e.1, *k));
                }
            }
        }
        fn evict_one(&mut self) -> Option<u64> {
            let (_, k) = self.lru.pop_first()?;
            self.refs.remove(&k);
            Some(k)
        }
    }

    proptest::proptest! {
        /// Inserts, references, releases and evictions evict in the order of
        /// `(last use, key)`, as an ordered set of those pairs does.
        #[test]
        fn lru_buckets_evict_as_an_ordered_set(
            ops in proptest::collection::vec((0u8..4, proptest::collection::vec(0u64..24, 1..6)), 0..200),
        ) {
            let mut c = PrefixCache::new(1);
            c.publish_events();
            let mut r = Reference::default();
            for (op, keys) in ops {
                match op {
                    0 => {
                        for &k in &keys {
                            proptest::prop_assert_eq!(c.insert(k), r.insert(k));
                        }
                    }
                    1 => {
                        let held: Vec<u64> = keys.iter().copied().filter(|k| r.refs.contains_key(k)).collect();
                        c.acquire(&held);
                        r.acquire(&held);
                    }
                    2 => {
                        let held: Vec<u64> = keys
                            .iter()
                            .copied()
                            .filter(|k| r.refs.get(k).is_some_and(|e| e.0 > 0))
                            .collect::<std::collections::BTreeSet<u64>>()
                            .into_iter()
                            .collect();
                        c.release(&held);
                        r.release(&held);
                    }
                    _ => {
                        for _ in 0..keys.len() {
                            let got = c.evict_one().map(|_| {
                                let evs: Vec<KvEvent> = c.take_events().collect();
                                evs
                            });
                            let want = r.evict_one().map(|k| vec![KvEvent::Removed(k)]);
                            proptest::prop_assert_eq!(got, want);
                        }
                    }
                }
                c.take_events().for_each(drop);
                proptest::prop_assert_eq!(c.evictable_blocks(), r.lru.len() as u64);
                for k in 0..24u64 {
                    proptest::prop_assert_eq!(c.match_len(&[k]), usize::from(r.refs.contains_key(&k)));
                }
            }
        }
    }
}
