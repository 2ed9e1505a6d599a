//! Routers: which instance of a role gets a request.
//!
//! Invariants: a router sees only what the real router sees (its own counters of requests
//! it routed and not yet finished, queue lengths the engines report); it draws random
//! numbers only from its own stream; ties break to the lowest instance index.

mod least_outstanding;
mod power_of_two;
mod random;
mod round_robin;

pub use least_outstanding::LeastOutstanding;
pub use power_of_two::PowerOfTwo;
pub use random::Random;
pub use round_robin::RoundRobin;

use crate::rng::SimRng;
use crate::scenario::RouterKind;

/// What a router may see of one instance.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct InstanceLoad {
    /// Requests routed to the instance and not finished there.
    pub outstanding: u32,
    /// Requests waiting in its queues.
    pub waiting: u32,
    /// Requests in its running batch.
    pub running: u32,
    /// Fraction of its KV blocks in use.
    pub kv_utilization: f64,
}

/// Picks an instance for a request.
pub trait Router {
    /// Index into `loads` of the chosen instance. `loads` is never empty.
    fn route(&mut self, loads: &[InstanceLoad], rng: &mut SimRng) -> usize;
}

/// The router of a kind.
pub fn build(kind: RouterKind) -> Box<dyn Router + Send> {
    match kind {
        RouterKind::RoundRobin => Box::new(RoundRobin::default()),
        RouterKind::Random => Box::new(Random),
        RouterKind::LeastOutstanding => Box::new(LeastOutstanding),
        RouterKind::PowerOfTwo => Box::new(PowerOfTwo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

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
    fn every_router_picks_a_valid_index_and_covers_all_instances() {
        for kind in [
            RouterKind::RoundRobin,
            RouterKind::Random,
            RouterKind::LeastOutstanding,
            RouterKind::PowerOfTwo,
        ] {
            let mut r = build(kind);
            let mut rng = Streams::new(7).get(Stream::Router(0));
            let mut counts = vec![0u32; 4];
            let mut l = loads(&[0, 0, 0, 0]);
            for _ in 0..400 {
                let i = r.route(&l, &mut rng);
                counts[i] += 1;
                l[i].outstanding += 1;
            }
            assert!(counts.iter().all(|&c| c > 50), "{kind:?} {counts:?}");
        }
    }

    #[test]
    fn single_instance_always_wins() {
        for kind in [
            RouterKind::RoundRobin,
            RouterKind::Random,
            RouterKind::LeastOutstanding,
            RouterKind::PowerOfTwo,
        ] {
            let mut rng = Streams::new(1).get(Stream::Router(0));
            assert_eq!(build(kind).route(&loads(&[5]), &mut rng), 0);
        }
    }
}
