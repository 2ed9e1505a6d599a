//! The xpyd discrete-event engine and the serving system it simulates.
//!
//! Layout: [`time`], [`event`] and [`rng`] are the engine's primitives; [`workload`]
//! generates requests; [`instance`] is one engine replica (KV blocks, continuous
//! batching); [`kv_transfer`] moves KV between instances; [`policy`] holds the routers;
//! [`engine`] runs the event loop for a [`scenario::Scenario`]; [`metrics`] summarises;
//! [`sweep`] runs a scenario at several rates; [`planner`] searches deployments;
//! [`describe`] names a deployment and its cost source for outputs.
#![warn(missing_docs, unreachable_pub)]

pub mod describe;
pub mod engine;
pub mod event;
pub mod instance;
pub mod kv_transfer;
pub mod metrics;
pub mod planner;
pub mod policy;
pub mod prefix_cache;
pub mod request;
pub mod rng;
pub mod scenario;
pub mod sweep;
pub mod time;
pub mod workload;

pub use engine::{RunOutput, SimError, System, run, run_streamed};
pub use scenario::{Scenario, ScenarioError};
pub use time::{SimDuration, SimTime};
