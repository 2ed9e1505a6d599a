//! SGLang router's cache-aware policy: when the workers' loads are imbalanced, the least
//! loaded worker; otherwise the worker whose approximate prefix tree matches most of the
//! prompt, if the match rate exceeds the cache threshold, else the worker with the
//! smallest tree. The tree is built from the requests the router sent (no KV events).
//!
//! Source: sgl-project/sglang `sgl-router/src/policies/cache_aware.rs` (imbalanced when
//! `max - min > balance_abs_threshold` and `max > balance_rel_threshold x min`) and the
//! router's CLI defaults (`--cache-threshold 0.5`, `--balance-abs-threshold 32`,
//! `--balance-rel-threshold 1.0001`); load is the router's count of requests in flight.
//!
//! At fleet scale (see "Routers at fleet scale" in the `router` module docs): the least loaded worker and the
//! smallest tree come from classes of workers by outstanding requests and by tree size,
//! and the best match from the approximate index's global prefix index (workers matching
//! nothing match 0, so when none matches, the first worker is the best).

use super::classes::Classes;
use super::holders::{Match, Positions};
use super::{ApproxIndex, InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;
use crate::scenario::CacheAwareConfig;

/// The SGLang cache-aware router.
#[derive(Debug)]
pub struct CacheAware {
    cfg: CacheAwareConfig,
    index: ApproxIndex,
    /// Where each worker sits in `loads`.
    at: Positions,
    /// Workers by outstanding requests.
    outstanding: Classes<u32>,
    /// Workers by the size of their approximate tree.
    sizes: Classes<usize>,
    /// Scratch: the workers matching the request being routed.
    matched: Vec<Match>,
}

impl CacheAware {
    /// A router over `instances` workers.
    pub fn new(cfg: CacheAwareConfig, instances: usize) -> CacheAware {
        let index = ApproxIndex::new(instances, cfg.max_tree_blocks as usize);
        CacheAware {
            cfg,
            index,
            at: Positions::default(),
            outstanding: Classes::default(),
            sizes: Classes::default(),
            matched: Vec::new(),
        }
    }

    /// Whether loads from `min` to `max` outstanding requests are imbalanced.
    fn imbalanced(&self, min: u32, max: u32) -> bool {
        f64::from(max - min) > f64::from(self.cfg.balance_abs_threshold)
            && f64::from(max) > self.cfg.balance_rel_threshold * f64::from(min)
    }

    /// Fraction of the prompt a match of `matched` hash blocks covers.
    fn rate(req: &RouteRequest, matched: usize) -> f64 {
        if req.input_tokens == 0 {
            0.0
        } else {
            (matched as f64 * f64::from(req.hash_block_tokens)) / f64::from(req.input_tokens)
        }
    }

    /// Record `req`'s keys for the worker at position `pick`, keeping its tree size class.
    fn record(&mut self, req: &RouteRequest, loads: &[InstanceLoad], pick: usize) {
        let id = loads[pick].id;
        self.index.record(usize::from(id), req.prefix_keys);
        self.sizes.set(pick, self.index.size(usize::from(id)));
    }

    /// The linear scan this router replaced: the property tests' oracle.
    #[cfg(test)]
    pub(crate) fn reference(&mut self, req: &RouteRequest, loads: &[InstanceLoad]) -> usize {
        use super::argmin_by;
        let max = loads.iter().map(|l| l.outstanding).max().unwrap_or(0);
        let min = loads.iter().map(|l| l.outstanding).min().unwrap_or(0);
        let pick = if self.imbalanced(min, max) {
            argmin_by(loads.iter().map(|l| l.outstanding))
        } else {
            let matched: Vec<usize> = loads
                .iter()
                .map(|l| self.index.match_len(usize::from(l.id), req.prefix_keys))
                .collect();
            let best = argmin_by(matched.iter().map(|&m| std::cmp::Reverse(m)));
            if Self::rate(req, matched[best]) > self.cfg.cache_threshold {
                best
            } else {
                argmin_by(loads.iter().map(|l| self.index.size(usize::from(l.id))))
            }
        };
        self.index
            .record(usize::from(loads[pick].id), req.prefix_keys);
        pick
    }
}

impl Router for CacheAware {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], _rng: &mut SimRng) -> usize {
        let (min, least) = self.outstanding.first().expect("a ready worker");
        let (max, _) = self.outstanding.last().expect("a ready worker");
        let pick = if self.imbalanced(min, max) {
            least[0] as usize
        } else {
            let mut matched = std::mem::take(&mut self.matched);
            self.index.matches(req.prefix_keys, &self.at, &mut matched);
            // The first worker with the longest match; all match 0 when none is indexed.
            let (best, len) = matched
                .iter()
                .fold((0, 0), |(bp, bl), m| {
                    if m.len > bl {
                        (m.pos as usize, m.len)
                    } else {
                        (bp, bl)
                    }
                });
            self.matched = matched;
            if Self::rate(req, len as usize) > self.cfg.cache_threshold {
                best
            } else {
                self.sizes.first().expect("a ready worker").1[0] as usize
            }
        };
        self.record(req, loads, pick);
        pick
    }

    fn reset(&mut self, loads: &[InstanceLoad]) {
        self.at.reset(loads);
        self.outstanding
            .reset(loads.iter().map(|l| l.outstanding));
        self.sizes
            .reset(loads.iter().map(|l| self.index.size(usize::from(l.id))));
    }

    fn update(&mut self, pos: usize, _old: &InstanceLoad, new: &InstanceLoad) {
        self.outstanding.set(pos, new.outstanding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::router::Pool;
    use crate::rng::{Stream, Streams};
    use proptest::prelude::*;

    fn cfg() -> CacheAwareConfig {
        CacheAwareConfig {
            cache_threshold: 0.5,
            balance_abs_threshold: 32,
            balance_rel_threshold: 1.0001,
            max_tree_blocks: 1000,
        }
    }

    fn set_outstanding(p: &mut Pool, pos: usize, outstanding: u32) {
        let mut l = p.loads()[pos];
        l.outstanding = outstanding;
        p.set(pos, l);
    }

    #[test]
    fn follows_the_prefix_when_balanced_and_load_when_not() {
        let mut p = Pool::new(Box::new(CacheAware::new(cfg(), 2)));
        p.reset((0..2).map(|id| InstanceLoad {
            id,
            ..Default::default()
        }));
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let a = [1u64, 2, 3, 4];
        let req = RouteRequest {
            input_tokens: 2048,
            prefix_keys: &a,
            hash_block_tokens: 512,
            session: None,
        };
        // First time: no match, smallest tree (both empty): worker 0.
        assert_eq!(p.route(&req, &mut rng), 0);
        // A different prompt goes to the smaller tree: worker 1.
        let b = [9u64, 8, 7, 6];
        let other = RouteRequest {
            prefix_keys: &b,
            ..req
        };
        assert_eq!(p.route(&other, &mut rng), 1);
        // The first prompt again: full match (rate 1 > 0.5) on worker 0.
        set_outstanding(&mut p, 0, 20);
        assert_eq!(p.route(&req, &mut rng), 0);
        // Imbalanced (40 - 0 > 32 and 40 > 1.0001 x 0): least loaded despite the match.
        set_outstanding(&mut p, 0, 40);
        assert_eq!(p.route(&req, &mut rng), 1);
    }

    /// One step of a random cluster's life.
    #[derive(Clone, Debug)]
    enum Op {
        /// Route a prompt of these keys and tokens; the pick gets one more outstanding.
        Route(Vec<u64>, u32, u32),
        /// Instance `.0` (modulo the count) now has `.1` outstanding requests.
        Outstanding(usize, u32),
        /// Instance `.0` becomes ready (true) or not.
        Ready(usize, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let keys = proptest::collection::vec(0u64..10, 0..6);
        let tokens = prop_oneof![Just(0u32), Just(512), Just(2048), 0u32..6000];
        let hash = prop_oneof![Just(0u32), Just(16), Just(512)];
        prop_oneof![
            4 => (keys, tokens, hash).prop_map(|(k, t, h)| Op::Route(k, t, h)),
            2 => (0usize..64, 0u32..8).prop_map(|(i, o)| Op::Outstanding(i, o)),
            1 => (0usize..64, any::<bool>()).prop_map(|(i, r)| Op::Ready(i, r)),
        ]
    }

    fn random_cfg() -> impl Strategy<Value = CacheAwareConfig> {
        (
            prop_oneof![Just(0.0), Just(0.25), Just(0.5), Just(1.0), 0.0..1.0],
            0u32..6,
            prop_oneof![Just(1.0), Just(1.0001), Just(2.0), 1.0..4.0],
            1u32..12,
        )
            .prop_map(|(cache_threshold, abs, rel, max_tree_blocks)| CacheAwareConfig {
                cache_threshold,
                balance_abs_threshold: abs,
                balance_rel_threshold: rel,
                max_tree_blocks,
            })
    }

    proptest! {
        /// Over random clusters (1 to 63 workers, ids from 3 on, random loads, prompts
        /// and ready sets; small trees, so they evict), the indexed router picks what
        /// the linear scan picks, and both trees stay alike.
        #[test]
        fn index_decides_as_the_linear_scan(
            n in 1usize..64,
            cfg in random_cfg(),
            ops in proptest::collection::vec(op(), 1..150),
        ) {
            const BASE: u16 = 3;
            let mut outstanding = vec![0u32; n];
            let mut ready = vec![true; n];
            let loads_of = |outstanding: &[u32], ready: &[bool]| -> Vec<InstanceLoad> {
                (0..n)
                    .filter(|&i| ready[i])
                    .map(|i| InstanceLoad {
                        id: BASE + i as u16,
                        outstanding: outstanding[i],
                        ..Default::default()
                    })
                    .collect()
            };
            let mut p = Pool::new(Box::new(CacheAware::new(cfg.clone(), n)));
            p.reset(loads_of(&outstanding, &ready));
            let mut oracle = CacheAware::new(cfg, n);
            let mut rng = Streams::new(1).get(Stream::Router(0));
            for op in ops {
                match op {
                    Op::Route(keys, tokens, hash) => {
                        let loads = loads_of(&outstanding, &ready);
                        if loads.is_empty() {
                            continue;
                        }
                        let req = RouteRequest {
                            input_tokens: tokens,
                            prefix_keys: &keys,
                            hash_block_tokens: hash,
                            session: None,
                        };
                        prop_assert_eq!(p.loads(), &loads[..]);
                        let want = oracle.reference(&req, &loads);
                        let got = p.route(&req, &mut rng);
                        prop_assert_eq!(got, want);
                        let i = usize::from(loads[got].id - BASE);
                        outstanding[i] += 1;
                        let mut l = loads[got];
                        l.outstanding = outstanding[i];
                        p.set(got, l);
                    }
                    Op::Outstanding(i, o) => {
                        let i = i % n;
                        outstanding[i] = o;
                        let loads = loads_of(&outstanding, &ready);
                        if let Some(pos) = loads.iter().position(|l| l.id == BASE + i as u16) {
                            p.set(pos, loads[pos]);
                        }
                    }
                    Op::Ready(i, r) => {
                        let i = i % n;
                        if ready[i] != r {
                            ready[i] = r;
                            p.reset(loads_of(&outstanding, &ready));
                        }
                    }
                }
            }
        }
    }
}
