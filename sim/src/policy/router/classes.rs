//! The ready instances grouped by a load key, for routers that must find the best one
//! without scanning them all: instances with equal keys score equally, so a router scores
//! one class where the linear scan scored each member, and draws among a tie by rank.
//!
//! Invariants: every position `0..len` is in exactly one class, the one of its key; a
//! class holds its positions in increasing order and is never empty. Changing a key
//! moves one position between two classes: O(log n) to find them plus a `memmove` of the
//! positions after it in each (at most n `u32`s, 4 KB at 1,024 instances: cheaper than
//! a balanced tree at the sizes simulated, and the rank and select queries of a tie stay
//! O(log n)).

use std::collections::BTreeMap;
use std::ops::RangeBounds;

/// Positions grouped by key `K`, the classes in key order.
#[derive(Clone, Debug)]
pub(crate) struct Classes<K> {
    keys: Vec<K>,
    members: BTreeMap<K, Vec<u32>>,
}

impl<K> Default for Classes<K> {
    fn default() -> Self {
        Classes {
            keys: Vec::new(),
            members: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> Classes<K> {
    /// The key of position `pos`.
    #[cfg(test)]
    pub(crate) fn key(&self, pos: usize) -> K {
        self.keys[pos]
    }

    /// Positions `0..` with these keys, in order.
    pub(crate) fn reset(&mut self, keys: impl IntoIterator<Item = K>) {
        self.keys.clear();
        self.members.clear();
        for (p, k) in keys.into_iter().enumerate() {
            self.keys.push(k);
            self.members.entry(k).or_default().push(p as u32);
        }
    }

    /// Give position `pos` key `key`.
    pub(crate) fn set(&mut self, pos: usize, key: K) {
        let old = std::mem::replace(&mut self.keys[pos], key);
        if old == key {
            return;
        }
        let p = pos as u32;
        let from = self.members.get_mut(&old).expect("every position is in its class");
        let at = from.binary_search(&p).expect("a class holds its members");
        from.remove(at);
        if from.is_empty() {
            self.members.remove(&old);
        }
        let to = self.members.entry(key).or_default();
        let at = to.binary_search(&p).expect_err("a position is in one class");
        to.insert(at, p);
    }

    /// The class of the smallest key.
    pub(crate) fn first(&self) -> Option<(K, &[u32])> {
        self.members.first_key_value().map(|(k, m)| (*k, m.as_slice()))
    }

    /// The class of the largest key.
    pub(crate) fn last(&self) -> Option<(K, &[u32])> {
        self.members.last_key_value().map(|(k, m)| (*k, m.as_slice()))
    }

    /// The classes of keys in `keys`, in key order.
    pub(crate) fn range(&self, keys: impl RangeBounds<K>) -> impl Iterator<Item = (K, &[u32])> {
        self.members.range(keys).map(|(k, m)| (*k, m.as_slice()))
    }
}

/// Positions grouped by a key `(A, B)`: the classes of each `A` apart, in `B` order, so
/// a router visits the first classes of every `A` without walking the others.
#[derive(Clone, Debug)]
pub(crate) struct Grouped<A, B> {
    keys: Vec<(A, B)>,
    groups: BTreeMap<A, BTreeMap<B, Vec<u32>>>,
}

impl<A, B> Default for Grouped<A, B> {
    fn default() -> Self {
        Grouped {
            keys: Vec::new(),
            groups: BTreeMap::new(),
        }
    }
}

impl<A: Ord + Copy, B: Ord + Copy> Grouped<A, B> {
    /// Positions `0..` with these keys, in order.
    pub(crate) fn reset(&mut self, keys: impl IntoIterator<Item = (A, B)>) {
        self.keys.clear();
        self.groups.clear();
        for (p, (a, b)) in keys.into_iter().enumerate() {
            self.keys.push((a, b));
            let g = self.groups.entry(a).or_default();
            g.entry(b).or_default().push(p as u32);
        }
    }

    /// The key of position `pos`.
    pub(crate) fn key(&self, pos: usize) -> (A, B) {
        self.keys[pos]
    }

    /// Give position `pos` key `key`.
    pub(crate) fn set(&mut self, pos: usize, key: (A, B)) {
        let old = std::mem::replace(&mut self.keys[pos], key);
        if old == key {
            return;
        }
        let p = pos as u32;
        let g = self.groups.get_mut(&old.0).expect("every position is in its group");
        let from = g.get_mut(&old.1).expect("every position is in its class");
        let at = from.binary_search(&p).expect("a class holds its members");
        from.remove(at);
        if from.is_empty() {
            g.remove(&old.1);
            if g.is_empty() {
                self.groups.remove(&old.0);
            }
        }
        let to = self.groups.entry(key.0).or_default().entry(key.1).or_default();
        let at = to.binary_search(&p).expect_err("a position is in one class");
        to.insert(at, p);
    }

    /// The smallest and the largest `A`.
    pub(crate) fn span(&self) -> Option<(A, A)> {
        let first = self.groups.first_key_value()?.0;
        let last = self.groups.last_key_value()?.0;
        Some((*first, *last))
    }

    /// The groups in `A` order, each with its classes in `B` order.
    pub(crate) fn groups(
        &self,
    ) -> impl Iterator<Item = (A, impl Iterator<Item = (B, &[u32])>)> {
        self.groups
            .iter()
            .map(|(a, g)| (*a, g.iter().map(|(b, m)| (*b, m.as_slice()))))
    }

    /// The classes of group `a` from `B` = `from` on, in `B` order.
    pub(crate) fn classes_from(&self, a: A, from: B) -> impl Iterator<Item = (B, &[u32])> {
        self.groups
            .get(&a)
            .into_iter()
            .flat_map(move |g| g.range(from..).map(|(b, m)| (*b, m.as_slice())))
    }
}

/// The `k`-th smallest position (from 0) of `(⋃ classes) \ minus ∪ plus`, where the
/// classes are disjoint and sorted, `minus` (sorted) is part of their union and `plus`
/// (sorted) is disjoint from what remains of it. Panics if the set has `k` or fewer
/// members (a bug).
pub(crate) fn kth(classes: &[&[u32]], minus: &[u32], plus: &[u32], k: usize) -> u32 {
    if minus.is_empty() && plus.is_empty() && classes.len() == 1 {
        return classes[0][k];
    }
    let upto = |p: u32| -> usize {
        let le = |s: &[u32]| s.partition_point(|&x| x <= p);
        classes.iter().map(|c| le(c)).sum::<usize>() - le(minus) + le(plus)
    };
    // The smallest position with more than `k` members at or below it is the answer.
    let mut lo = 0u32;
    let mut hi = classes
        .iter()
        .filter_map(|c| c.last())
        .chain(plus.last())
        .copied()
        .max()
        .expect("a non-empty set");
    assert!(upto(hi) > k, "rank {k} out of range");
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if upto(mid) > k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classes_follow_their_keys() {
        let mut c = Classes::default();
        c.reset([3u32, 1, 3, 2]);
        assert_eq!(c.first(), Some((1, &[1u32][..])));
        assert_eq!(c.last(), Some((3, &[0u32, 2][..])));
        c.set(1, 3);
        assert_eq!(c.first(), Some((2, &[3u32][..])));
        assert_eq!(c.last(), Some((3, &[0u32, 1, 2][..])));
        assert_eq!(c.range(3..).count(), 1);
        assert_eq!(c.key(1), 3);
    }

    #[test]
    fn groups_follow_their_keys() {
        let mut g = Grouped::default();
        g.reset([(2u32, 5u64), (1, 7), (2, 3), (1, 7)]);
        assert_eq!(g.span(), Some((1, 2)));
        let flat = |g: &Grouped<u32, u64>| -> Vec<(u32, u64, Vec<u32>)> {
            g.groups()
                .flat_map(|(a, cs)| cs.map(move |(b, m)| (a, b, m.to_vec())))
                .collect()
        };
        assert_eq!(
            flat(&g),
            vec![(1, 7, vec![1, 3]), (2, 3, vec![2]), (2, 5, vec![0])]
        );
        g.set(2, (3, 1));
        g.set(0, (1, 7));
        assert_eq!(g.span(), Some((1, 3)));
        assert_eq!(flat(&g), vec![(1, 7, vec![0, 1, 3]), (3, 1, vec![2])]);
        assert_eq!(g.classes_from(1, 8).count(), 0);
        assert_eq!(g.key(2), (3, 1));
    }

    proptest! {
        /// `kth` agrees with sorting the set it describes.
        #[test]
        fn kth_selects_by_rank(
            tags in proptest::collection::vec(0u8..6, 1..60),
            k in 0usize..60,
        ) {
            // Tag of each position: 0..3 its class, 3 in class 0 but removed, 4 added,
            // 5 absent.
            let class = |c: u8| -> Vec<u32> {
                (0..tags.len() as u32)
                    .filter(|&p| tags[p as usize] == c || (c == 0 && tags[p as usize] == 3))
                    .collect()
            };
            let of = |t: u8| -> Vec<u32> {
                (0..tags.len() as u32).filter(|&p| tags[p as usize] == t).collect()
            };
            let (c0, c1, c2) = (class(0), class(1), class(2));
            let classes: Vec<&[u32]> = [&c0[..], &c1[..], &c2[..]]
                .into_iter()
                .filter(|c| !c.is_empty())
                .collect();
            let (minus, plus) = (of(3), of(4));
            let set: Vec<u32> = (0..tags.len() as u32)
                .filter(|&p| matches!(tags[p as usize], 0 | 1 | 2 | 4))
                .collect();
            prop_assume!(k < set.len());
            prop_assert_eq!(kth(&classes, &minus, &plus, k), set[k]);
        }
    }
}
