//! The xpyd discrete-event engine and the serving system it simulates.
#![warn(missing_docs, unreachable_pub)]

pub mod rng;
pub mod time;
pub mod workload;

pub use time::{SimDuration, SimTime};
