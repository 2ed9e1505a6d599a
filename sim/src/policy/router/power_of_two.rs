//! Power of two choices (Mitzenmacher): sample two distinct instances, take the one with
//! fewer outstanding requests (the first sampled on a tie).

use super::{InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;
use rand::RngExt;

/// Two random choices, the less loaded wins.
#[derive(Debug, Default)]
pub struct PowerOfTwo;

impl Router for PowerOfTwo {
    fn route(&mut self, _req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize {
        let n = loads.len();
        if n == 1 {
            return 0;
        }
        let a = rng.random_range(0..n);
        // A second, distinct index: draw from n-1 and skip `a`.
        let mut b = rng.random_range(0..n - 1);
        if b >= a {
            b += 1;
        }
        if loads[b].outstanding < loads[a].outstanding {
            b
        } else {
            a
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Stream, Streams};

    #[test]
    fn never_picks_the_most_loaded_of_two() {
        let mut rng = Streams::new(3).get(Stream::Router(0));
        let l: Vec<InstanceLoad> = [0u32, 100]
            .iter()
            .map(|&x| InstanceLoad {
                outstanding: x,
                ..Default::default()
            })
            .collect();
        for _ in 0..50 {
            assert_eq!(PowerOfTwo.route(&RouteRequest::default(), &l, &mut rng), 0);
        }
    }
}
