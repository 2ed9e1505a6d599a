//! Spot capacity (`[spot]`, `spot-replicas`) in the engine: a reclaim announced long
//! enough ahead drains its replica gracefully (nothing lost), one without notice loses
//! what is in flight; spot GPU-seconds are split out; random failure and spot settings
//! account for every request (`arrived = completed + rejected + unfinished + timed_out +
//! lost`) and are deterministic per seed; reclaims do not move arrivals; bad values are
//! refused with the field and range.

use proptest::prelude::*;

mod common;
use common::availability::{check_accounting, run};
use std::path::Path;
use xpyd_sim::RunOutput;
use xpyd_sim::metrics::{Outcome, RequestRecord};
use xpyd_sim::scenario::Scenario;

/// A 2P2D (or 4-replica aggregated) Qwen3-32B deployment on L20s; `spot` is the
/// `spot-replicas` of every role.
fn text(mode: &str, backend: &str, requests: u32, spot: u32, extra: &str) -> String {
    let deployment = if mode == "aggregated" {
        format!(
            "[deployment.aggregated]\nreplicas = 4\ntp = 2\nrouter = \"round-robin\"\nspot-replicas = {spot}\n"
        )
    } else {
        format!(
            "[deployment.prefill]\nreplicas = 2\ntp = 2\nrouter = \"round-robin\"\nspot-replicas = {spot}\n\n\
             [deployment.decode]\nreplicas = 2\ntp = 2\nrouter = \"round-robin\"\nspot-replicas = {spot}\n"
        )
    };
    format!(
        "name = \"spot\"\nseed = 1\n\n[model]\nid = \"qwen3-32b\"\nweights = \"bf16\"\nkv-cache = \"bf16\"\n\n\
         [hardware]\ngpu = \"l20\"\ngpus-per-node = 4\ngpu-hour-usd = 2.0\n\n\
         [deployment]\nmode = \"{mode}\"\nbackend = \"{backend}\"\n\n{deployment}\n\
         [workload]\nrequests = {requests}\n\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 2.0\n\n\
         [workload.lengths]\nkind = \"empirical-joint\"\npath = \"builtin:sharegpt\"\n\n\
         [baseline]\nenabled = false\n\n{extra}"
    )
}

fn scenario(text: &str, sets: &[String]) -> Scenario {
    Scenario::from_text(Path::new("spot.toml"), Path::new("."), text, sets).unwrap()
}

const FLOWS: [(&str, &str); 4] = [
    ("aggregated", "vllm"),
    ("disaggregated", "sglang"),
    ("disaggregated", "vllm"),
    ("disaggregated", "dynamo"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random failures, reclaims, notices, retries and timeouts: every arrived request
    /// ends exactly once, and a rerun of the seed is identical.
    #[test]
    fn every_request_is_accounted_for_under_failures_and_spot(
        flow in 0usize..4,
        seed in 0u64..1000,
        spot in 1u32..3,
        rate in 0.5f64..30.0,
        notice in 0.0f64..200.0,
        gpu_mtbf in prop::option::of(0.05f64..2.0),
        retries in 0u32..3,
        drain in prop::option::of(0.0f64..60.0),
        reclaim in prop::option::of(0.0f64..150.0),
        timeout in prop::option::of(20.0f64..200.0),
    ) {
        let (mode, backend) = FLOWS[flow];
        let mut extra = String::new();
        if gpu_mtbf.is_some() || retries > 0 {
            extra += &format!("[failures]\nretries = {retries}\n");
            if let Some(m) = gpu_mtbf {
                extra += &format!("gpu-mtbf-hours = {m}\n");
            }
            if let Some(d) = drain {
                extra += &format!("drain-notice-s = {d}\n");
            }
            extra += "\n";
        }
        extra += &format!(
            "[spot]\npreemption-rate-per-hour = {rate}\nnotice-s = {notice}\ngpu-hour-usd = 0.7\n"
        );
        if let Some(at) = reclaim {
            // Instance 3 is spot in every flow (the last prefill or aggregated slot, or
            // the first decode one with two spot replicas).
            let i = if mode == "aggregated" || spot == 2 { 3 } else { 1 };
            extra += &format!("\n[[spot.events]]\nat-s = {at}\ninstance = {i}\n");
        }
        let mut sets = vec![format!("seed={seed}")];
        if let Some(t) = timeout {
            sets.push(format!("workload.timeout-s={t}"));
        }
        let sc = scenario(&text(mode, backend, 80, spot, &extra), &sets);
        let (out, recs) = run(&sc);
        check_accounting(&out, &recs)?;
        let (again, recs2) = run(&sc);
        prop_assert_eq!(out.trace_hash, again.trace_hash);
        prop_assert_eq!(&out.scale_events, &again.scale_events);
        prop_assert_eq!(recs, recs2);
    }
}

/// Instance 1 (the second prefill replica, spot) is reclaimed at 60 s.
fn reclaim_at_60(notice: f64) -> (RunOutput, Vec<RequestRecord>) {
    let extra =
        format!("[spot]\nnotice-s = {notice}\n\n[[spot.events]]\nat-s = 60\ninstance = 1\n");
    run(&scenario(
        &text("disaggregated", "vllm", 200, 1, &extra),
        &[],
    ))
}

#[test]
fn a_reclaim_with_enough_notice_drains_gracefully() {
    let (out, recs) = reclaim_at_60(120.0);
    check_accounting(&out, &recs).unwrap();
    assert_eq!(out.metrics.requests.lost, Some(0));
    let f = out.failures.as_ref().unwrap();
    assert_eq!((f.preemptions, f.instance_failures), (1, 0));
    assert_eq!((f.roles[0].preemptions, f.roles[1].preemptions), (1, 0));
    let states: Vec<(&str, f64)> = out
        .scale_events
        .iter()
        .filter(|e| e.instance == 1)
        .map(|e| (e.state, e.time_s))
        .collect();
    // The notice comes at 0 (60 s - 120 s, clamped): it drains from the start, empty,
    // so its replacement starts at once and the reclaim takes nothing down.
    assert_eq!(
        &states[..3],
        &[("draining", 0.0), ("stopped", 0.0), ("starting", 0.0)]
    );
    // The replacement takes the default cold start (~100 s): ready after the reclaim.
    assert_eq!(states[3], ("preempted", 60.0));
    assert_eq!(states[4].0, "ready");
    assert_eq!(states.len(), 5, "{states:?}");
    // Availability counts the prefill role down from the notice to the replacement.
    assert!((f.roles[0].down_s - states[4].1).abs() < 1e-6, "{f:?}");
    // Served by the replacement only once it was ready.
    assert!(
        recs.iter()
            .filter(|r| r.prefill_instance == Some(1))
            .all(|r| r.arrival_s + r.ttft_ms.unwrap_or(f64::INFINITY) / 1e3 >= states[4].1)
    );
}

#[test]
fn a_reclaim_without_notice_loses_what_is_in_flight() {
    let (out, recs) = reclaim_at_60(0.0);
    check_accounting(&out, &recs).unwrap();
    let lost: Vec<&RequestRecord> = recs.iter().filter(|r| r.outcome == Outcome::Lost).collect();
    assert!(!lost.is_empty());
    assert!(lost.iter().all(|r| r.prefill_instance == Some(1)));
    let (short, _) = reclaim_at_60(1.0);
    // One second of notice: fewer losses (nothing new routed there in that second).
    assert!(short.metrics.requests.lost.unwrap() <= lost.len() as u64);
}

#[test]
fn spot_gpu_seconds_are_split_out_and_reclaims_do_not_move_arrivals() {
    let plain = scenario(&text("disaggregated", "sglang", 150, 0, ""), &[]);
    let (p, mut a) = run(&plain);
    assert!(p.spot_gpu_seconds_by_role.is_empty() && p.failures.is_none());
    // Decode's second replica (instance 3) and prefill's (instance 1) are spot, with
    // frequent reclaims.
    let sc = scenario(
        &text(
            "disaggregated",
            "sglang",
            150,
            1,
            "[spot]\npreemption-rate-per-hour = 20\nnotice-s = 30\n",
        ),
        &[],
    );
    let (out, mut b) = run(&sc);
    assert!(out.failures.as_ref().unwrap().preemptions > 0);
    assert_eq!(out.spot_gpu_seconds_by_role.len(), 2);
    for (s, all) in out
        .spot_gpu_seconds_by_role
        .iter()
        .zip(&out.gpu_seconds_by_role)
    {
        // One of two replicas per role is spot: at most its share, more than none.
        assert!(*s > 0.0 && *s < *all, "{s} of {all}");
    }
    a.sort_by_key(|r| r.id);
    b.sort_by_key(|r| r.id);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.arrival_s, x.input_tokens), (y.arrival_s, y.input_tokens));
    }
}

#[test]
fn the_reclaim_count_follows_the_rate() {
    // Two spot replicas reclaimed 30 times an hour each, over many seeds: up to the last
    // arrival the count is Poisson with mean 2 x 30 x hours; 4 standard deviations.
    let (mut reclaims, mut seconds) = (0u64, 0.0);
    for seed in 0..20 {
        let sc = scenario(
            &text(
                "aggregated",
                "vllm",
                60,
                2,
                "[spot]\npreemption-rate-per-hour = 30\nnotice-s = 0\n",
            ),
            &[format!("seed={seed}")],
        );
        let (out, recs) = run(&sc);
        let last = recs.iter().map(|r| r.arrival_s).fold(0.0, f64::max);
        reclaims += out
            .scale_events
            .iter()
            .filter(|e| e.state == "preempted" && e.time_s <= last)
            .count() as u64;
        seconds += last;
    }
    let mean = 2.0 * 30.0 * seconds / 3600.0;
    let dev = (reclaims as f64 - mean).abs();
    assert!(
        dev < 4.0 * mean.sqrt(),
        "{reclaims} reclaims, expected {mean:.1}"
    );
}

#[test]
fn bad_spot_settings_are_refused_with_field_and_range() {
    let cases = [
        (
            1,
            "",
            "deployment.prefill.spot-replicas",
            "need a [spot] section",
        ),
        (
            3,
            "[spot]\n",
            "deployment.prefill.spot-replicas",
            "[0, 2], got 3",
        ),
        (0, "[spot]\n", "spot", "no role has spot replicas"),
        (
            1,
            "[spot]\npreemption-rate-per-hour = -1\n",
            "spot.preemption-rate-per-hour",
            "got -1.0",
        ),
        (
            1,
            "[spot]\nnotice-s = 1e9\n",
            "spot.notice-s",
            "[0, 86400] seconds",
        ),
        (
            1,
            "[spot]\n[[spot.events]]\nat-s = 5\ninstance = 0\n",
            "spot.events[0].instance",
            "must be a spot instance (one of 1, 3), got 0",
        ),
        (1, "[spot]\nrate = 3\n", "rate", "unknown field"),
    ];
    for (spot, extra, field, what) in cases {
        let t = text("disaggregated", "sglang", 10, spot, extra);
        let e = Scenario::from_text(Path::new("bad.toml"), Path::new("."), &t, &[]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("bad.toml"), "{msg}");
        assert!(msg.contains(field), "{field}: {msg}");
        assert!(msg.contains(what), "{what}: {msg}");
    }
}

#[test]
fn spot_reclaims_under_autoscaling_account_for_every_request() {
    // The shipped HPA scenario (2 to 8 replicas, a burst) with its 6 burst slots on spot,
    // reclaimed often, 60 s notice, and GPU failures with retries: reclaims, drains,
    // replacements and scale events interleave.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/autoscale-burst.toml");
    let text = std::fs::read_to_string(&file).unwrap()
        + "\n[spot]\npreemption-rate-per-hour = 20\nnotice-s = 60\n\n\
           [failures]\ngpu-mtbf-hours = 0.2\nretries = 1\n";
    for seed in [1u64, 2] {
        let sets = vec![
            "deployment.aggregated.spot-replicas=6".to_string(),
            "workload.requests=3000".to_string(),
            format!("seed={seed}"),
        ];
        let sc = Scenario::from_text(&file, file.parent().unwrap(), &text, &sets).unwrap();
        let (out, recs) = run(&sc);
        check_accounting(&out, &recs).unwrap();
        let f = out.failures.as_ref().unwrap();
        assert!(f.preemptions > 0, "{f:?}");
        assert!(out.spot_gpu_seconds_by_role[0] > 0.0);
        // Only the spot slots (2..8) are reclaimed.
        assert!(
            out.scale_events
                .iter()
                .filter(|e| e.state == "preempted")
                .all(|e| e.instance >= 2)
        );
        let (again, recs2) = run(&sc);
        assert_eq!(out.trace_hash, again.trace_hash);
        assert_eq!(recs, recs2);
    }
}
