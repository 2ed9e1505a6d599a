//! The xpyd discrete-event engine and the serving system it simulates.
//!
//! Layout: [`time`], `event`, `id` and [`rng`] are the engine's primitives; [`workload`]
//! generates requests; `instance` is one engine replica (KV blocks, continuous
//! batching); `kv_transfer` moves KV between instances; [`policy`] holds the decisions
//! (routers, the PD decider, autoscalers); [`engine`] runs the event loop for a
//! [`scenario::Scenario`], with one module per serving flow; [`metrics`] summarises;
//! [`sweep`] runs a scenario at several rates; [`limits`] holds the range of every
//! numeric input; [`planner`] searches deployments;
//! [`describe`] names a deployment and its cost source for outputs; [`bench`](mod@bench) holds the
//! reference workloads of `xpyd bench`.
//!
//! Public API: what the CLI and `reports` use. The engine's internals (`event`, `id`,
//! `instance`, `kv_transfer`, `prefix_cache`, `request`, `policy::router`) are
//! crate-private; the `dev-hooks` feature makes them public for the benches.
#![warn(missing_docs, unreachable_pub)]

/// Declare internal modules: crate-private, public only with the `dev-hooks` feature
/// (the benches' view of the internals).
macro_rules! internal_modules {
    ($($(#[$doc:meta])* $m:ident;)*) => {$(
        $(#[$doc])*
        #[cfg(feature = "dev-hooks")]
        pub mod $m;
        $(#[$doc])*
        #[cfg(not(feature = "dev-hooks"))]
        #[allow(unreachable_pub)]
        pub(crate) mod $m;
    )*};
}
pub(crate) use internal_modules;

pub mod bench;
pub mod describe;
pub mod engine;
pub mod interval;
pub mod limits;
pub mod metrics;
pub mod planner;
pub mod policy;
pub mod rng;
pub mod role;
pub mod scenario;
pub mod serving;
pub mod sweep;
pub mod time;
pub mod workload;

internal_modules! {
    event;
    id;
    instance;
    kv_transfer;
    prefix_cache;
    request;
}

mod key_map;

pub use engine::{ColdStartRecord, RunOutput, SimError, System, run, run_streamed, run_verdict};
pub use scenario::{Scenario, ScenarioError};
pub use time::{SimDuration, SimTime};
