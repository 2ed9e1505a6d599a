//! Routers: which instance of a role gets a request.
//!
//! Invariants: a router sees only what the real router sees: its own counters of
//! requests it routed and not yet finished, queue lengths and KV usage the engines
//! report, exact cache contents only where the real router receives KV events (Dynamo),
//! and otherwise an approximate prefix index built from the requests it routed (SGLang's
//! cache-aware router, the llm-d prefix scorer). It draws random numbers only from its
//! own stream; deterministic ties go to the lowest instance index.

mod approx_index;
mod cache_aware;
mod gaie;
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
    /// Hash blocks of this request's prefix cached there (filled only for routers that
    /// receive KV events, see [`Router::wants_cache_state`]).
    pub cached_blocks: u32,
    /// Prompt tokens of the requests routed to it and not finished (the active
    /// sequences Dynamo's router tracks), tokens.
    pub active_tokens: u64,
}

/// Picks an instance for a request.
pub trait Router {
    /// Index into `loads` of the chosen instance. `loads` is never empty.
    fn route(&mut self, req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize;

    /// Whether the router sees the instances' exact cache contents (KV events), so the
    /// engine fills [`InstanceLoad::cached_blocks`].
    fn wants_cache_state(&self) -> bool {
        false
    }

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
            .map(|&o| InstanceLoad {
                outstanding: o,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn every_router_picks_a_valid_index_and_spreads_prefixless_load() {
        for kind in ALL {
            let mut r = build(kind, &RoutingConfig::default(), 4);
            let mut rng = Streams::new(7).get(Stream::Router(0));
            let mut counts = vec![0u32; 4];
            let mut l = loads(&[0, 0, 0, 0]);
            for _ in 0..400 {
                let i = r.route(
                    &RouteRequest {
                        input_tokens: 100,
                        ..Default::default()
                    },
                    &l,
                    &mut rng,
                );
                counts[i] += 1;
                l[i].outstanding += 1;
                l[i].waiting += 1;
                l[i].active_tokens += 100;
            }
            assert!(counts.iter().all(|&c| c > 50), "{kind:?} {counts:?}");
        }
    }

    #[test]
    fn single_instance_always_wins() {
        for kind in ALL {
            let mut rng = Streams::new(1).get(Stream::Router(0));
            let mut r = build(kind, &RoutingConfig::default(), 1);
            assert_eq!(r.route(&RouteRequest::default(), &loads(&[5]), &mut rng), 0);
        }
    }
}
