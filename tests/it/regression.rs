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

/// Issue 13: `xpyd run scenarios/autoscale-burst.toml --rate 5` failed with `unknown field
/// rate-rps` (the scenario's arrivals are a rate schedule) while `sweep` and `plan`
/// rescaled the same schedule. Now the three commands give `--rate` one meaning: the
/// schedule times `rate / mean` (mean over one period: (300 x 3 + 300 x 20) / 600 = 11.5).
#[test]
fn r13_rate_on_schedule() {
    use crate::common::{json, stderr, tmpdir, xpyd};
    let f = 5.0 / 11.5;
    let scaled = [3.0 * f, 20.0 * f, 3.0 * f];
    let want = format!(
        "schedule (step, 3 points, {}..{} req/s)",
        scaled[0], scaled[1]
    );

    // run --rate 5: the scaled schedule.
    let run_out = tmpdir("r13-run");
    let o = xpyd(&[
        "run",
        "scenarios/autoscale-burst.toml",
        "--rate",
        "5",
        "--requests",
        "300",
        "--no-report",
        "--out",
        run_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = json(&run_out.join("summary.json"));
    let workload = summary["workload"].as_str().unwrap();
    assert!(workload.contains(&want), "{workload} lacks {want}");

    // sweep at 5: the same workload, so the same simulation as `run --rate 5`.
    let sweep_out = tmpdir("r13-sweep");
    let o = xpyd(&[
        "sweep",
        "scenarios/autoscale-burst.toml",
        "--rates",
        "5",
        "--requests",
        "300",
        "--no-report",
        "--out",
        sweep_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(sweep_out.join("sweep.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| -> f64 {
        let i = header.iter().position(|h| *h == name).unwrap();
        row[i].parse().unwrap()
    };
    assert_eq!(col("offered_rps"), 5.0);
    assert_eq!(
        col("completed"),
        summary["requests"]["completed"].as_f64().unwrap()
    );
    let run_tput = summary["throughput"]["requests_per_s"].as_f64().unwrap();
    assert!(
        (col("throughput_rps") - run_tput).abs() <= 1e-6 * run_tput.max(1.0),
        "sweep {} vs run {run_tput}",
        col("throughput_rps")
    );

    // plan --target-rate 5: recommended.toml carries the same scaled schedule.
    let plan_out = tmpdir("r13-plan");
    let o = xpyd(&[
        "plan",
        "scenarios/autoscale-burst.toml",
        "--target-rate",
        "5",
        "--mode",
        "aggregated",
        "--gpus-max",
        "2",
        "--tp",
        "1",
        "--token-budgets",
        "8192",
        "--max-num-seqs",
        "1024",
        "--router",
        "round-robin",
        "--probe-requests",
        "100",
        "--precision",
        "0.1",
        "--set",
        "workload.requests=300",
        // The planner may trim to one replica, below this scenario's autoscaler minimum.
        "--set",
        "deployment.aggregated.autoscale.min-replicas=1",
        "--no-report",
        "--out",
        plan_out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rec: toml::Table =
        toml::from_str(&std::fs::read_to_string(plan_out.join("recommended.toml")).unwrap())
            .unwrap();
    let points = rec["workload"]["arrival"]["points"].as_array().unwrap();
    let rates: Vec<f64> = points
        .iter()
        .map(|p| p["rate-rps"].as_float().unwrap())
        .collect();
    assert_eq!(rates, scaled);
    let sc = Scenario::load(&plan_out.join("recommended.toml"), &[]).unwrap();
    assert!(sc.workload.describe().contains(&want));
}
