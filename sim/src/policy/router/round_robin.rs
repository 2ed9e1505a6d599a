//! Round-robin: instance `k mod n` for the k-th request (SGLang mini-lb's and vLLM's
//! toy proxy's default).

use super::{InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;

/// Cycles through the instances.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Router for RoundRobin {
    fn route(&mut self, _req: &RouteRequest, loads: &[InstanceLoad], _rng: &mut SimRng) -> usize {
        let i = self.next % loads.len();
        self.next = i + 1;
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    #[test]
    fn cycles() {
        let mut r = RoundRobin::default();
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let l = vec![InstanceLoad::default(); 3];
        let picks: Vec<usize> = (0..7)
            .map(|_| r.route(&RouteRequest::default(), &l, &mut rng))
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2, 0]);
    }
}
