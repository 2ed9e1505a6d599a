//! The planner's rate search against a capacity known in closed form.
//!
//! One aggregated instance serving one request at a time (`max-num-seqs = 1`), fixed
//! 1024-token prompts with a single output token (produced by prefill) and constant
//! arrivals is a D/D/1 queue with service time `D` = the cost of one prefill step: TTFT
//! is exactly `D` while the rate is below `1 / D` and grows without bound above it. With
//! a TTFT objective of `1.5 D` the SLO holds up to `1 / D` (plus a hair: the first
//! requests of an overloaded run still meet it), so the search must land in
//! `[1 / (D (1 + precision)), 1 / D]` up to that hair, from a bracket far above.

use std::path::Path;
use xpyd_models::StepShape;
use xpyd_sim::planner::search::{ProbeWorkload, max_rate};
use xpyd_sim::scenario::{Scenario, ScenarioFile};

const DD1: &str = r#"
name = "dd1"
seed = 3
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
backend = "vllm"
[deployment.aggregated]
replicas = 1
tp = 1
[deployment.aggregated.engine]
max-num-seqs = 1
max-batched-tokens = 1024
[workload]
requests = 400
[workload.arrival]
kind = "constant"
rate-rps = 1.0
[workload.input-tokens]
kind = "fixed"
tokens = 1024
[workload.output-tokens]
kind = "fixed"
tokens = 1
[slo]
ttft-ms = 1000
tpot-ms = 1000
"#;

fn scenario(ttft_ms: Option<f64>) -> Scenario {
    let mut f: ScenarioFile = toml::from_str(DD1).unwrap();
    if let Some(t) = ttft_ms {
        f.slo.ttft_ms = Some(t);
    }
    Scenario::from_file(Path::new("dd1.toml"), Path::new("."), f).unwrap()
}

#[test]
fn bisection_finds_the_dd1_capacity() {
    let sc = scenario(None);
    // As the scenario's instances price it (engine layer included).
    let cm = sc.cost_model(1);
    let d = cm.step_seconds(&StepShape {
        prefill_tokens: 1024,
        prefill_seqs: 1,
        prefill_attn_pairs: 1024 * 1025 / 2,
        ..StepShape::default()
    });
    assert!(d > 0.0);
    let sc = scenario(Some(1.5 * d * 1e3));
    let capacity = 1.0 / d;
    let precision = 0.03;
    // A bracket 20x above the capacity: the search must come down to it.
    let f: ScenarioFile = toml::from_str(DD1).unwrap();
    let pw = ProbeWorkload {
        file: f.workload,
        base_dir: ".".into(),
        min_requests: 400,
        min_duration_s: 0.0,
        max_requests: 400,
    };
    let out = max_rate(&sc, &pw, 20.0 * capacity, precision, None).unwrap();
    let found = out.max_rate_rps;
    assert!(
        found <= capacity * 1.005,
        "found {found} req/s above the capacity {capacity}"
    );
    assert!(
        found >= capacity / (1.0 + precision) * 0.999,
        "found {found} req/s, more than {precision} below the capacity {capacity}"
    );
    let m = out.at_max.expect("the probe at the maximum");
    assert!(m.met);
    assert!(out.probes <= 12, "{} probes", out.probes);
}
