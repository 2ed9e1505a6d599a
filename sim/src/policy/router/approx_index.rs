//! An approximate prefix index per instance, built from the requests a router sent there
//! (SGLang router's approximate radix tree, llm-d's prefix-cache scorer): LRU-bounded.
//!
//! Invariants: each instance's index holds at most `capacity` keys; touching a key makes
//! it most recent; evicting drops the least recent. A global [`Holders`] index mirrors
//! the per-instance ones key by key (updated in [`ApproxIndex::record`]), so the instances
//! matching a prompt are found without asking each. Ordered maps only (deterministic).

use super::holders::{Holders, Match, Positions};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default)]
struct One {
    last: BTreeMap<u64, u64>,
    order: BTreeSet<(u64, u64)>,
}

/// Approximate per-instance prefix indexes.
#[derive(Clone, Debug)]
pub struct ApproxIndex {
    per: Vec<One>,
    capacity: usize,
    clock: u64,
    holders: Holders,
}

impl ApproxIndex {
    /// Indexes for `instances` instances of at most `capacity` keys each.
    pub fn new(instances: usize, capacity: usize) -> ApproxIndex {
        ApproxIndex {
            per: vec![One::default(); instances],
            capacity: capacity.max(1),
            clock: 0,
            holders: Holders::default(),
        }
    }

    fn ensure(&mut self, n: usize) {
        if self.per.len() < n {
            self.per.resize(n, One::default());
        }
    }

    /// Leading keys of `keys` recorded for instance `i`.
    pub fn match_len(&self, i: usize, keys: &[u64]) -> usize {
        self.per.get(i).map_or(0, |o| {
            keys.iter().take_while(|k| o.last.contains_key(k)).count()
        })
    }

    /// The ready instances (at their positions in `at`) whose index holds `keys[0]`, with
    /// [`Self::match_len`] of each, in position order.
    pub(crate) fn matches(&self, keys: &[u64], at: &Positions, out: &mut Vec<Match>) {
        self.holders.matches(keys, at, out);
    }

    /// Keys recorded for instance `i`.
    pub fn size(&self, i: usize) -> usize {
        self.per.get(i).map_or(0, |o| o.last.len())
    }

    /// Record that `keys` were sent to instance `i`.
    pub fn record(&mut self, i: usize, keys: &[u64]) {
        self.ensure(i + 1);
        self.clock += 1;
        let t = self.clock;
        let id = u16::try_from(i).expect("instance ids are u16");
        let one = &mut self.per[i];
        for &k in keys {
            if let Some(old) = one.last.insert(k, t) {
                one.order.remove(&(old, k));
            } else {
                self.holders.add(k, id);
            }
            one.order.insert((t, k));
        }
        while one.last.len() > self.capacity {
            let (_, k) = one
                .order
                .pop_first()
                .expect("over capacity means non-empty");
            one.last.remove(&k);
            self.holders.remove(k, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_matches_and_evicts_lru() {
        let mut x = ApproxIndex::new(2, 3);
        x.record(0, &[1, 2, 3]);
        assert_eq!(x.match_len(0, &[1, 2, 9]), 2);
        assert_eq!(x.match_len(1, &[1]), 0);
        x.record(0, &[1]);
        x.record(0, &[4]);
        // 2 was the least recent: evicted.
        assert_eq!(x.size(0), 3);
        assert_eq!(x.match_len(0, &[1, 2]), 1);
        assert_eq!(x.match_len(0, &[4]), 1);
    }
}
