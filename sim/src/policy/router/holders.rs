//! A global prefix index: for each prefix chain key, the instances holding it. It is the
//! inverse of per-instance prefix sets (exact caches seen through KV events, or a router's
//! approximate index), kept in step with them one key at a time, so a router finds the
//! instances matching a prompt's prefix without asking every instance.
//!
//! Invariants: `(key, id)` is in the index exactly when instance `id`'s set holds `key`;
//! each key's holders are sorted and distinct, and a key with none is absent. The map is
//! never iterated (deterministic: only lookups by key).

use super::InstanceLoad;
use crate::key_map::KeyMap;

/// Instances holding each prefix key.
#[derive(Clone, Debug, Default)]
pub(crate) struct Holders {
    by_key: KeyMap<Ids>,
}

/// The instances holding one key, sorted and distinct: most keys (a prompt's own
/// blocks) are held by one instance, kept inline without an allocation.
#[derive(Clone, Debug)]
enum Ids {
    One(u16),
    Many(Vec<u16>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids::Many(Vec::new())
    }
}

impl Ids {
    fn as_slice(&self) -> &[u16] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(v) => v,
        }
    }

    /// Add `id` (kept sorted, once).
    fn add(&mut self, id: u16) {
        match self {
            Ids::One(x) if *x == id => {}
            Ids::One(x) => {
                let x = *x;
                *self = Ids::Many(if x < id { vec![x, id] } else { vec![id, x] });
            }
            Ids::Many(v) if v.is_empty() => *self = Ids::One(id),
            Ids::Many(v) => {
                if let Err(at) = v.binary_search(&id) {
                    v.insert(at, id);
                }
            }
        }
    }

    /// Remove `id`; returns whether none is left.
    fn remove(&mut self, id: u16) -> bool {
        match self {
            Ids::One(x) if *x == id => true,
            Ids::One(_) => false,
            Ids::Many(v) => {
                if let Ok(at) = v.binary_search(&id) {
                    v.remove(at);
                }
                v.is_empty()
            }
        }
    }
}

/// An instance whose set holds a prompt's first key: its position among the ready
/// instances and the number of leading keys of the prompt it holds (at least 1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Match {
    /// Position in the router's `loads`.
    pub(crate) pos: u32,
    /// Leading keys held.
    pub(crate) len: u32,
    /// The instance.
    pub(crate) id: u16,
}

impl Holders {
    /// Instance `id` now holds `key`.
    pub(crate) fn add(&mut self, key: u64, id: u16) {
        self.by_key.entry_or_default(key).add(id);
    }

    /// Instance `id` no longer holds `key`.
    pub(crate) fn remove(&mut self, key: u64, id: u16) {
        let held = self.by_key.update_or_remove(key, |h| h.remove(id));
        debug_assert!(held, "removing a key nobody holds");
    }

    /// The ready instances (at their positions in `at`) holding `keys[0]`, each with the
    /// length of the prefix of `keys` it holds, in position order. Costs the holders of
    /// each matched key, not the instances.
    pub(crate) fn matches(&self, keys: &[u64], at: &Positions, out: &mut Vec<Match>) {
        out.clear();
        let Some(first) = keys.first().and_then(|&k| self.by_key.get(k)) else {
            return;
        };
        let first = first.as_slice();
        out.extend(
            first
                .iter()
                .filter_map(|&id| at.of(id).map(|pos| Match { pos, len: 1, id })),
        );
        self.extend(keys, 1, out);
        out.sort_unstable_by_key(|m| m.pos);
    }

    /// The holders of `keys[0]` (sorted ids, ready or not; empty without keys), and in
    /// `deep` the ready instances holding at least `keys[0]` and `keys[1]`, each with
    /// the length of the prefix of `keys` it holds, in position order: [`Self::matches`]
    /// less its matches of length 1, without visiting them (where the first key is held
    /// by the whole pool, a decision costs the instances holding more).
    pub(crate) fn deep_matches(&self, keys: &[u64], at: &Positions, deep: &mut Vec<Match>) -> &[u16] {
        deep.clear();
        let Some(first) = keys.first().and_then(|&k| self.by_key.get(k)) else {
            return &[];
        };
        let first = first.as_slice();
        let Some(second) = keys.get(1).and_then(|&k| self.by_key.get(k)) else {
            return first;
        };
        let second = second.as_slice();
        let (small, large) = if second.len() <= first.len() {
            (second, first)
        } else {
            (first, second)
        };
        deep.extend(small.iter().filter_map(|&id| {
            if large.binary_search(&id).is_err() {
                return None;
            }
            at.of(id).map(|pos| Match { pos, len: 2, id })
        }));
        self.extend(keys, 2, deep);
        deep.sort_unstable_by_key(|m| m.pos);
        first
    }

    /// Lengthen the matches of `out` (sorted by id, the longest of length `from`) over
    /// `keys[from..]`: a match of length `j` holding `keys[j]` grows by one.
    fn extend(&self, keys: &[u64], from: usize, out: &mut [Match]) {
        // Walk the smaller side: the matches still extending, or the key's holders (often
        // one or two where the first key is held by the whole pool).
        let mut extending = out.iter().filter(|m| m.len as usize == from).count();
        for (j, &key) in keys.iter().enumerate().skip(from) {
            if extending == 0 {
                break;
            }
            let Some(h) = self.by_key.get(key) else {
                break;
            };
            let h = h.as_slice();
            let mut any = 0;
            if h.len() < extending {
                for id in h {
                    if let Ok(k) = out.binary_search_by_key(id, |m| m.id)
                        && out[k].len as usize == j
                    {
                        out[k].len += 1;
                        any += 1;
                    }
                }
            } else {
                for m in out.iter_mut() {
                    if m.len as usize == j && h.binary_search(&m.id).is_ok() {
                        m.len += 1;
                        any += 1;
                    }
                }
            }
            extending = any;
        }
    }
}

/// Where each instance sits in a router's `loads` (the ready instances, in pool order).
#[derive(Clone, Debug, Default)]
pub(crate) struct Positions {
    of: Vec<u32>,
}

impl Positions {
    const NONE: u32 = u32::MAX;

    /// The positions of the instances of `loads`.
    pub(crate) fn reset(&mut self, loads: &[InstanceLoad]) {
        self.of.fill(Self::NONE);
        for (p, l) in loads.iter().enumerate() {
            let i = usize::from(l.id);
            if self.of.len() <= i {
                self.of.resize(i + 1, Self::NONE);
            }
            self.of[i] = p as u32;
        }
    }

    /// Position of instance `id`, if it is ready.
    pub(crate) fn of(&self, id: u16) -> Option<u32> {
        self.of
            .get(usize::from(id))
            .copied()
            .filter(|&p| p != Self::NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_follow_leading_keys_of_ready_instances() {
        let mut h = Holders::default();
        for (key, id) in [(1, 0), (2, 0), (3, 0), (1, 2), (3, 2), (2, 5), (1, 5)] {
            h.add(key, id);
        }
        // Instances 0, 2 and 5 ready at positions 2, 0 and 1.
        let loads: Vec<InstanceLoad> = [2u16, 5, 0]
            .iter()
            .map(|&id| InstanceLoad {
                id,
                ..Default::default()
            })
            .collect();
        let mut at = Positions::default();
        at.reset(&loads);
        let mut out = Vec::new();
        h.matches(&[1, 2, 3, 4], &at, &mut out);
        let m = |pos, len, id| Match { pos, len, id };
        assert_eq!(out, vec![m(0, 1, 2), m(1, 2, 5), m(2, 3, 0)]);
        h.remove(2, 0);
        h.matches(&[1, 2, 3], &at, &mut out);
        assert_eq!(out, vec![m(0, 1, 2), m(1, 2, 5), m(2, 1, 0)]);
        // Instance 5 no longer ready.
        at.reset(&loads[..1]);
        h.matches(&[1, 2], &at, &mut out);
        assert_eq!(out, vec![m(0, 1, 2)]);
        h.matches(&[9, 1], &at, &mut out);
        assert!(out.is_empty());
    }
}
