//! Dynamo SLA-planner decisions on hand-built signal sequences, through the public API.
//!
//! Formulas (ai-dynamo/dynamo `components/planner/src/dynamo/planner/utils/planner_core.py`,
//! `_compute_replica_requirements`): prefill = ceil(rate x ISL x min(1, correction) /
//! capacity), decode = ceil(rate x OSL / capacity), then at least `min_endpoint`.

use std::path::Path;
use xpyd_sim::policy::autoscale::{Autoscaler, RoleSignals, build};
use xpyd_sim::scenario::{AutoscaleConfig, AutoscaleFile};
use xpyd_sim::{SimDuration, SimTime};

const S: u64 = 1_000_000_000;

fn planner(text: &str) -> Box<dyn Autoscaler + Send> {
    let f: AutoscaleFile = toml::from_str(text).expect("valid TOML");
    let c = AutoscaleConfig::from_file(
        Path::new("scenario.toml"),
        "deployment.prefill.autoscale",
        &f,
    )
    .expect("valid");
    build(&c)
}

/// One adjustment interval's observations (Dynamo's defaults: ISL 3000, OSL 150).
fn interval(k: u64, rps: f64, ttft_ms: Option<f64>, ready: u32) -> RoleSignals {
    RoleSignals {
        now: SimTime(k * 180 * S),
        ready,
        arrival_rate_rps: rps,
        mean_input_tokens: 3000.0,
        mean_output_tokens: 150.0,
        ttft_ms,
        ..Default::default()
    }
}

const PREFILL: &str = r#"
kind = "sla-planner"
stage = "prefill"
max-replicas = 16
capacity-tokens-per-s = 12000
"#;

const DECODE: &str = r#"
kind = "sla-planner"
stage = "decode"
max-replicas = 16
capacity-tokens-per-s = 400
"#;

#[test]
fn hand_computed_example() {
    let mut p = planner(PREFILL);
    let mut d = planner(DECODE);
    assert_eq!(p.sync_period(), SimDuration(180 * S));
    // 10 rps x 3000 prompt tokens = 30 000 tok/s over 12 000 per replica: 2.5 -> 3.
    assert_eq!(p.desired(&interval(1, 10.0, None, 1)), 3);
    // 10 rps x 150 output tokens = 1 500 tok/s over 400 per replica: 3.75 -> 4.
    assert_eq!(d.desired(&interval(1, 10.0, None, 1)), 4);
}

#[test]
fn constant_predictor_follows_a_step_one_interval_late() {
    let mut p = planner(PREFILL);
    // Intervals 1-2 at 10 rps, interval 3 at 20 rps: 3, 3, then 60 000 / 12 000 = 5.
    assert_eq!(p.desired(&interval(1, 10.0, None, 1)), 3);
    assert_eq!(p.desired(&interval(2, 10.0, None, 3)), 3);
    assert_eq!(p.desired(&interval(3, 20.0, None, 3)), 5);
}

#[test]
fn moving_average_smooths_a_spike() {
    let mut p = planner(&format!(
        "{PREFILL}predictor = \"moving-average\"\nprediction-window = 3\n"
    ));
    assert_eq!(p.desired(&interval(1, 4.0, None, 1)), 1); // 12 000 / 12 000
    assert_eq!(p.desired(&interval(2, 4.0, None, 1)), 1);
    // Mean of 4, 4, 16 = 8 rps -> 24 000 tok/s -> 2 (constant would say 4).
    assert_eq!(p.desired(&interval(3, 16.0, None, 1)), 2);
}

#[test]
fn ttft_correction_only_lowers_the_prefill_load() {
    let text = format!("{PREFILL}expected-ttft-ms = 200\n");
    // Observed 100 ms vs 200 profiled (prefix hits): correction 0.5 ->
    // 30 000 x 0.5 / 12 000 = 1.25 -> 2.
    let mut p = planner(&text);
    assert_eq!(p.desired(&interval(1, 10.0, Some(100.0), 1)), 2);
    // Observed 400 ms (queueing): correction 2, used as min(1, 2) = 1 -> 3.
    let mut p = planner(&text);
    assert_eq!(p.desired(&interval(1, 10.0, Some(400.0), 1)), 3);
}

#[test]
fn no_traffic_holds_the_count() {
    // Dynamo skips the adjustment when the interval's averages are NaN.
    let mut p = planner(PREFILL);
    let s = RoleSignals {
        now: SimTime(180 * S),
        ready: 4,
        starting: 1,
        ..Default::default()
    };
    assert_eq!(p.desired(&s), 5);
}

#[test]
fn bounds_apply() {
    let mut p = planner(&format!("{PREFILL}min-replicas = 2\n"));
    // 1 rps: 3 000 / 12 000 -> 1, raised to min 2.
    assert_eq!(p.desired(&interval(1, 1.0, None, 2)), 2);
    // 1 000 rps: 250 replicas, capped at 16.
    assert_eq!(p.desired(&interval(2, 1000.0, None, 2)), 16);
}
