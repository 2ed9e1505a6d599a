//! The reference workloads of `xpyd bench`, the code that runs and times one, and the
//! regression gate that compares two builds ([`compare`]).
//!
//! Six fixed workloads ([`Workload`]): `chat-1m` (a million ShareGPT chat requests on a
//! 32-GPU 8P8D deployment), `mooncake-kv` (the whole Mooncake conversation trace with
//! KV-aware routing), `fleet-10m` and `fleet-10m-h20` (ten million requests of the
//! Mooncake trace tiled in time on a 960-instance Llama-3.1-70B fleet, decode on H200 or
//! on H20), `plan-default` (`xpyd plan` of the built-in default scenario with default
//! flags) and `plan-large` (the same scenario's search widened: [`PLAN_LARGE_ARGS`]).
//! [`measure`] runs one in this process and returns its [`Measurement`].
//!
//! Invariants: wall time covers the simulation only (scenario parsing and workload
//! loading excluded for the simulations; the whole planner call for the plans). Peak RSS
//! is this process's high-water mark (`VmHWM` from `/proc/self/status`, Linux only), so a
//! caller that wants one workload's own peak runs it in a fresh process (the CLI does).
//! The simulated results are discarded; nothing is printed.

pub mod compare;

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
pub const MOONCAKE_KV: &str = include_str!("../../../scenarios/mooncake-kv-routing.toml");

/// 10,000,000 requests of the Mooncake conversation trace (12,031 requests over 3,537 s;
/// prompts of 12,035 tokens on average, up to 126,195, sharing prefixes by 512-token
/// block hashes; outputs of 343 tokens on average) tiled in time: 832 copies back to
/// back, each with fresh prefix ids (`[workload.trace] tiles`), rescaled to 300 req/s
/// (each copy then spans 40 s; the ten million arrive over 33,300 s). Llama-3.1-70B
/// (bf16) served by SGLang PD on H200: 640 prefill instances of TP 2 and 320 decode
/// instances of TP 4 (960 instances, 2,560 GPUs), KV-aware routing on both roles, KV
/// transfers sharing the NICs and NVLink max-min fairly (the network model is always
/// on), no baseline, outputs discarded. The time series has 10 s windows (960 rows per
/// window: 3.2 M rows over the run, where the 1 s default would stream 32 M).
///
/// 300 req/s is about 80% of the fleet's capacity (~370 req/s), found by a sweep of `xpyd
/// run` of this scenario with 60,000 requests (`--requests 60000 --set
/// workload.trace.tiles=6 --rate R --intervals off`; TTFT p50 / p99 in ms, prefix-cache
/// hit rate): 208 req/s 662 / 18,416 (17.4%); 260: 684 / 18,583 (15.5%); 300: 697 /
/// 18,714 (14.5%); 330: 704 / 18,714 (14.0%); 360: 746 / 18,722; 380: 2,224 / 19,657
/// (9.9%, the median TTFT growing: the prefill role saturates); 400: 6,393 / 25,210. The
/// p99 near 18.5 s at every rate is the trace's longest prompts (up to 126 K tokens)
/// prefilled at TP 2, not queueing. Deep in overload the completed throughput is lower
/// (offered 1,000 req/s completes 272 req/s) because long queues spread each prefix
/// over more instances (hit rate 4.2%), so the knee of the median TTFT, not the
/// overloaded throughput, measures capacity here.
pub const FLEET_10M: &str = r#"
name = "bench-fleet-10m"
seed = 1

[model]
id = "llama-3.1-70b"

[hardware]
gpu = "h200"

[deployment]
mode = "disaggregated"
backend = "sglang"

[deployment.prefill]
replicas = 640
tp = 2
router = "kv-aware"

[deployment.decode]
replicas = 320
tp = 4
router = "kv-aware"

[baseline]
enabled = false

[workload]
requests = 10000000

[workload.trace]
format = "mooncake"
path = "builtin:mooncake-conversation"
rate-rps = 300.0
tiles = 832

[slo]
ttft-ms = 2000
tpot-ms = 50
percentile = 90

[simulation]
max-duration-s = 1000000
sample-window-s = 10.0
"#;

/// [`FLEET_10M`] with the decode role on H20 (96 GB at 4.0 TB/s, 148 dense TFLOP/s):
/// heterogeneous PD, the KV crossing from the H200 nodes' NICs to the H20 nodes'. The
/// fleet stays prefill-bound, so its capacity and its rate are those of [`FLEET_10M`]:
/// the same sweep with decode on H20 gives TTFT p50 / p99 660 / 18,214 ms at 200 req/s,
/// 695 / 18,721 at 300, 709 / 18,714 at 340, 746 / 18,721 at 360, 2,354 / 19,681 at 380
/// and 6,404 / 25,244 at 400 (TPOT p50 15.9-16.8 ms against 16.6-17.4 with decode on
/// H200: H20 steps are priced by the roofline, H200 steps by its calibrated profile).
pub const FLEET_10M_H20_SETS: &[&str] = &[
    "deployment.decode.gpu=\"h20\"",
    "name=\"bench-fleet-10m-h20\"",
];

/// The `xpyd plan` arguments of `plan-large`: the built-in default scenario (Qwen3-32B
/// SGLang on L20) with its search widened to TP 1/2/4/8 with the DP-attention and
/// expert-parallel splits (`--moe-splits auto`: Qwen3-32B is dense, so the splits
/// resolve to TP only; a mixture-of-experts scenario would get them), units of up to 33
/// GPUs (the planner bounds a unit's GPUs, not each role's replicas: 33 lets the prefill
/// or the decode role reach X or Y = 32 at TP 1, one at a time), two GPU types (L20 and
/// H20, and the heterogeneous pairs of them), three routers, two token budgets (max
/// sequences at their default 128 and 1024), and the probabilities of meeting the SLOs
/// over 5 seed replications: 43,724 candidates.
pub const PLAN_LARGE_ARGS: &[&str] = &[
    "--gpu",
    "l20,h20",
    "--gpus-max",
    "33",
    "--tp",
    "1,2,4,8",
    "--moe-splits",
    "auto",
    "--router",
    "round-robin,least-outstanding,power-of-two",
    "--token-budgets",
    "2048,8192",
    "--intervals",
    "on",
    "--replications",
    "5",
];

/// One reference workload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    /// [`CHAT_1M`] simulated.
    Chat1m,
    /// [`MOONCAKE_KV`] simulated with its whole trace.
    MooncakeKv,
    /// [`FLEET_10M`] simulated.
    Fleet10m,
    /// [`FLEET_10M`] with [`FLEET_10M_H20_SETS`] simulated.
    Fleet10mH20,
    /// `xpyd plan` of the built-in default scenario with default flags.
    PlanDefault,
    /// `xpyd plan` of the built-in default scenario with [`PLAN_LARGE_ARGS`].
    PlanLarge,
}

impl Workload {
    /// Every workload, in the order `xpyd bench` runs them.
    pub const ALL: [Workload; 6] = [
        Workload::Chat1m,
        Workload::MooncakeKv,
        Workload::Fleet10m,
        Workload::Fleet10mH20,
        Workload::PlanDefault,
        Workload::PlanLarge,
    ];

    /// Its name on the command line and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Chat1m => "chat-1m",
            Workload::MooncakeKv => "mooncake-kv",
            Workload::Fleet10m => "fleet-10m",
            Workload::Fleet10mH20 => "fleet-10m-h20",
            Workload::PlanDefault => "plan-default",
            Workload::PlanLarge => "plan-large",
        }
    }

    /// The workload called `name`, if any.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// The `xpyd plan` arguments (after `plan`) of a planner workload; `None` for a
    /// simulation.
    pub fn plan_args(self) -> Option<&'static [&'static str]> {
        match self {
            Workload::PlanDefault => Some(&[]),
            Workload::PlanLarge => Some(PLAN_LARGE_ARGS),
            Workload::Chat1m
            | Workload::MooncakeKv
            | Workload::Fleet10m
            | Workload::Fleet10mH20 => None,
        }
    }

    /// The scenario text and `--set` overrides of a simulated workload; `None` for a plan.
    fn scenario(self) -> Option<(&'static str, Vec<String>)> {
        let owned = |sets: &[&str]| sets.iter().map(|s| (*s).to_owned()).collect();
        match self {
            Workload::Chat1m => Some((CHAT_1M, Vec::new())),
            // Above the trace's 12,031 requests: the cap replays all of it.
            Workload::MooncakeKv => Some((MOONCAKE_KV, owned(&["workload.requests=1000000"]))),
            Workload::Fleet10m => Some((FLEET_10M, Vec::new())),
            Workload::Fleet10mH20 => Some((FLEET_10M, owned(FLEET_10M_H20_SETS))),
            Workload::PlanDefault | Workload::PlanLarge => None,
        }
    }
}

/// One workload's numbers (a line of `xpyd bench`, an element of its `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The workload's name.
    pub name: String,
    /// Requests simulated (arrived); `null` for the planner, which runs many simulations.
    pub requests: Option<u64>,
    /// Wall-clock seconds of the timed part (over several rounds: their median).
    pub wall_s: f64,
    /// `requests / wall_s`.
    pub requests_per_s: Option<f64>,
    /// Simulation events per wall-clock second.
    pub events_per_s: Option<f64>,
    /// `null` where `/proc/self/status` is not available (over several rounds: the
    /// largest).
    pub peak_rss_mb: Option<f64>,
    /// Wall-clock seconds of each round, in the order they ran (empty for one process's
    /// own line, and in reports of builds before rounds existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wall_s_rounds: Vec<f64>,
}

impl Measurement {
    /// One line per workload from its rounds (each one process's measurement, in the
    /// order they ran): the median wall time, the rates at it, the largest peak RSS and
    /// every round's wall time. Panics on no rounds.
    pub fn from_rounds(rounds: &[Measurement]) -> Measurement {
        let first = rounds.first().expect("at least one round");
        let walls: Vec<f64> = rounds.iter().map(|m| m.wall_s).collect();
        let wall_s = compare::median(&walls);
        // Events of a round: its rate times its wall time; the same in every round of
        // a deterministic run.
        let events = first.events_per_s.map(|e| e * first.wall_s);
        let rss = rounds.iter().filter_map(|m| m.peak_rss_mb).reduce(f64::max);
        Measurement {
            name: first.name.clone(),
            requests: first.requests,
            wall_s,
            requests_per_s: first.requests.map(|r| r as f64 / wall_s),
            events_per_s: events.map(|e| e / wall_s),
            peak_rss_mb: rss,
            wall_s_rounds: walls,
        }
    }
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
    /// A planner workload was asked for without its plan settings.
    #[error("{workload}: no plan settings given")]
    NoPlanSettings {
        /// The workload's name.
        workload: &'static str,
    },
}

/// Run `workload` in this process and measure it. `plan` holds the settings of a
/// planner workload (`xpyd plan`'s, for the default scenario and
/// [`Workload::plan_args`]); the simulations ignore it. `requests` replaces a simulated
/// workload's request count (a shorter run while developing; the plans ignore it).
pub fn measure(
    workload: Workload,
    plan: Option<&PlanSettings>,
    requests: Option<u64>,
) -> Result<Measurement, BenchError> {
    let (requests, events, wall_s) = match workload.scenario() {
        Some((text, mut sets)) => {
            if let Some(n) = requests {
                sets.push(format!("workload.requests={n}"));
            }
            simulate(workload, text, &sets)?
        }
        None => {
            let settings = plan.ok_or(BenchError::NoPlanSettings {
                workload: workload.name(),
            })?;
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
        wall_s_rounds: Vec::new(),
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
            assert_ne!(w.scenario().is_some(), w.plan_args().is_some(), "{w:?}");
            if let Some((text, sets)) = w.scenario() {
                let sc = Scenario::from_text(Path::new("bench.toml"), Path::new("."), text, &sets)
                    .unwrap_or_else(|e| panic!("{}: {e}", w.name()));
                assert!(sc.name.starts_with("bench-") || w == Workload::MooncakeKv);
            }
        }
        assert_eq!(Workload::from_name("nope"), None);
        for w in [Workload::PlanDefault, Workload::PlanLarge] {
            assert!(matches!(
                measure(w, None, None),
                Err(BenchError::NoPlanSettings { .. })
            ));
        }
    }

    /// The fleet: 640 prefill TP 2 + 320 decode TP 4 (on H20 in the variant), ten
    /// million requests of a tiled trace.
    #[test]
    fn fleet_is_what_its_doc_says() {
        for (w, decode_gpu) in [(Workload::Fleet10m, "h200"), (Workload::Fleet10mH20, "h20")] {
            let (text, sets) = w.scenario().unwrap();
            let file = Path::new("bench.toml");
            let mut doc = crate::scenario::parse_scenario_text(file, text).unwrap();
            crate::scenario::apply_overrides(file, &mut doc, &sets).unwrap();
            let f = crate::scenario::table_to_file(file, doc).unwrap();
            let d = &f.deployment;
            let (p, dec) = (d.prefill.as_ref().unwrap(), d.decode.as_ref().unwrap());
            assert_eq!((p.replicas, p.tp, dec.replicas, dec.tp), (640, 2, 320, 4));
            assert_eq!(dec.gpu.as_deref().unwrap_or(&f.hardware.gpu), decode_gpu);
            assert_eq!(f.workload.requests, Some(10_000_000));
            let t = f.workload.trace.as_ref().unwrap();
            // Enough copies of the 12,031-request trace for ten million requests.
            assert!(t.tiles.unwrap() * 12_031 >= 10_000_000);
        }
    }

    #[test]
    fn rounds_make_one_line() {
        let round = |wall: f64, rss: f64| Measurement {
            name: "chat-1m".into(),
            requests: Some(100),
            wall_s: wall,
            requests_per_s: Some(100.0 / wall),
            events_per_s: Some(1000.0 / wall),
            peak_rss_mb: Some(rss),
            wall_s_rounds: Vec::new(),
        };
        let m = Measurement::from_rounds(&[round(2.0, 10.0), round(1.0, 30.0), round(4.0, 20.0)]);
        assert_eq!(m.wall_s, 2.0);
        assert_eq!(m.wall_s_rounds, vec![2.0, 1.0, 4.0]);
        assert_eq!(m.requests_per_s, Some(50.0));
        assert_eq!(m.events_per_s, Some(500.0));
        assert_eq!(m.peak_rss_mb, Some(30.0));
    }
}
