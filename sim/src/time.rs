//! Simulated time: integer nanoseconds since the start of the run.
//!
//! Invariants: the engine loop is the only writer of the clock; `f64` seconds are
//! converted to [`SimDuration`] exactly once, at the cost-model boundary, by rounding.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Sub};
use xpyd_models::num::round_u64;

/// An instant, in nanoseconds since the start of the simulation (u64 ns ~ 584 years).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SimTime(pub u64);

/// A span of simulated time in nanoseconds.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The start of the simulation.
    pub const ZERO: SimTime = SimTime(0);

    /// Nanoseconds since the start.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the start (for reports only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Time elapsed since `earlier`; panics if `earlier` is later (a bug).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.checked_sub(earlier.0).expect("time went backwards"))
    }
}

impl SimDuration {
    /// No time.
    pub const ZERO: SimDuration = SimDuration(0);

    /// From seconds, rounded to the nearest nanosecond; beyond ~584 years it saturates.
    /// Panics on a negative or non-finite value: cost models never produce one (a bug
    /// if they do).
    pub fn from_secs_f64(s: f64) -> SimDuration {
        assert!(s.is_finite() && s >= 0.0, "invalid duration {s} s");
        SimDuration(round_u64(s * 1e9))
    }

    /// From milliseconds (see [`Self::from_secs_f64`]).
    pub fn from_millis_f64(ms: f64) -> SimDuration {
        SimDuration::from_secs_f64(ms * 1e-3)
    }

    /// Nanoseconds.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds (for reports only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Milliseconds (for reports only).
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 * 1e-6
    }
}

/// Saturates at the end of representable time (an instant past any stop time).
impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_to_nearest_nanosecond() {
        assert_eq!(SimDuration::from_secs_f64(1.5e-9).as_nanos(), 2);
        assert_eq!(SimDuration::from_secs_f64(0.25).as_nanos(), 250_000_000);
        assert_eq!(SimDuration::from_millis_f64(1.0).as_nanos(), 1_000_000);
    }

    #[test]
    #[should_panic]
    fn negative_duration_is_a_bug() {
        let _ = SimDuration::from_secs_f64(-1.0);
    }
}
