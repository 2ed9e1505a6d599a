//! GPU and node failures (`[failures]`) in the engine: every request is accounted for
//! (`arrived = completed + rejected + unfinished + timed_out + lost`) under random failure
//! parameters, aggregated and PD; runs are deterministic per seed; failures do not move
//! arrivals; a failed replica is replaced after a full cold start; the failure count
//! follows the MTBF; and bad `[failures]` values are refused with the field and range.

use proptest::prelude::*;

mod common;
use common::availability::{check_accounting, run};
use std::path::Path;
use xpyd_sim::metrics::{Outcome, RequestRecord};
use xpyd_sim::scenario::Scenario;

/// A small 2P1D (or 3-replica aggregated) Qwen3-32B deployment on L20s.
fn text(mode: &str, backend: &str, requests: u32, rate: f64, extra: &str) -> String {
    let deployment = if mode == "aggregated" {
        "[deployment.aggregated]\nreplicas = 3\ntp = 2\nrouter = \"round-robin\"\n".to_string()
    } else {
        "[deployment.prefill]\nreplicas = 2\ntp = 2\nrouter = \"round-robin\"\n\n\
         [deployment.decode]\nreplicas = 1\ntp = 2\nrouter = \"round-robin\"\n"
            .to_string()
    };
    format!(
        "name = \"failures\"\nseed = 1\n\n[model]\nid = \"qwen3-32b\"\nweights = \"bf16\"\nkv-cache = \"bf16\"\n\n\
         [hardware]\ngpu = \"l20\"\ngpus-per-node = 4\n\n\
         [deployment]\nmode = \"{mode}\"\nbackend = \"{backend}\"\n\n{deployment}\n\
         [workload]\nrequests = {requests}\n\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = {rate}\n\n\
         [workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n\n\
         [baseline]\nenabled = false\n\n{extra}"
    )
}

fn scenario(text: &str, sets: &[String]) -> Scenario {
    Scenario::from_text(Path::new("failures.toml"), Path::new("."), text, sets).unwrap()
}

const FLOWS: [(&str, &str); 4] = [
    ("aggregated", "vllm"),
    ("disaggregated", "sglang"),
    ("disaggregated", "vllm"),
    ("disaggregated", "dynamo"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_request_is_accounted_for(
        flow in 0usize..4,
        seed in 0u64..1000,
        gpu_mtbf in 0.02f64..2.0,
        node_mtbf in prop::option::of(0.05f64..5.0),
        trace in prop::option::of((0.0f64..200.0, 0u32..3)),
        timeout in prop::option::of(20.0f64..200.0),
        retries in 0u32..3,
        notice in prop::option::of(0.0f64..120.0),
    ) {
        let (mode, backend) = FLOWS[flow];
        let mut extra = format!("[failures]\ngpu-mtbf-hours = {gpu_mtbf}\nretries = {retries}\n");
        if let Some(n) = notice {
            extra += &format!("drain-notice-s = {n}\n");
        }
        if let Some(n) = node_mtbf {
            extra += &format!("node-mtbf-hours = {n}\n");
        }
        if let Some((at, i)) = trace {
            extra += &format!("\n[[failures.events]]\nat-s = {at}\ninstance = {i}\n");
        }
        let mut sets = vec![format!("seed={seed}")];
        if let Some(t) = timeout {
            sets.push(format!("workload.timeout-s={t}"));
        }
        let sc = scenario(&text(mode, backend, 80, 1.0, &extra), &sets);
        let (out, recs) = run(&sc);
        check_accounting(&out, &recs)?;
        // Same seed, same run.
        let (again, recs2) = run(&sc);
        prop_assert_eq!(out.trace_hash, again.trace_hash);
        prop_assert_eq!(recs, recs2);
    }
}

#[test]
fn failures_do_not_move_arrivals_and_are_deterministic() {
    for (mode, backend) in FLOWS {
        let plain = scenario(&text(mode, backend, 150, 1.0, ""), &[]);
        let failing = scenario(
            &text(
                mode,
                backend,
                150,
                1.0,
                "[failures]\ngpu-mtbf-hours = 0.05\nnode-mtbf-hours = 0.2\n",
            ),
            &[],
        );
        let (_, mut a) = run(&plain);
        let (out, mut b) = run(&failing);
        assert!(
            out.metrics.requests.lost.unwrap() > 0,
            "{mode} {backend}: no request lost"
        );
        assert!(plain.failures.is_none() && out.failures.is_some());
        a.sort_by_key(|r| r.id);
        b.sort_by_key(|r| r.id);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.arrival_s, x.input_tokens), (y.arrival_s, y.input_tokens));
        }
        let (again, c) = run(&failing);
        assert_eq!(out.trace_hash, again.trace_hash);
        let mut c = c;
        c.sort_by_key(|r| r.id);
        assert_eq!(b, c);
    }
}

#[test]
fn a_failed_decode_instance_loses_its_requests_and_is_replaced_after_a_cold_start() {
    // Instance 2 is the decode instance of the 2P1D deployment; at 60 s it holds requests.
    let extra = "[failures]\n\n[[failures.events]]\nat-s = 60\ninstance = 2\n";
    let sc = scenario(&text("disaggregated", "sglang", 200, 2.0, extra), &[]);
    let (out, recs) = run(&sc);
    let f = out.failures.as_ref().unwrap();
    assert_eq!((f.instance_failures, f.node_failures), (1, 0));
    assert_eq!(f.roles[1].role, "decode");
    assert_eq!(f.roles[1].failures, 1);
    let lost: Vec<&RequestRecord> = recs.iter().filter(|r| r.outcome == Outcome::Lost).collect();
    assert!(!lost.is_empty());
    assert!(
        lost.iter()
            .all(|r| r.arrival_s <= 60.0 && r.decode_instance == Some(2))
    );
    let states: Vec<(&str, f64)> = out
        .scale_events
        .iter()
        .filter(|e| e.instance == 2)
        .map(|e| (e.state, e.time_s))
        .collect();
    assert_eq!(states[0], ("failed", 60.0));
    assert_eq!(states[1], ("starting", 60.0));
    assert_eq!(states[2].0, "ready");
    // Default cold start: 5 s scheduling + 60 s image pull + weight load + 30 s warm-up.
    let down = states[2].1 - 60.0;
    assert!(down > 95.0, "replacement ready after {down} s");
    assert!((f.roles[1].down_s - down).abs() < 1e-6);
    let want = 1.0 - down / out.end_s;
    assert!((f.roles[1].availability - want).abs() < 1e-9);
    assert_eq!(f.roles[0].availability, 1.0);
}

#[test]
fn retried_requests_start_over_and_keep_their_arrival() {
    // The decode instance fails at 60 s: without retries its requests are lost; with a
    // budget the router retries them (held until the replacement is ready, the only
    // decode instance), none is lost and each retry is counted.
    let trace = "\n[[failures.events]]\nat-s = 60\ninstance = 2\n";
    let plain = scenario(
        &text(
            "disaggregated",
            "sglang",
            200,
            2.0,
            &format!("[failures]\n{trace}"),
        ),
        &[],
    );
    let retrying = scenario(
        &text(
            "disaggregated",
            "sglang",
            200,
            2.0,
            &format!("[failures]\nretries = 2\n{trace}"),
        ),
        &[],
    );
    let (out0, recs0) = run(&plain);
    let (out, recs) = run(&retrying);
    check_accounting(&out, &recs).unwrap();
    let lost0: Vec<u64> = recs0
        .iter()
        .filter(|r| r.outcome == Outcome::Lost)
        .map(|r| r.id)
        .collect();
    assert!(!lost0.is_empty());
    assert_eq!(out0.failures.as_ref().unwrap().retries, 0);
    let f = out.failures.as_ref().unwrap();
    assert_eq!(f.retries, lost0.len() as u64);
    assert_eq!(out.metrics.requests.lost, Some(0));
    assert_eq!(
        out.metrics.requests.completed,
        out0.metrics.requests.completed + lost0.len() as u64
    );
    let ready = out
        .scale_events
        .iter()
        .find(|e| e.instance == 2 && e.state == "ready")
        .unwrap()
        .time_s;
    for id in &lost0 {
        let r = recs.iter().find(|r| r.id == *id).unwrap();
        assert_eq!(r.outcome, Outcome::Completed);
        // TTFT from the original arrival: past the replacement's start.
        assert!(r.ttft_ms.unwrap() >= (ready - r.arrival_s) * 1e3, "{r:?}");
        assert_eq!(r.decode_instance, Some(2));
    }
}

#[test]
fn a_retry_budget_spent_ends_as_lost() {
    // The decode instance fails twice, 200 s apart, while requests wait for it: with one
    // retry the requests caught by both failures are lost the second time.
    let extra = "[failures]\nretries = 1\n\n[[failures.events]]\nat-s = 60\ninstance = 2\n\n\
                 [[failures.events]]\nat-s = 200\ninstance = 2\n";
    let sc = scenario(&text("disaggregated", "sglang", 400, 2.0, extra), &[]);
    let (out, recs) = run(&sc);
    check_accounting(&out, &recs).unwrap();
    let f = out.failures.as_ref().unwrap();
    assert_eq!(f.instance_failures, 2);
    let lost = out.metrics.requests.lost.unwrap();
    assert!(f.retries > 0 && lost > 0, "{f:?}, lost {lost}");
    // A request is retried at most once: each loss at 200 s of a retried one is a loss.
    assert!(lost <= f.retries, "{lost} lost, {} retries", f.retries);
}

#[test]
fn a_drain_notice_lets_in_flight_requests_finish() {
    // Prefill instance 0 fails at 60 s. Without notice its queued and computing prompts
    // are lost; with 30 s of notice it takes nothing new from 30 s and its prompts finish
    // before the failure, which then loses nothing; it is replaced once it has emptied.
    let run_with = |notice: &str| {
        let extra = format!("[failures]\n\n[[failures.events]]\nat-s = 60\ninstance = 0\n{notice}");
        let sc = scenario(&text("disaggregated", "vllm", 200, 2.0, &extra), &[]);
        run(&sc)
    };
    let (abrupt, recs0) = run_with("");
    check_accounting(&abrupt, &recs0).unwrap();
    assert!(abrupt.metrics.requests.lost.unwrap() > 0);
    let (noticed, recs) = run_with("notice-s = 30\n");
    check_accounting(&noticed, &recs).unwrap();
    assert_eq!(noticed.metrics.requests.lost, Some(0));
    let states: Vec<(&str, f64)> = noticed
        .scale_events
        .iter()
        .filter(|e| e.instance == 0)
        .map(|e| (e.state, e.time_s))
        .collect();
    // It empties before the failure: its pod is gone and the replacement starts then;
    // the failure, when it comes, takes nothing down.
    assert_eq!(states[0], ("draining", 30.0));
    assert_eq!(states[1].0, "stopped");
    assert!(states[1].1 < 60.0, "{states:?}");
    assert_eq!(states[2], ("starting", states[1].1));
    let ready = states
        .iter()
        .find(|s| s.0 == "ready")
        .expect("the replacement is ready")
        .1;
    assert!(states.contains(&("failed", 60.0)), "{states:?}");
    assert_eq!(states.len(), 5, "{states:?}");
    // Nothing routed to it after the notice.
    assert!(
        recs.iter()
            .all(|r| r.prefill_instance != Some(0) || r.arrival_s <= 30.0)
    );
    // The role is down from the notice to the replacement's readiness.
    let f = noticed.failures.as_ref().unwrap();
    assert!((f.roles[0].down_s - (ready - 30.0)).abs() < 1e-6, "{f:?}");
    assert_eq!(f.roles[0].failures, 1);
    // The section's drain-notice-s applies to the trace entry as well.
    let sc = scenario(
        &text(
            "disaggregated",
            "vllm",
            200,
            2.0,
            "[failures]\ndrain-notice-s = 30\n\n[[failures.events]]\nat-s = 60\ninstance = 0\n",
        ),
        &[],
    );
    let (by_section, recs2) = run(&sc);
    assert_eq!(by_section.trace_hash, noticed.trace_hash);
    assert_eq!(recs2, recs);
}

#[test]
fn a_node_failure_takes_down_every_instance_on_it() {
    // Four GPUs per node: the two TP-2 prefill instances share node 0.
    let extra = "[failures]\n\n[[failures.events]]\nat-s = 30\nnode = 0\n";
    let sc = scenario(&text("disaggregated", "vllm", 100, 2.0, extra), &[]);
    let (out, recs) = run(&sc);
    let f = out.failures.as_ref().unwrap();
    assert_eq!((f.instance_failures, f.node_failures), (2, 1));
    assert_eq!((f.roles[0].failures, f.roles[1].failures), (2, 0));
    let c = &out.metrics.requests;
    assert_eq!(
        c.arrived,
        c.completed + c.rejected + c.unfinished + c.lost.unwrap()
    );
    assert_eq!(recs.len() as u64, c.arrived);
}

#[test]
fn the_failure_count_follows_the_mtbf() {
    // 6 GPUs, each failing every 0.1 h on average: up to the last arrival (the processes
    // run at least until then) the count is Poisson with mean 6 x time / 360 s; 4
    // standard deviations of slack.
    let mtbf_s = 360.0;
    let (mut failures, mut seconds) = (0u64, 0.0);
    for seed in 0..30 {
        let sc = scenario(
            &text(
                "aggregated",
                "vllm",
                60,
                1.0,
                "[failures]\ngpu-mtbf-hours = 0.1\n",
            ),
            &[format!("seed={seed}")],
        );
        let (out, recs) = run(&sc);
        let last = recs.iter().map(|r| r.arrival_s).fold(0.0, f64::max);
        failures += out
            .scale_events
            .iter()
            .filter(|e| e.state == "failed" && e.time_s <= last)
            .count() as u64;
        seconds += last;
    }
    let mean = 6.0 * seconds / mtbf_s;
    let dev = (failures as f64 - mean).abs();
    assert!(
        dev < 4.0 * mean.sqrt(),
        "{failures} failures, expected {mean:.1}"
    );
}

#[test]
fn bad_failures_are_refused_with_field_and_range() {
    let cases = [
        (
            "[failures]\ngpu-mtbf-hours = 0\n",
            "failures.gpu-mtbf-hours",
            "[0.01, 1000000000] hours",
        ),
        (
            "[failures]\nnode-mtbf-hours = -1\n",
            "failures.node-mtbf-hours",
            "got -1.0",
        ),
        ("[failures]\n", "failures", "names no failure"),
        (
            "[failures]\n[[failures.events]]\nat-s = 1\ninstance = 3\n",
            "failures.events[0].instance",
            "[0, 2]",
        ),
        (
            "[failures]\n[[failures.events]]\nat-s = 1\ninstance = 0\nnode = 0\n",
            "failures.events[0]",
            "exactly one of instance and node",
        ),
        (
            "[failures]\n[[failures.events]]\nat-s = -5\nnode = 0\n",
            "failures.events[0].at-s",
            "got -5.0",
        ),
        ("[failures]\ngpu-mtbf = 3\n", "gpu-mtbf", "unknown field"),
    ];
    for (extra, field, what) in cases {
        let t = text("disaggregated", "sglang", 10, 1.0, extra);
        let e = Scenario::from_text(Path::new("bad.toml"), Path::new("."), &t, &[]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("bad.toml"), "{msg}");
        assert!(msg.contains(field), "{field}: {msg}");
        assert!(msg.contains(what), "{what}: {msg}");
    }
}

#[test]
fn failures_under_autoscaling_account_for_every_request() {
    // The shipped HPA scenario (2 to 8 replicas, a burst) with frequent failures: failed
    // replicas, replacements and scale events interleave.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/autoscale-burst.toml");
    for seed in [1u64, 2, 3] {
        let ov = xpyd_sim::scenario::Overrides {
            sets: vec![
                "failures.gpu-mtbf-hours=0.05".to_string(),
                "failures.node-mtbf-hours=0.5".to_string(),
                "workload.requests=3000".to_string(),
            ],
            seed: Some(seed),
            ..Default::default()
        };
        let sc = Scenario::load_with(Some(&file), &ov).unwrap();
        let (out, recs) = run(&sc);
        check_accounting(&out, &recs).unwrap();
        let f = out.failures.as_ref().unwrap();
        assert!(f.instance_failures > 0 && out.metrics.requests.lost.unwrap() > 0);
        let (again, recs2) = run(&sc);
        assert_eq!(out.trace_hash, again.trace_hash);
        assert_eq!(recs, recs2);
    }
}
