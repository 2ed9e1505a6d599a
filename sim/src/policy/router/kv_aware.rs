//! Dynamo's KV router: cost = overlap weight x prefill blocks still to compute + decode
//! blocks the worker holds; temperature 0 picks the cheapest worker (ties at random, as
//! Dynamo does), a positive temperature samples a softmax over the normalised costs.
//!
//! Source: ai-dynamo/dynamo `docs/router/kv_cache_routing.md` (`--kv-overlap-score-weight`
//! default 1, `--router-temperature` default 0, KV events on by default) and the
//! `DefaultWorkerSelector` in `lib/llm/src/kv_router/scheduler.rs` (logit = weight x
//! potential prefill blocks + potential active blocks). With KV events the router knows
//! each worker's cached blocks exactly: it indexes the workers' KV events.
//!
//! At fleet scale (see "Routers at fleet scale" in the `router` module docs): a global prefix index fed by the KV
//! events gives the workers holding the prompt's leading blocks and their match lengths;
//! every other worker costs `overlap weight x the prompt's blocks + its active blocks`,
//! non-decreasing in its active tokens, so the cheapest of them is in the first class of
//! workers by active tokens, and a tie is drawn from by rank in the tied classes.

use super::classes::{Classes, kth};
use super::holders::{Holders, Match, Positions};
use super::{InstanceLoad, RouteRequest, Router};
use crate::prefix_cache::KvEvent;
use crate::rng::SimRng;
use crate::scenario::KvAwareConfig;
use rand::RngExt;

/// The Dynamo KV router.
#[derive(Debug)]
pub struct KvAware {
    cfg: KvAwareConfig,
    /// Which workers cache each prefix key (from their KV events).
    holders: Holders,
    /// Where each worker sits in `loads`.
    at: Positions,
    /// Workers by active tokens.
    active: Classes<u64>,
    /// Buffers of a decision, kept to spare allocations.
    scratch: Scratch,
}

/// Buffers of a decision.
#[derive(Debug, Default)]
struct Scratch {
    /// The workers matching the prompt (holding its first two keys or more, when
    /// picking the cheapest).
    matched: Vec<Match>,
    /// Their costs.
    costs: Vec<f64>,
    /// A bit per position: set for the deep matches.
    marked: Vec<u64>,
    /// Matching workers among the ties.
    plus: Vec<u32>,
    /// Matching workers in the tied classes.
    minus: Vec<u32>,
}

impl KvAware {
    /// A router with these parameters.
    pub fn new(cfg: KvAwareConfig) -> KvAware {
        KvAware {
            cfg,
            holders: Holders::default(),
            at: Positions::default(),
            active: Classes::default(),
            scratch: Scratch::default(),
        }
    }

    /// Cost of a worker caching `cached` of the prompt's hash blocks with
    /// `active_tokens` active, in blocks of `block_tokens`.
    fn cost(&self, req: &RouteRequest, cached: u32, active_tokens: u64) -> f64 {
        let bt = f64::from(self.cfg.block_tokens);
        let request_blocks = f64::from(req.input_tokens) / bt;
        let cached = f64::from(cached) * f64::from(req.hash_block_tokens) / bt;
        let prefill = (request_blocks - cached).max(0.0);
        let active = active_tokens as f64 / bt + request_blocks;
        self.cfg.overlap_weight * prefill + active
    }

    /// Cost of each worker, in blocks of `block_tokens`, given the hash blocks of the
    /// prompt each caches (`cached`, in `loads` order).
    pub fn costs(&self, req: &RouteRequest, loads: &[InstanceLoad], cached: &[u32]) -> Vec<f64> {
        loads
            .iter()
            .zip(cached)
            .map(|(l, &c)| self.cost(req, c, l.active_tokens))
            .collect()
    }

    /// Softmax over costs normalised to [0, 1] (lower cost, higher weight); `min` is the
    /// smallest cost.
    fn sample(&self, costs: &[f64], min: f64, rng: &mut SimRng) -> usize {
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

    /// The cheapest worker, ties at random, from the index, for the same ties in the
    /// same order as the linear scan. Workers fall in three levels: those holding the
    /// prompt's first two keys or more (`deep`, costed one by one), those holding its
    /// first key only (level 1) and the others (level 0). Within levels 1 and 0 the cost
    /// is a function of the active tokens that does not fall as they grow, so the
    /// classes by active tokens are visited in order, only as far as a class can tie.
    /// A class's members are sorted into levels by the first key's holders; the pool
    /// holding the first key (a shared system prompt) is never visited as a whole.
    fn cheapest(
        &self,
        req: &RouteRequest,
        loads: &[InstanceLoad],
        sc: &mut Scratch,
        rng: &mut SimRng,
    ) -> usize {
        let first = self
            .holders
            .deep_matches(req.prefix_keys, &self.at, &mut sc.matched);
        sc.costs.clear();
        sc.costs.extend(
            sc.matched
                .iter()
                .map(|m| self.cost(req, m.len, loads[m.pos as usize].active_tokens)),
        );
        let mut min = sc.costs.iter().copied().fold(f64::INFINITY, f64::min);
        // A bit per position marks the deep workers.
        sc.marked.clear();
        sc.marked.resize(loads.len().div_ceil(64), 0);
        for m in &sc.matched {
            sc.marked[m.pos as usize / 64] |= 1 << (m.pos % 64);
        }
        let marked = &sc.marked;
        let deep = |p: u32| marked[p as usize / 64] & (1 << (p % 64)) != 0;
        let holds_first = |p: u32| first.binary_search(&loads[p as usize].id).is_ok();
        // The least cost of each level: that of the first class holding one of its
        // workers. A class costing more than `min` at a level cannot lower it, nor can
        // any later class.
        let (mut want1, mut want0) = (!first.is_empty(), true);
        for (a, members) in self.active.range(0..) {
            let (c1, c0) = (self.cost(req, 1, a), self.cost(req, 0, a));
            if c1 > min {
                want1 = false;
            }
            if c0 > min {
                want0 = false;
            }
            for &p in members {
                if !(want1 || want0) {
                    break;
                }
                if deep(p) {
                    continue;
                }
                if holds_first(p) {
                    if want1 {
                        min = min.min(c1);
                        want1 = false;
                    }
                } else if want0 {
                    min = min.min(c0);
                    want0 = false;
                }
            }
            if !(want1 || want0) {
                break;
            }
        }
        // The ties: deep workers one by one; level-1 workers of the classes whose level-1
        // cost ties; whole classes whose level-0 cost ties, less their workers holding
        // the first key (counted at their own level).
        sc.plus.clear();
        sc.plus.extend(
            sc.matched
                .iter()
                .zip(&sc.costs)
                .filter(|&(_, &c)| c <= min)
                .map(|(m, _)| m.pos),
        );
        let mut tied: Vec<&[u32]> = Vec::new();
        sc.minus.clear();
        for (a, members) in self.active.range(0..) {
            let (c1, c0) = (self.cost(req, 1, a), self.cost(req, 0, a));
            let (t1, t0) = (!first.is_empty() && c1 <= min, c0 <= min);
            if !(t1 || t0) {
                break;
            }
            let before = sc.minus.len();
            for &p in members {
                if deep(p) {
                    if t0 {
                        sc.minus.push(p);
                    }
                } else if holds_first(p) {
                    if t0 {
                        sc.minus.push(p);
                    }
                    if t1 {
                        sc.plus.push(p);
                    }
                }
            }
            if t0 && members.len() > sc.minus.len() - before {
                tied.push(members);
            } else {
                sc.minus.truncate(before);
            }
        }
        sc.plus.sort_unstable();
        sc.minus.sort_unstable();
        let ties = sc.plus.len() + tied.iter().map(|c| c.len()).sum::<usize>() - sc.minus.len();
        let k = if ties == 1 {
            0
        } else {
            rng.random_range(0..ties)
        };
        kth(&tied, &sc.minus, &sc.plus, k) as usize
    }

    /// The linear scan this router replaced, over the hash blocks each worker caches:
    /// the property tests' oracle.
    #[cfg(test)]
    pub(crate) fn reference(
        &self,
        req: &RouteRequest,
        loads: &[InstanceLoad],
        cached: &[u32],
        rng: &mut SimRng,
    ) -> usize {
        let costs = self.costs(req, loads, cached);
        let min = costs.iter().copied().fold(f64::INFINITY, f64::min);
        if self.cfg.temperature <= 0.0 {
            let ties: Vec<usize> = (0..costs.len()).filter(|&i| costs[i] <= min).collect();
            return if ties.len() == 1 {
                ties[0]
            } else {
                ties[rng.random_range(0..ties.len())]
            };
        }
        self.sample(&costs, min, rng)
    }
}

impl Router for KvAware {
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize {
        let mut sc = std::mem::take(&mut self.scratch);
        let pick = if self.cfg.temperature <= 0.0 {
            self.cheapest(req, loads, &mut sc, rng)
        } else {
            self.holders
                .matches(req.prefix_keys, &self.at, &mut sc.matched);
            // The softmax's normaliser sums every worker's weight: a linear scan.
            let mut cached = vec![0u32; loads.len()];
            for m in &sc.matched {
                cached[m.pos as usize] = m.len;
            }
            let costs = self.costs(req, loads, &cached);
            let min = costs.iter().copied().fold(f64::INFINITY, f64::min);
            self.sample(&costs, min, rng)
        };
        self.scratch = sc;
        pick
    }

    fn reset(&mut self, loads: &[InstanceLoad]) {
        self.at.reset(loads);
        self.active.reset(loads.iter().map(|l| l.active_tokens));
    }

    fn update(&mut self, pos: usize, _old: &InstanceLoad, new: &InstanceLoad) {
        self.active.set(pos, new.active_tokens);
    }

    fn wants_kv_events(&self) -> bool {
        true
    }

    fn kv_event(&mut self, id: u16, ev: KvEvent) {
        match ev {
            KvEvent::Stored(key) => self.holders.add(key, id),
            KvEvent::Removed(key) => self.holders.remove(key, id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::router::Pool;
    use crate::rng::{Stream, Streams};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn pool(cfg: KvAwareConfig, loads: Vec<InstanceLoad>) -> Pool {
        let mut p = Pool::new(Box::new(KvAware::new(cfg)));
        p.reset(loads);
        p
    }

    fn two() -> Vec<InstanceLoad> {
        (0..2)
            .map(|id| InstanceLoad {
                id,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn prefers_the_cached_worker_until_its_load_outweighs_the_overlap() {
        let cfg = KvAwareConfig {
            overlap_weight: 1.0,
            temperature: 0.0,
            block_tokens: 16,
        };
        let mut p = pool(cfg.clone(), two());
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let keys = [1u64, 2, 3, 4];
        let req = RouteRequest {
            input_tokens: 2048,
            prefix_keys: &keys,
            hash_block_tokens: 512,
            session: None,
        };
        // Worker 1 holds 3 of the 4 prefix blocks (96 KV blocks of prefill saved).
        for &k in &keys[..3] {
            p.kv_event(1, KvEvent::Stored(k));
        }
        assert_eq!(p.route(&req, &mut rng), 1);
        // Hand-computed: costs are 128 + 128 = 256 and 32 + 128 + active. Worker 1 loses
        // once it holds more than 96 extra blocks of decode (1,536 tokens).
        let mut l = p.loads()[1];
        l.active_tokens = 97 * 16;
        p.set(1, l);
        let costs = KvAware::new(cfg).costs(&req, p.loads(), &[0, 3]);
        assert_eq!(costs, vec![256.0, 32.0 + 128.0 + 97.0]);
        assert_eq!(p.route(&req, &mut rng), 0);
        // Evicting the blocks takes the advantage away.
        p.kv_event(1, KvEvent::Removed(keys[0]));
        let mut l = p.loads()[1];
        l.active_tokens = 0;
        p.set(1, l);
        let picks: BTreeSet<usize> = (0..20).map(|_| p.route(&req, &mut rng)).collect();
        assert_eq!(picks, BTreeSet::from([0, 1]), "an even tie, drawn at random");
    }

    #[test]
    fn temperature_spreads_choices() {
        let cfg = KvAwareConfig {
            overlap_weight: 1.0,
            temperature: 1.0,
            block_tokens: 16,
        };
        let mut loads = two();
        loads[1].active_tokens = 800;
        let mut p = pool(cfg, loads);
        let mut rng = Streams::new(2).get(Stream::Router(0));
        let req = RouteRequest {
            input_tokens: 1600,
            ..Default::default()
        };
        let picks: Vec<usize> = (0..200).map(|_| p.route(&req, &mut rng)).collect();
        let ones = picks.iter().filter(|&&p| p == 1).count();
        assert!(ones > 20 && ones < 100, "{ones}");
    }

    /// One step of a random cluster's life.
    #[derive(Clone, Debug)]
    enum Op {
        /// Route a prompt of these keys and tokens; the pick gets its tokens as active.
        Route(Vec<u64>, u32, u32),
        /// Instance `.0` (modulo the count) now has `.1` active tokens.
        Active(usize, u64),
        /// Instance `.0` caches key `.1` (true) or evicts it (false).
        Cache(usize, u64, bool),
        /// Instance `.0` becomes ready (true) or not.
        Ready(usize, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        let keys = proptest::collection::vec(0u64..8, 0..6);
        let tokens = prop_oneof![Just(0u32), Just(512), Just(2048), 0u32..6000];
        let hash = prop_oneof![Just(0u32), Just(16), Just(512), Just(100)];
        let active = prop_oneof![Just(0u64), Just(512), Just(4096), 0u64..10_000];
        prop_oneof![
            3 => (keys, tokens, hash).prop_map(|(k, t, h)| Op::Route(k, t, h)),
            2 => (0usize..64, active).prop_map(|(i, a)| Op::Active(i, a)),
            4 => (0usize..64, 0u64..8, any::<bool>()).prop_map(|(i, k, s)| Op::Cache(i, k, s)),
            1 => (0usize..64, any::<bool>()).prop_map(|(i, r)| Op::Ready(i, r)),
        ]
    }

    fn cfg() -> impl Strategy<Value = KvAwareConfig> {
        let weight = prop_oneof![Just(0.0), Just(0.5), Just(1.0), Just(2.0), 0.0..1e6];
        let temperature = prop_oneof![3 => Just(0.0), 1 => Just(0.5), 1 => 0.0..10.0];
        let block = prop_oneof![Just(1u32), Just(16), Just(10), 1u32..100];
        (weight, temperature, block).prop_map(|(overlap_weight, temperature, block_tokens)| {
            KvAwareConfig {
                overlap_weight,
                temperature,
                block_tokens,
            }
        })
    }

    proptest! {
        /// Over random clusters (1 to 63 workers, ids from 5 on as in a decode pool,
        /// random caches, loads and ready sets), the indexed router picks what the
        /// linear scan over exact match lengths picks, with the same random draws.
        #[test]
        fn index_decides_as_the_linear_scan(
            n in 1usize..64,
            cfg in cfg(),
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 1..150),
        ) {
            const BASE: u16 = 5;
            let mut caches = vec![BTreeSet::new(); n];
            let mut active = vec![0u64; n];
            let mut ready = vec![true; n];
            let loads_of = |active: &[u64], ready: &[bool]| -> Vec<InstanceLoad> {
                (0..n)
                    .filter(|&i| ready[i])
                    .map(|i| InstanceLoad {
                        id: BASE + i as u16,
                        active_tokens: active[i],
                        ..Default::default()
                    })
                    .collect()
            };
            let mut p = pool(cfg.clone(), loads_of(&active, &ready));
            let oracle = KvAware::new(cfg);
            let mut rng = Streams::new(seed).get(Stream::Router(1));
            let mut oracle_rng = rng.clone();
            for op in ops {
                match op {
                    Op::Route(keys, tokens, hash) => {
                        let loads = loads_of(&active, &ready);
                        if loads.is_empty() {
                            continue;
                        }
                        let req = RouteRequest {
                            input_tokens: tokens,
                            prefix_keys: &keys,
                            hash_block_tokens: hash,
                            session: None,
                        };
                        let cached: Vec<u32> = loads
                            .iter()
                            .map(|l| {
                                let c = &caches[usize::from(l.id - BASE)];
                                keys.iter().take_while(|k| c.contains(*k)).count() as u32
                            })
                            .collect();
                        prop_assert_eq!(p.loads(), &loads[..]);
                        let want = oracle.reference(&req, &loads, &cached, &mut oracle_rng);
                        let got = p.route(&req, &mut rng);
                        prop_assert_eq!(got, want);
                        prop_assert_eq!(&rng, &oracle_rng, "same draws");
                        let i = usize::from(loads[got].id - BASE);
                        active[i] += u64::from(tokens);
                        let mut l = loads[got];
                        l.active_tokens = active[i];
                        p.set(got, l);
                    }
                    Op::Active(i, a) => {
                        let i = i % n;
                        active[i] = a;
                        let loads = loads_of(&active, &ready);
                        if let Some(pos) = loads.iter().position(|l| l.id == BASE + i as u16) {
                            p.set(pos, loads[pos]);
                        }
                    }
                    Op::Cache(i, key, store) => {
                        let i = i % n;
                        let changed = if store {
                            caches[i].insert(key)
                        } else {
                            caches[i].remove(&key)
                        };
                        if changed {
                            let ev = if store { KvEvent::Stored(key) } else { KvEvent::Removed(key) };
                            p.kv_event(BASE + i as u16, ev);
                        }
                    }
                    Op::Ready(i, r) => {
                        let i = i % n;
                        if ready[i] != r {
                            ready[i] = r;
                            p.reset(loads_of(&active, &ready));
                        }
                    }
                }
            }
        }
    }
}
