//! Dynamo's KV router: cost = overlap weight x prefill blocks still to compute + decode
//! blocks the worker holds; temperature 0 picks the cheapest worker (ties at random, as
//! Dynamo does), a positive temperature samples a softmax over the normalised costs.
//!
//! Source: ai-dynamo/dynamo `docs/router/kv_cache_routing.md` (`--kv-overlap-score-weight`
//! default 1, `--router-temperature` default 0, KV events on by default) and the
//! `DefaultWorkerSelector` in `lib/llm/src/kv_router/scheduler.rs` (logit = weight x
//! potential prefill blocks + potential active blocks). With KV events the router knows
//! each worker's cached blocks exactly, so it reads [`InstanceLoad::cached_blocks`].

use super::{InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;
use crate::scenario::KvAwareConfig;
use rand::RngExt;

/// The Dynamo KV router.
#[derive(Debug)]
pub struct KvAware {
    cfg: KvAwareConfig,
}

impl KvAware {
    /// A router with these parameters.
    pub fn new(cfg: KvAwareConfig) -> KvAware {
        KvAware { cfg }
    }

    /// Cost of each worker, in blocks of `block_tokens`.
    pub fn costs(&self, req: &RouteRequest, loads: &[InstanceLoad]) -> Vec<f64> {
        let bt = f64::from(self.cfg.block_tokens);
        let request_blocks = f64::from(req.input_tokens) / bt;
        loads
            .iter()
            .map(|l| {
                let cached = f64::from(l.cached_blocks) * f64::from(req.hash_block_tokens) / bt;
                let prefill = (request_blocks - cached).max(0.0);
                let active = l.active_tokens as f64 / bt + request_blocks;
                self.cfg.overlap_weight * prefill + active
            })
            .collect()
    }
}

impl Router for KvAware {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize {
        let costs = self.costs(req, loads);
        let min = costs.iter().copied().fold(f64::INFINITY, f64::min);
        if self.cfg.temperature <= 0.0 {
            let ties: Vec<usize> = (0..costs.len()).filter(|&i| costs[i] <= min).collect();
            return if ties.len() == 1 {
                ties[0]
            } else {
                ties[rng.random_range(0..ties.len())]
            };
        }
        // Softmax over costs normalised to [0, 1] (lower cost, higher weight).
        let max = costs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let span = (max - min).max(f64::MIN_POSITIVE);
        let weights: Vec<f64> = costs
            .iter()
            .map(|c| (-(c - min) / span / self.cfg.temperature).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut u = rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
    }

    fn wants_cache_state(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    #[test]
    fn prefers_the_cached_worker_until_its_load_outweighs_the_overlap() {
        let cfg = KvAwareConfig {
            overlap_weight: 1.0,
            temperature: 0.0,
            block_tokens: 16,
        };
        let mut r = KvAware::new(cfg);
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let keys = [1u64, 2, 3, 4];
        let req = RouteRequest {
            input_tokens: 2048,
            prefix_keys: &keys,
            hash_block_tokens: 512,
            session: None,
        };
        // Worker 1 holds 3 of the 4 prefix blocks (96 KV blocks of prefill saved).
        let mut loads = vec![InstanceLoad::default(); 2];
        loads[1].cached_blocks = 3;
        assert_eq!(r.route(&req, &loads, &mut rng), 1);
        // Hand-computed: costs are 128 + 128 = 256 and 32 + 128 + active. Worker 1 loses
        // once it holds more than 96 extra blocks of decode (1,536 tokens).
        loads[1].active_tokens = 97 * 16;
        assert_eq!(r.costs(&req, &loads), vec![256.0, 32.0 + 128.0 + 97.0]);
        assert_eq!(r.route(&req, &loads, &mut rng), 0);
    }

    #[test]
    fn temperature_spreads_choices() {
        let cfg = KvAwareConfig {
            overlap_weight: 1.0,
            temperature: 1.0,
            block_tokens: 16,
        };
        let mut r = KvAware::new(cfg);
        let mut rng = Streams::new(2).get(Stream::Router(0));
        let req = RouteRequest {
            input_tokens: 1600,
            ..Default::default()
        };
        let mut loads = vec![InstanceLoad::default(); 2];
        loads[1].active_tokens = 800;
        let picks: Vec<usize> = (0..200).map(|_| r.route(&req, &loads, &mut rng)).collect();
        let ones = picks.iter().filter(|&&p| p == 1).count();
        assert!(ones > 20 && ones < 100, "{ones}");
    }
}
