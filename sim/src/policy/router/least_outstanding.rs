//! Least outstanding requests: the instance with the fewest requests routed and not yet
//! finished (Dynamo's and most proxies' "least loaded"); ties go to the lowest index.

use super::{InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;

/// Picks the least-loaded instance.
#[derive(Debug, Default)]
pub struct LeastOutstanding;

impl Router for LeastOutstanding {
    fn route(&mut self, _req: &RouteRequest, loads: &[InstanceLoad], _rng: &mut SimRng) -> usize {
        let mut best = 0;
        for (i, l) in loads.iter().enumerate().skip(1) {
            if l.outstanding < loads[best].outstanding {
                best = i;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    #[test]
    fn picks_fewest_and_breaks_ties_low() {
        let mut rng = Streams::new(1).get(Stream::Router(0));
        let l = |o: &[u32]| -> Vec<InstanceLoad> {
            o.iter()
                .map(|&x| InstanceLoad {
                    outstanding: x,
                    ..Default::default()
                })
                .collect()
        };
        assert_eq!(
            LeastOutstanding.route(&RouteRequest::default(), &l(&[3, 1, 2]), &mut rng),
            1
        );
        assert_eq!(
            LeastOutstanding.route(&RouteRequest::default(), &l(&[2, 1, 1]), &mut rng),
            1
        );
    }
}
