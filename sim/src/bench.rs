//! The reference workloads of `xpyd bench`, and the code that runs and times one.
//!
//! Three fixed workloads ([`Workload`]): `chat-1m` (a million ShareGPT chat requests on
//! a 32-GPU 8P8D deployment), `mooncake-kv` (the whole Mooncake conversation trace with
//! KV-aware routing) and `plan-default` (`xpyd plan` of the built-in default scenario
//! with default flags). [`measure`] runs one in this process and returns its
//! [`Measurement`].
//!
//! Invariants: wall time covers the simulation only (scenario parsing and workload
//! loading excluded for the simulations; the whole planner call for `plan-default`).
//! Peak RSS is this process's high-water mark (`VmHWM` from `/proc/self/status`, Linux
//! only), so a caller that wants one workload's own peak runs it in a fresh process
//! (the CLI does). The simulated results are discarded; nothing is printed.

use crate::planner::{self, PlanError, PlanSettings};
use crate::{Scenario, ScenarioError, SimError, System};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// 1,000,000 ShareGPT chat requests, Poisson, on Qwen3-32B SGLang 8P8D TP2 on H100 (16
/// instances, 32 GPUs), no baseline, outputs discarded.
///
/// The rate is 80% of the deployment's capacity. Capacity was found by a sweep of
/// `xpyd run` on this scenario with 50,000 requests: the completed throughput saturates
/// at 50.0 req/s (offered 100 req/s gives 50.01; 50 gives 49.33 with TTFT growing; 45
/// gives 44.54 with 99.8% SLO attainment). 0.8 x 50 = 40 req/s; at 38.5 req/s and 200,000
/// requests TTFT p99 is about 1 s and TPOT p99 28 ms (stable).
pub const CHAT_1M: &str = r#"
name = "bench-chat-1m"
seed = 1

[model]
id = "qwen3-32b"

[hardware]
gpu = "h100"

[deployment]
mode = "disaggregated"
backend = "sglang"

[deployment.prefill]
replicas = 8
tp = 2
router = "round-robin"

[deployment.decode]
replicas = 8
tp = 2
router = "round-robin"

[baseline]
enabled = false

[workload]
requests = 1000000

[workload.arrival]
kind = "poisson"
rate-rps = 40.0

[workload.lengths]
kind = "empirical-joint"
path = "builtin:sharegpt"
"#;

/// The KV-aware routing scenario, replaying the whole Mooncake conversation trace
/// (12,031 requests; the file caps it at 3,000 for a quick run).
pub const MOONCAKE_KV: &str = include_str!("../../scenarios/mooncake-kv-routing.toml");

/// One reference workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    /// [`CHAT_1M`] simulated.
    Chat1m,
    /// [`MOONCAKE_KV`] simulated with its whole trace.
    MooncakeKv,
    /// `xpyd plan` of the built-in default scenario with default flags.
    PlanDefault,
}

impl Workload {
    /// Every workload, in the order `xpyd bench` runs them.
    pub const ALL: [Workload; 3] = [
        Workload::Chat1m,
        Workload::MooncakeKv,
        Workload::PlanDefault,
    ];

    /// Its name on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Chat1m => "chat-1m",
            Workload::MooncakeKv => "mooncake-kv",
            Workload::PlanDefault => "plan-default",
        }
    }

    /// The workload called `name`, if any.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// One workload's numbers (a line of `xpyd bench`, an element of its `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The workload's name.
    pub name: String,
    /// Requests simulated (arrived); `null` for the planner, which runs many simulations.
    pub requests: Option<u64>,
    /// Wall-clock seconds of the timed part.
    pub wall_s: f64,
    /// `requests / wall_s`.
    pub requests_per_s: Option<f64>,
    /// Simulation events per wall-clock second.
    pub events_per_s: Option<f64>,
    /// `null` where `/proc/self/status` is not available.
    pub peak_rss_mb: Option<f64>,
}

/// Why a workload could not be measured. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A workload's scenario does not validate.
    #[error("{workload}: {source}")]
    Scenario {
        /// The workload's name.
        workload: &'static str,
        /// What is wrong.
        #[source]
        source: ScenarioError,
    },
    /// A workload's simulation failed.
    #[error("{workload}: {source}")]
    Sim {
        /// The workload's name.
        workload: &'static str,
        /// What is wrong (boxed: a memory-budget stop carries its partial output).
        #[source]
        source: Box<SimError>,
    },
    /// The planner failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// [`Workload::PlanDefault`] was asked for without its plan settings.
    #[error("plan-default: no plan settings given")]
    NoPlanSettings,
}

/// Run `workload` in this process and measure it. `plan` holds the settings of
/// [`Workload::PlanDefault`] (`xpyd plan`'s, for the default scenario and flags); the
/// other workloads ignore it.
pub fn measure(workload: Workload, plan: Option<&PlanSettings>) -> Result<Measurement, BenchError> {
    let (requests, events, wall_s) = match workload {
        Workload::Chat1m => simulate(workload, CHAT_1M, &[])?,
        Workload::MooncakeKv => simulate(
            workload,
            MOONCAKE_KV,
            // Above the trace's 12,031 requests: the cap replays all of it.
            &["workload.requests=1000000".to_string()],
        )?,
        Workload::PlanDefault => {
            let settings = plan.ok_or(BenchError::NoPlanSettings)?;
            let t = Instant::now();
            planner::plan(settings, &|_| {})?;
            (None, None, t.elapsed().as_secs_f64())
        }
    };
    Ok(Measurement {
        name: workload.name().to_string(),
        requests,
        wall_s,
        requests_per_s: requests.map(|r| r as f64 / wall_s),
        events_per_s: events.map(|e| e as f64 / wall_s),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Simulate the main system of a scenario text; returns (arrived, events, wall s).
fn simulate(
    workload: Workload,
    text: &str,
    sets: &[String],
) -> Result<(Option<u64>, Option<u64>, f64), BenchError> {
    let sc = Scenario::from_text(Path::new("bench.toml"), Path::new("."), text, sets).map_err(
        |source| BenchError::Scenario {
            workload: workload.name(),
            source,
        },
    )?;
    let t = Instant::now();
    // Streamed like `xpyd run` streams them (records and time-series rows as they are
    // produced), then discarded: the run holds only what is in flight.
    let out =
        crate::run_streamed(&sc, System::Main, &mut |_| {}, &mut |_| {}).map_err(|source| {
            BenchError::Sim {
                workload: workload.name(),
                source: Box::new(source),
            }
        })?;
    let wall = t.elapsed().as_secs_f64();
    Ok((Some(out.metrics.requests.arrived), Some(out.events), wall))
}

/// Peak resident set size of this process, MB (`VmHWM`); `None` off Linux.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_scenarios_validate() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
        assert_eq!(Workload::from_name("nope"), None);
        for text in [CHAT_1M, MOONCAKE_KV] {
            Scenario::from_text(Path::new("bench.toml"), Path::new("."), text, &[]).unwrap();
        }
        assert!(matches!(
            measure(Workload::PlanDefault, None),
            Err(BenchError::NoPlanSettings)
        ));
    }
}
