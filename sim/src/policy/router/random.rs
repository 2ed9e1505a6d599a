//! Uniform random choice from the router's own stream.

use super::{InstanceLoad, RouteRequest, Router};
use crate::rng::SimRng;
use rand::RngExt;

/// Picks uniformly at random.
#[derive(Debug, Default)]
pub struct Random;

impl Router for Random {
    fn route(&mut self, _req: &RouteRequest, loads: &[InstanceLoad], rng: &mut SimRng) -> usize {
        rng.random_range(0..loads.len())
    }
}
