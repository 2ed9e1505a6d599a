//! SGLang router's cache-aware policy: when the workers' loads are imbalanced, the least
//! loaded worker; otherwise the worker whose approximate prefix tree matches most of the
//! prompt, if the match rate exceeds the cache threshold, else the worker with the
//! smallest tree. The tree is built from the requests the router sent (no KV events).
//!
//! Source: sgl-project/sglang `sgl-router/src/policies/cache_aware.rs` (imbalanced when
//! `max - min > balance_abs_threshold` and `max > balance_rel_threshold x min`) and the
//! router's CLI defaults (`--cache-threshold 0.5`, `--balance-abs-threshold 32`,
//! `--balance-rel-threshold 1.0001`); load is the router's count of requests in flight.

use super::{ApproxIndex, InstanceLoad, RouteRequest, Router, argmin_by};
use crate::rng::SimRng;
use crate::scenario::CacheAwareConfig;

/// The SGLang cache-aware router.
#[derive(Debug)]
pub struct CacheAware {
    cfg: CacheAwareConfig,
    index: ApproxIndex,
}

impl CacheAware {
    /// A router over `instances` workers.
    pub fn new(cfg: CacheAwareConfig, instances: usize) -> CacheAware {
        let index = ApproxIndex::new(instances, cfg.max_tree_blocks as usize);
        CacheAware { cfg, index }
    }
}

impl Router for CacheAware {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], _rng: &mut SimRng) -> usize {
        let max = loads.iter().map(|l| l.outstanding).max().unwrap_or(0);
        let min = loads.iter().map(|l| l.outstanding).min().unwrap_or(0);
        let imbalanced = f64::from(max - min) > f64::from(self.cfg.balance_abs_threshold)
            && f64::from(max) > self.cfg.balance_rel_threshold * f64::from(min);
        let pick = if imbalanced {
            argmin_by(loads.iter().map(|l| l.outstanding))
        } else {
            let matched: Vec<usize> = loads
                .iter()
                .map(|l| self.index.match_len(usize::from(l.id), req.prefix_keys))
                .collect();
            let best = argmin_by(matched.iter().map(|&m| std::cmp::Reverse(m)));
            let rate = if req.input_tokens == 0 {
                0.0
            } else {
                (matched[best] as f64 * f64::from(req.hash_block_tokens))
                    / f64::from(req.input_tokens)
            };
            if rate > self.cfg.cache_threshold {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    fn cfg() -> CacheAwareConfig {
        CacheAwareConfig {
            cache_threshold: 0.5,
            balance_abs_threshold: 32,
            balance_rel_threshold: 1.0001,
            max_tree_blocks: 1000,
        }
    }

    #[test]
    fn follows_the_prefix_when_balanced_and_load_when_not() {
        let mut r = CacheAware::new(cfg(), 2);
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let a = [1u64, 2, 3, 4];
        let req = RouteRequest {
            input_tokens: 2048,
            prefix_keys: &a,
            hash_block_tokens: 512,
            session: None,
        };
        let mut loads = vec![InstanceLoad::default(); 2];
        loads[1].id = 1;
        // First time: no match, smallest tree (both empty): worker 0.
        assert_eq!(r.route(&req, &loads, &mut rng), 0);
        // A different prompt goes to the smaller tree: worker 1.
        let b = [9u64, 8, 7, 6];
        let other = RouteRequest {
            prefix_keys: &b,
            ..req
        };
        assert_eq!(r.route(&other, &loads, &mut rng), 1);
        // The first prompt again: full match (rate 1 > 0.5) on worker 0.
        loads[0].outstanding = 20;
        assert_eq!(r.route(&req, &loads, &mut rng), 0);
        // Imbalanced (40 - 0 > 32 and 40 > 1.0001 x 0): least loaded despite the match.
        loads[0].outstanding = 40;
        assert_eq!(r.route(&req, &loads, &mut rng), 1);
    }
}
