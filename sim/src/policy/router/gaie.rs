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
//!
//! At fleet scale (see "Routers at fleet scale" in the `router` module docs): the endpoints matching the prompt's
//! first block come from the approximate index's global prefix index; every other one
//! scores `queue weight x queue score + KV weight x (1 - utilisation)`, which does not
//! rise with its queue length nor with its utilisation, and saturation is a function of
//! the two as well. So with the endpoints in classes by (queue length, utilisation), the
//! best of a queue length is its first class left unfiltered with an unmatched member:
//! a decision scores one class per distinct queue length (plus the matching endpoints),
//! and draws a tie by rank in the tied classes.

use super::classes::{Grouped, kth};
use super::holders::{Match, Positions};
use super::{ApproxIndex, InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;
use crate::scenario::GaieConfig;
use rand::RngExt;

/// The GAIE / llm-d scorer mix.
#[derive(Debug)]
pub struct Gaie {
    cfg: GaieConfig,
    index: ApproxIndex,
    /// Where each endpoint sits in `loads`.
    at: Positions,
    /// Endpoints by queue length, then by [`order`] of KV utilisation.
    state: Grouped<u32, u64>,
    /// Saturated endpoints in `loads`.
    saturated: usize,
    /// Buffers of a decision, kept to spare allocations.
    scratch: Scratch,
}

/// Buffers of a decision.
#[derive(Debug, Default)]
struct Scratch {
    /// The endpoints matching the prompt.
    matched: Vec<Match>,
    /// Their scores (`None`: filtered).
    scores: Vec<Option<f64>>,
    /// Their classes, sorted.
    taken: Vec<((u32, u64), u32)>,
    /// Per queue length, its best class with an unmatched endpoint and its score.
    candidates: Vec<(u32, u64, f64)>,
    /// Matching endpoints among the ties.
    plus: Vec<u32>,
    /// Matching endpoints in the tied classes.
    minus: Vec<u32>,
}

/// A key ordering floats as `f64::total_cmp` does (utilisations are never NaN, but the
/// order must be total).
fn order(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | 1 << 63 }
}

impl Gaie {
    /// A picker over `instances` endpoints.
    pub fn new(cfg: GaieConfig, instances: usize) -> Gaie {
        let index = ApproxIndex::new(instances, cfg.lru_capacity_blocks as usize);
        Gaie {
            cfg,
            index,
            at: Positions::default(),
            state: Grouped::default(),
            saturated: 0,
            scratch: Scratch::default(),
        }
    }

    /// Whether an endpoint with this queue and KV utilisation is saturated.
    fn is_saturated(&self, waiting: u32, kv_utilization: f64) -> bool {
        waiting >= self.cfg.saturation_queue && kv_utilization >= self.cfg.saturation_kv
    }

    /// Prefix score of a match of `matched` blocks.
    fn prefix(req: &RouteRequest, matched: usize) -> f64 {
        if req.prefix_keys.is_empty() {
            0.0
        } else {
            matched as f64 / req.prefix_keys.len() as f64
        }
    }

    /// Score of an endpoint with this queue, KV utilisation and prefix score, among
    /// endpoints with queues from `qmin` to `qmax`.
    fn score(&self, waiting: u32, kv_utilization: f64, (qmin, qmax): (u32, u32), prefix: f64) -> f64 {
        let queue = if qmax == qmin {
            1.0
        } else {
            f64::from(qmax - waiting) / f64::from(qmax - qmin)
        };
        let kv = 1.0 - kv_utilization;
        self.cfg.queue_weight * queue + self.cfg.kv_weight * kv + self.cfg.prefix_weight * prefix
    }

    /// Scores of every endpoint (`None` for filtered ones): the linear scan.
    #[cfg(test)]
    pub(crate) fn scores(&self, req: &RouteRequest, loads: &[InstanceLoad]) -> Vec<Option<f64>> {
        let saturated = |l: &InstanceLoad| self.is_saturated(l.waiting, l.kv_utilization);
        let all_saturated = loads.iter().all(saturated);
        let qmax = loads.iter().map(|l| l.waiting).max().unwrap_or(0);
        let qmin = loads.iter().map(|l| l.waiting).min().unwrap_or(0);
        loads
            .iter()
            .map(|l| {
                if !all_saturated && saturated(l) {
                    return None;
                }
                let matched = self.index.match_len(usize::from(l.id), req.prefix_keys);
                let prefix = Self::prefix(req, matched);
                Some(self.score(l.waiting, l.kv_utilization, (qmin, qmax), prefix))
            })
            .collect()
    }

    /// The best-scoring endpoints (ties at random) from the index: the matching ones,
    /// then per queue length the classes of the others in utilisation order, for the
    /// same ties in the same order as the linear scan.
    fn best(
        &self,
        req: &RouteRequest,
        loads: &[InstanceLoad],
        sc: &mut Scratch,
        rng: &mut SimRng,
    ) -> usize {
        let q = self.state.span().expect("a ready endpoint");
        let all_saturated = self.saturated == loads.len();
        let filtered = |w: u32, u: f64| !all_saturated && self.is_saturated(w, u);
        sc.scores.clear();
        sc.scores.extend(sc.matched.iter().map(|m| {
            let l = &loads[m.pos as usize];
            (!filtered(l.waiting, l.kv_utilization)).then(|| {
                let prefix = Self::prefix(req, m.len as usize);
                self.score(l.waiting, l.kv_utilization, q, prefix)
            })
        }));
        let mut best = sc
            .scores
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        // The matching endpoints by class: they score with their match, not as their
        // class does.
        sc.taken.clear();
        sc.taken.extend(
            sc.matched
                .iter()
                .map(|m| (self.state.key(m.pos as usize), m.pos)),
        );
        sc.taken.sort_unstable();
        let taken = &sc.taken;
        let taken_in = |k: (u32, u64)| {
            let lo = taken.partition_point(|&(x, _)| x < k);
            let hi = taken.partition_point(|&(x, _)| x <= k);
            &taken[lo..hi]
        };
        let unmatched = Self::prefix(req, 0);
        // Each queue length's best unmatched endpoint: its first class left unfiltered
        // (saturation takes a suffix of the classes of a queue length) with one.
        sc.candidates.clear();
        for (w, classes) in self.state.groups() {
            for (u, members) in classes {
                let util = loads[members[0] as usize].kv_utilization;
                if filtered(w, util) {
                    break;
                }
                let s = self.score(w, util, q, unmatched);
                if members.len() > taken_in((w, u)).len() && !s.is_nan() {
                    best = best.max(s);
                    sc.candidates.push((w, u, s));
                    break;
                }
            }
        }
        sc.plus.clear();
        sc.plus.extend(
            sc.matched
                .iter()
                .zip(&sc.scores)
                .filter(|&(_, s)| s.is_some_and(|s| s >= best))
                .map(|(m, _)| m.pos),
        );
        // The ties among the others: from the candidate of each queue length that
        // reaches the best score, its classes while they do.
        let mut tied: Vec<&[u32]> = Vec::new();
        sc.minus.clear();
        for &(w, from, s) in &sc.candidates {
            if s < best {
                continue;
            }
            for (u, members) in self.state.classes_from(w, from) {
                let util = loads[members[0] as usize].kv_utilization;
                if filtered(w, util) {
                    break;
                }
                let s = self.score(w, util, q, unmatched);
                if s.is_nan() {
                    continue;
                }
                if s < best {
                    break;
                }
                let t = taken_in((w, u));
                if members.len() > t.len() {
                    tied.push(members);
                    sc.minus.extend(t.iter().map(|&(_, p)| p));
                }
            }
        }
        sc.minus.sort_unstable();
        let ties = sc.plus.len() + tied.iter().map(|c| c.len()).sum::<usize>() - sc.minus.len();
        let k = if ties == 1 {
            0
        } else {
            rng.random_range(0..ties)
        };
        kth(&tied, &sc.minus, &sc.plus, k) as usize
    }

    /// The linear scan this router replaced: the property tests' oracle.
    #[cfg(test)]
    pub(crate) fn reference(
        &mut self,
        req: &RouteRequest,
        loads: &[InstanceLoad],
        rng: &mut SimRng,
    ) -> usize {
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
}

impl Router for Gaie {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize {
        let mut sc = std::mem::take(&mut self.scratch);
        self.index.matches(req.prefix_keys, &self.at, &mut sc.matched);
        let pick = self.best(req, loads, &mut sc, rng);
        self.scratch = sc;
        self.index
            .record(usize::from(loads[pick].id), req.prefix_keys);
        pick
    }

    fn reset(&mut self, loads: &[InstanceLoad]) {
        self.at.reset(loads);
        self.state
            .reset(loads.iter().map(|l| (l.waiting, order(l.kv_utilization))));
        self.saturated = loads
            .iter()
            .filter(|l| self.is_saturated(l.waiting, l.kv_utilization))
            .count();
    }

    fn update(&mut self, pos: usize, old: &InstanceLoad, new: &InstanceLoad) {
        self.state
            .set(pos, (new.waiting, order(new.kv_utilization)));
        self.saturated -= usize::from(self.is_saturated(old.waiting, old.kv_utilization));
        self.saturated += usize::from(self.is_saturated(new.waiting, new.kv_utilization));
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
    use crate::policy::router::Pool;
    use crate::rng::{Stream, Streams};
    use crate::scenario::RoutingConfig;
    use proptest::prelude::*;

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
        g.reset(&loads);
        assert_eq!(g.route(&req, &loads, &mut rng), 2);
    }

    #[test]
    fn saturated_endpoints_are_filtered() {
        let mut g = Gaie::new(RoutingConfig::default().gaie, 2);
        let req = RouteRequest::default();
        let loads = vec![
            InstanceLoad {
                waiting: 9,
                kv_utilization: 0.9,
                ..Default::default()
            },
            InstanceLoad {
                id: 1,
                waiting: 0,
                kv_utilization: 0.95,
                ..Default::default()
            },
        ];
        assert_eq!(g.scores(&req, &loads)[0], None);
        g.reset(&loads);
        let mut rng = Streams::new(1).get(Stream::Router(0));
        assert_eq!(g.route(&req, &loads, &mut rng), 1);
    }

    /// One step of a random cluster's life.
    #[derive(Clone, Debug)]
    enum Op {
        /// Route a prompt of these keys and tokens; the pick gets one more queued.
        Route(Vec<u64>, u32, u32),
        /// Instance `.0` (modulo the count) now has `.1` queued and KV utilisation `.2`.
        Load(usize, u32, f64),
        /// Instance `.0` becomes ready (true) or not.
        Ready(usize, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let keys = proptest::collection::vec(0u64..10, 0..6);
        let tokens = prop_oneof![Just(0u32), Just(2048), 0u32..6000];
        let hash = prop_oneof![Just(0u32), Just(512)];
        let util = prop_oneof![
            4 => prop_oneof![Just(0.0), Just(0.25), Just(0.5), Just(0.8), Just(0.9), Just(1.0)],
            2 => 0.0..1.0,
            1 => Just(-0.0),
            1 => Just(f64::NAN),
        ];
        prop_oneof![
            4 => (keys, tokens, hash).prop_map(|(k, t, h)| Op::Route(k, t, h)),
            3 => (0usize..64, 0u32..8, util).prop_map(|(i, w, u)| Op::Load(i, w, u)),
            1 => (0usize..64, any::<bool>()).prop_map(|(i, r)| Op::Ready(i, r)),
        ]
    }

    fn random_cfg() -> impl Strategy<Value = GaieConfig> {
        let weight = || prop_oneof![Just(0.0), Just(1.0), Just(2.0), 0.0..3.0];
        (
            (weight(), weight(), weight()),
            1u32..12,
            0u32..7,
            prop_oneof![Just(0.0), Just(0.5), Just(0.8), Just(1.0)],
        )
            .prop_map(|((prefix, queue, kv), lru, sq, skv)| GaieConfig {
                prefix_weight: prefix,
                queue_weight: queue,
                kv_weight: kv,
                lru_capacity_blocks: lru,
                saturation_queue: sq,
                saturation_kv: skv,
                non_cached_tokens: 16,
            })
    }

    proptest! {
        /// Over random clusters (1 to 63 endpoints, ids from 7 on, random queues, KV
        /// utilisations, prompts and ready sets; small LRU indexes, so they evict), the
        /// indexed picker picks what the linear scan picks, with the same draws.
        #[test]
        fn index_decides_as_the_linear_scan(
            n in 1usize..64,
            cfg in random_cfg(),
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 1..150),
        ) {
            const BASE: u16 = 7;
            let mut state = vec![(0u32, 0.0f64); n];
            let mut ready = vec![true; n];
            let loads_of = |state: &[(u32, f64)], ready: &[bool]| -> Vec<InstanceLoad> {
                (0..n)
                    .filter(|&i| ready[i])
                    .map(|i| InstanceLoad {
                        id: BASE + i as u16,
                        waiting: state[i].0,
                        kv_utilization: state[i].1,
                        ..Default::default()
                    })
                    .collect()
            };
            let mut p = Pool::new(Box::new(Gaie::new(cfg.clone(), n)));
            p.reset(loads_of(&state, &ready));
            let mut oracle = Gaie::new(cfg, n);
            let mut rng = Streams::new(seed).get(Stream::Router(0));
            let mut oracle_rng = rng.clone();
            for op in ops {
                match op {
                    Op::Route(keys, tokens, hash) => {
                        let loads = loads_of(&state, &ready);
                        let req = RouteRequest {
                            input_tokens: tokens,
                            prefix_keys: &keys,
                            hash_block_tokens: hash,
                            session: None,
                        };
                        // The linear scan has nothing to pick when every score is NaN
                        // (never so in the engine: utilisations are numbers).
                        let scores = oracle.scores(&req, &loads);
                        if !scores.iter().flatten().any(|s| !s.is_nan()) {
                            continue;
                        }
                        prop_assert_eq!(p.loads().len(), loads.len());
                        let want = oracle.reference(&req, &loads, &mut oracle_rng);
                        let got = p.route(&req, &mut rng);
                        prop_assert_eq!(got, want);
                        prop_assert_eq!(&rng, &oracle_rng, "same draws");
                        prop_assert_eq!(
                            p.believed_cached_tokens(got, &req),
                            oracle.believed_cached_tokens(&loads[got], &req)
                        );
                        let i = usize::from(loads[got].id - BASE);
                        state[i].0 += 1;
                        let mut l = p.loads()[got];
                        l.waiting = state[i].0;
                        p.set(got, l);
                    }
                    Op::Load(i, w, u) => {
                        let i = i % n;
                        state[i] = (w, u);
                        let loads = loads_of(&state, &ready);
                        if let Some(pos) = loads.iter().position(|l| l.id == BASE + i as u16) {
                            p.set(pos, loads[pos]);
                        }
                    }
                    Op::Ready(i, r) => {
                        let i = i % n;
                        if ready[i] != r {
                            ready[i] = r;
                            p.reset(loads_of(&state, &ready));
                        }
                    }
                }
            }
        }
    }
}
