//! Gateway API Inference Extension endpoint picker as llm-d configures it: a weighted sum
//! of scorers, the highest score wins (ties at random).
//!
//! - queue scorer: `(max_q - q) / (max_q - min_q)` over the candidates (1 when equal);
//! - KV-cache utilisation scorer: `1 - utilisation`;
//! - prefix-cache scorer: matched prefix blocks / the prompt's blocks, from an approximate
//!   per-endpoint LRU index of the blocks it routed (`lruCapacityPerServer`).
//!
//! Saturated endpoints (queue >= 5 and KV >= 0.8, GAIE's saturation detector defaults)
//! are filtered out unless all are. Weights default to llm-d's
//! `deploy/config/epp-precise-prefix-cache-config.yaml` (prefix 2, KV 1, queue 1); the
//! prefill/decode decider (`prefix-based-pd-decider`, `nonCachedTokens` 16 in
//! `pd-epp-config.yaml`) is the engine's [`PdDecider`](crate::policy::pd_decider::PdDecider),
//! fed with the uncached prompt tokens this picker believes: a request whose uncached
//! prompt is shorter than the threshold is prefilled on its decode endpoint.

use super::{ApproxIndex, InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;
use crate::scenario::GaieConfig;
use rand::RngExt;

/// The GAIE / llm-d scorer mix.
#[derive(Debug)]
pub struct Gaie {
    cfg: GaieConfig,
    index: ApproxIndex,
}

impl Gaie {
    /// A picker over `instances` endpoints.
    pub fn new(cfg: GaieConfig, instances: usize) -> Gaie {
        let index = ApproxIndex::new(instances, cfg.lru_capacity_blocks as usize);
        Gaie { cfg, index }
    }

    /// Scores of every endpoint (`None` for filtered ones).
    pub fn scores(&self, req: &RouteRequest, loads: &[InstanceLoad]) -> Vec<Option<f64>> {
        let saturated = |l: &InstanceLoad| {
            l.waiting >= self.cfg.saturation_queue && l.kv_utilization >= self.cfg.saturation_kv
        };
        let all_saturated = loads.iter().all(saturated);
        let qmax = loads.iter().map(|l| l.waiting).max().unwrap_or(0);
        let qmin = loads.iter().map(|l| l.waiting).min().unwrap_or(0);
        loads
            .iter()
            .map(|l| {
                if !all_saturated && saturated(l) {
                    return None;
                }
                let queue = if qmax == qmin {
                    1.0
                } else {
                    f64::from(qmax - l.waiting) / f64::from(qmax - qmin)
                };
                let kv = 1.0 - l.kv_utilization;
                let prefix = if req.prefix_keys.is_empty() {
                    0.0
                } else {
                    self.index.match_len(usize::from(l.id), req.prefix_keys) as f64
                        / req.prefix_keys.len() as f64
                };
                Some(
                    self.cfg.queue_weight * queue
                        + self.cfg.kv_weight * kv
                        + self.cfg.prefix_weight * prefix,
                )
            })
            .collect()
    }
}

impl Router for Gaie {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize {
        let scores = self.scores(req, loads);
        let best = scores
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let ties: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i].is_some_and(|s| s >= best))
            .collect();
        let pick = if ties.len() == 1 {
            ties[0]
        } else {
            ties[rng.random_range(0..ties.len())]
        };
        self.index
            .record(usize::from(loads[pick].id), req.prefix_keys);
        pick
    }

    /// What llm-d's `prefix-based-pd-decider` counts as cached on the chosen endpoint:
    /// the prompt's hash blocks its prefix index believes the endpoint holds.
    fn believed_cached_tokens(&self, to: &InstanceLoad, req: &RouteRequest) -> u64 {
        self.index.match_len(usize::from(to.id), req.prefix_keys) as u64
            * u64::from(req.hash_block_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};
    use crate::scenario::RoutingConfig;

    #[test]
    fn hand_computed_scores() {
        let mut g = Gaie::new(RoutingConfig::default().gaie, 3);
        let keys = [1u64, 2, 3, 4];
        g.index.record(2, &keys[..2]);
        let req = RouteRequest {
            input_tokens: 2048,
            prefix_keys: &keys,
            hash_block_tokens: 512,
            session: None,
        };
        let loads = vec![
            InstanceLoad {
                waiting: 0,
                kv_utilization: 0.5,
                ..Default::default()
            },
            InstanceLoad {
                id: 1,
                waiting: 4,
                kv_utilization: 0.0,
                ..Default::default()
            },
            InstanceLoad {
                id: 2,
                waiting: 2,
                kv_utilization: 0.5,
                ..Default::default()
            },
        ];
        // queue: 1, 0, 0.5; kv: 0.5, 1, 0.5; prefix: 0, 0, 0.5 (x2).
        assert_eq!(
            g.scores(&req, &loads),
            vec![Some(1.5), Some(1.0), Some(2.0)]
        );
        let mut rng = Streams::new(1).get(Stream::Router(0));
        assert_eq!(g.route(&req, &loads, &mut rng), 2);
    }

    #[test]
    fn saturated_endpoints_are_filtered() {
        let g = Gaie::new(RoutingConfig::default().gaie, 2);
        let req = RouteRequest::default();
        let loads = vec![
            InstanceLoad {
                waiting: 9,
                kv_utilization: 0.9,
                ..Default::default()
            },
            InstanceLoad {
                waiting: 0,
                kv_utilization: 0.95,
                ..Default::default()
            },
        ];
        assert_eq!(g.scores(&req, &loads)[0], None);
    }
}
