//! Regression tests, named `r<issue>_...`.

use std::path::Path;
use xpyd_sim::{Scenario, System};

/// Issue 2: a decode instance with one running slot, whose KV is all reserved by requests
/// waiting for that slot, used to stop for good after preempting its only runner.
#[test]
fn r2_single_decode_slot_never_deadlocks() {
    let text = include_str!("../../scenarios/seed-sglang-2p1d.toml");
    for backend in ["sglang", "vllm", "dynamo"] {
        let sets = vec![
            format!("deployment.backend=\"{backend}\""),
            "deployment.decode.engine.max-num-seqs=1".to_string(),
            "workload.requests=40".to_string(),
        ];
        let sc = Scenario::from_text(Path::new("seed.toml"), Path::new("."), text, &sets).unwrap();
        let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
        assert_eq!(out.metrics.requests.completed, 40, "{backend}");
        assert!(
            out.instances.iter().all(|i| i.kv_blocks_in_use_at_end == 0),
            "{backend}"
        );
    }
}
