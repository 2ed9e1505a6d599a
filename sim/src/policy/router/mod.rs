//! Routers: which instance of a role gets a request.
//!
//! Invariants: a router sees only what the real router sees: its own counters of
//! requests it routed and not yet finished, queue lengths and KV usage the engines
//! report, exact cache contents only where the real router receives KV events (Dynamo),
//! and otherwise an approximate prefix index built from the requests it routed (SGLang's
//! cache-aware router, the llm-d prefix scorer). It draws random numbers only from its
//! own stream; deterministic ties go to the lowest instance index.
//!
//! # Routers at fleet scale
//!
//! A router sees the ready instances as a [`Pool`]: their loads, kept in step with the
//! engine one change at a time ([`Router::reset`] when the ready set changes,
//! [`Router::update`] when one instance's load does, [`Router::kv_event`] when an exact
//! cache stores or removes a block). The KV-aware, cache-aware and GAIE routers keep
//! indexes over those changes, so a decision costs time in the instances holding the
//! prompt's first prefix block, not in all instances:
//!
//! - a global prefix index (`holders`: prefix key -> instances holding it), fed by KV
//!   events (KV-aware) or by the router's own approximate index (cache-aware, GAIE),
//!   finds the matching instances and their match lengths;
//! - load classes (`classes`: instances grouped by the load key their score depends
//!   on, in key order) give the best of the instances matching nothing, whose scores are
//!   monotone in that key: KV-aware's active tokens, cache-aware's outstanding requests
//!   and tree sizes, GAIE's (queue length, KV utilisation), the latter one class per
//!   distinct queue length;
//! - a tie among many instances (idle ones, say) is counted and drawn from by rank in
//!   those classes, with the same single draw, over the same candidates in the same
//!   order, as the linear scan.
//!
//! Costs: a decision visits the holders of the prompt's matched blocks, then O(log n)
//! per class it scores: the first one or two for KV-aware and cache-aware, one per
//! distinct queue length for GAIE, plus the tied ones; drawing a tie is O(log^2 n). A
//! load change moves one instance between two classes (O(log n) and a short `memmove`);
//! a KV event updates one key's holders; a change of the ready set (scaling, failures)
//! rebuilds the indexes, O(n log n). The engine (`engine::routing`) tells a router only
//! of the instances that changed since its last decision.
//!
//! Decisions are those of the linear scans, kept as each router's `reference` and checked
//! against it by property tests, draw for draw. KV-aware routing with a positive
//! temperature samples a softmax whose normaliser sums every instance's weight in order;
//! it stays a linear scan (over the index's match lengths) to keep those sums exact. An
//! instance holding the prompt's first block is scored on its own, so a prefix cached
//! on most instances (a shared system prompt) costs as much as the scan did.

mod approx_index;
mod cache_aware;
pub(crate) mod classes;
mod gaie;
pub(crate) mod holders;
mod kv_aware;
mod least_outstanding;
mod power_of_two;
mod random;
mod round_robin;
mod session_affinity;

pub use approx_index::ApproxIndex;
pub use cache_aware::CacheAware;
pub use gaie::Gaie;
pub use kv_aware::KvAware;
pub use least_outstanding::LeastOutstanding;
pub use power_of_two::PowerOfTwo;
pub use random::Random;
pub use round_robin::RoundRobin;
pub use session_affinity::SessionAffinity;

use crate::prefix_cache::KvEvent;
use crate::rng::SimRng;
use crate::scenario::{RouterKind, RoutingConfig};

/// What a router may see of the request.
#[derive(Copy, Clone, Debug, Default)]
pub struct RouteRequest<'a> {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Prefix-cache chain keys of the prompt's full hash blocks (empty without hashes).
    pub prefix_keys: &'a [u64],
    /// Tokens per hash block.
    pub hash_block_tokens: u32,
    /// Conversation id, when the workload has sessions.
    pub session: Option<u64>,
}

/// What a router may see of one instance.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct InstanceLoad {
    /// The instance (stable across scaling, unlike its position in the slice).
    pub id: u16,
    /// Requests routed to the instance and not finished there.
    pub outstanding: u32,
    /// Requests waiting in its queues.
    pub waiting: u32,
    /// Requests in its running batch.
    pub running: u32,
    /// Fraction of its KV blocks in use by requests.
    pub kv_utilization: f64,
    /// Prompt tokens of the requests routed to it and not finished (the active
    /// sequences Dynamo's router tracks), tokens.
    pub active_tokens: u64,
}

/// Picks an instance for a request.
pub trait Router {
    /// Index into `loads` of the chosen instance. `loads` is never empty, and it is what
    /// the router was last told: [`Router::reset`] with these instances, then
    /// [`Router::update`] for each change since (a [`Pool`] keeps that contract).
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize;

    /// The ready instances are now `loads` (positions renumbered).
    fn reset(&mut self, _loads: &[InstanceLoad]) {}

    /// The load at position `pos` (same instance) changed from `old` to `new`.
    fn update(&mut self, _pos: usize, _old: &InstanceLoad, _new: &InstanceLoad) {}

    /// Whether the router sees the instances' exact cache contents: the engine then
    /// sends it every instance's KV events ([`Router::kv_event`]).
    fn wants_kv_events(&self) -> bool {
        false
    }

    /// Instance `id` (ready or not) stored or removed a prefix block.
    fn kv_event(&mut self, _id: u16, _ev: KvEvent) {}

    /// Prompt tokens of `req` the router believes instance `to` (just chosen) has cached,
    /// from its own view (0 for routers without one): what a PD decider behind this
    /// router subtracts from the prompt.
    fn believed_cached_tokens(&self, _to: &InstanceLoad, _req: &RouteRequest) -> u64 {
        0
    }
}

/// The router of a kind with the scenario's routing parameters.
pub fn build(kind: RouterKind, cfg: &RoutingConfig, instances: usize) -> Box<dyn Router + Send> {
    match kind {
        RouterKind::RoundRobin => Box::new(RoundRobin::default()),
        RouterKind::Random => Box::new(Random),
        RouterKind::LeastOutstanding => Box::new(LeastOutstanding),
        RouterKind::PowerOfTwo => Box::new(PowerOfTwo),
        RouterKind::KvAware => Box::new(KvAware::new(cfg.kv_aware.clone())),
        RouterKind::CacheAware => Box::new(CacheAware::new(cfg.cache_aware.clone(), instances)),
        RouterKind::Gaie => Box::new(Gaie::new(cfg.gaie.clone(), instances)),
        RouterKind::SessionAffinity => Box::new(SessionAffinity::default()),
    }
}

/// A router and the loads of the ready instances it was told of, in pool order: the one
/// way to feed a router, so that its indexes always describe `loads`.
pub struct Pool {
    router: Box<dyn Router + Send>,
    loads: Vec<InstanceLoad>,
}

impl Pool {
    /// `router` over no instance yet (see [`Self::reset`]).
    pub fn new(router: Box<dyn Router + Send>) -> Pool {
        Pool {
            router,
            loads: Vec::new(),
        }
    }

    /// The ready instances are now `loads`, in pool order.
    pub fn reset(&mut self, loads: impl IntoIterator<Item = InstanceLoad>) {
        self.loads.clear();
        self.loads.extend(loads);
        self.router.reset(&self.loads);
    }

    /// The instance at position `pos` now reports `load`.
    pub fn set(&mut self, pos: usize, load: InstanceLoad) {
        debug_assert_eq!(self.loads[pos].id, load.id, "a position keeps its instance");
        if self.loads[pos] != load {
            let old = std::mem::replace(&mut self.loads[pos], load);
            self.router.update(pos, &old, &self.loads[pos]);
        }
    }

    /// The loads the router sees (the engine's debug check, tests and the benchmarks).
    #[cfg(any(test, debug_assertions, feature = "dev-hooks"))]
    pub fn loads(&self) -> &[InstanceLoad] {
        &self.loads
    }

    /// Whether the router wants the instances' KV events.
    pub fn wants_kv_events(&self) -> bool {
        self.router.wants_kv_events()
    }

    /// Instance `id` stored or removed a prefix block.
    pub fn kv_event(&mut self, id: u16, ev: KvEvent) {
        self.router.kv_event(id, ev);
    }

    /// Position of the instance the router picks for `req` (some instance must be ready).
    pub fn route(&mut self, req: &RouteRequest, rng: &mut SimRng) -> usize {
        debug_assert!(!self.loads.is_empty(), "routing needs a ready instance");
        self.router.route(req, &self.loads, rng)
    }

    /// [`Router::believed_cached_tokens`] of the instance at position `pos`.
    pub fn believed_cached_tokens(&self, pos: usize, req: &RouteRequest) -> u64 {
        self.router.believed_cached_tokens(&self.loads[pos], req)
    }
}

/// Index of the smallest value; ties to the lowest index.
pub(crate) fn argmin_by<T: PartialOrd + Copy>(xs: impl Iterator<Item = T>) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, x) in xs.enumerate() {
        if best.is_none_or(|(_, b)| x < b) {
            best = Some((i, x));
        }
    }
    best.map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    const ALL: [RouterKind; 8] = RouterKind::ALL;

    fn loads(outstanding: &[u32]) -> Vec<InstanceLoad> {
        outstanding
            .iter()
            .enumerate()
            .map(|(i, &o)| InstanceLoad {
                id: i as u16,
                outstanding: o,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn every_router_picks_a_valid_index_and_spreads_prefixless_load() {
        for kind in ALL {
            let mut p = Pool::new(build(kind, &RoutingConfig::default(), 4));
            p.reset(loads(&[0, 0, 0, 0]));
            let mut rng = Streams::new(7).get(Stream::Router(0));
            let mut counts = vec![0u32; 4];
            for _ in 0..400 {
                let req = RouteRequest {
                    input_tokens: 100,
                    ..Default::default()
                };
                let i = p.route(&req, &mut rng);
                counts[i] += 1;
                let mut l = p.loads()[i];
                l.outstanding += 1;
                l.waiting += 1;
                l.active_tokens += 100;
                p.set(i, l);
            }
            assert!(counts.iter().all(|&c| c > 50), "{kind:?} {counts:?}");
        }
    }

    #[test]
    fn single_instance_always_wins() {
        for kind in ALL {
            let mut rng = Streams::new(1).get(Stream::Router(0));
            let mut p = Pool::new(build(kind, &RoutingConfig::default(), 1));
            p.reset(loads(&[5]));
            assert_eq!(p.route(&RouteRequest::default(), &mut rng), 0);
        }
    }
}
