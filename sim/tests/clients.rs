//! Client semantics of the workload (issue 14 item 5): request timeouts (client aborts,
//! the `timed-out` outcome) in every serving flow, warm-up requests excluded from the
//! metrics, and length jitter of fixed lengths.

use proptest::prelude::*;
use std::path::Path;
use xpyd_sim::metrics::{Outcome, RequestRecord};
use xpyd_sim::{RunOutput, Scenario, System};

/// A small deployment of `backend` in `mode` with a tight KV cache, and `workload`.
fn scenario(backend: &str, mode: &str, extra: &str, workload: &str, sets: &[String]) -> Scenario {
    let roles = if mode == "aggregated" {
        "[deployment.aggregated]\nreplicas = 2\ntp = 1\nengine = { max-num-seqs = 16, gpu-memory-utilization = 0.3 }\n".to_string()
    } else {
        "[deployment.prefill]\nreplicas = 2\ntp = 1\nengine = { gpu-memory-utilization = 0.3 }\n[deployment.decode]\nreplicas = 1\ntp = 1\nengine = { max-num-seqs = 16, gpu-memory-utilization = 0.3 }\n".to_string()
    };
    let text = format!(
        r#"
seed = 3
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
gpus-per-node = 2
[deployment]
mode = "{mode}"
backend = "{backend}"
{roles}
{extra}
[workload]
{workload}
"#
    );
    let sets: Vec<String> = sets.to_vec();
    Scenario::from_text(Path::new("clients.toml"), Path::new("."), &text, &sets).unwrap()
}

fn run(sc: &Scenario) -> (RunOutput, Vec<RequestRecord>) {
    let mut recs = Vec::new();
    let out = xpyd_sim::run(sc, System::Main, &mut |r| recs.push(r.clone())).unwrap();
    (out, recs)
}

/// Every request ended once, the counts add up, timed-out requests have no latency, and
/// every instance's KV is back to zero.
fn check_ended_cleanly(out: &RunOutput, recs: &[RequestRecord], issued: u64, what: &str) {
    let mut ids: Vec<u64> = recs.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), recs.len(), "{what}: a request ended twice");
    assert_eq!(recs.len() as u64, issued, "{what}: every request ends");
    let m = &out.metrics.requests;
    let timed_out = m.timed_out.unwrap_or(0);
    assert_eq!(
        m.completed + m.rejected + m.unfinished + timed_out,
        m.arrived,
        "{what}"
    );
    assert_eq!(m.unfinished, 0, "{what}");
    for r in recs {
        if r.outcome == Outcome::TimedOut {
            assert!(
                r.ttft_ms.is_none() && r.tpot_ms.is_none() && r.e2e_ms.is_none(),
                "{what}: {r:?}"
            );
        }
    }
    for i in &out.instances {
        assert_eq!(
            i.kv_blocks_in_use_at_end, 0,
            "{what}: instance {} leaked KV blocks",
            i.instance
        );
    }
}

/// An overloaded system with a short timeout, per flow (aggregated, SGLang, vLLM, Dynamo),
/// with and without layer-wise transfer and prefix sharing: requests are aborted in every
/// phase (queued, prefilling, awaiting or holding a decode reservation, bootstrapping,
/// in connector setup or mid-transfer, decoding), nothing panics, and every instance's
/// KV is back to zero at the end.
#[test]
fn overloaded_timeouts_release_all_kv_in_every_flow() {
    let cases = [
        ("vllm", "aggregated"),
        ("sglang", "disaggregated"),
        ("vllm", "disaggregated"),
        ("dynamo", "disaggregated"),
    ];
    let prefix = "[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 3\ntokens = 1024\nblock-tokens = 256\n";
    for (backend, mode) in cases {
        for layerwise in [false, true] {
            for with_prefix in [false, true] {
                let extra = format!("[kv-transfer]\nlayerwise = {layerwise}\n");
                let workload = format!(
                    "requests = 400\ntimeout-s = 8\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 6\n\
                     [workload.input-tokens]\nkind = \"uniform\"\nmin = 200\nmax = 12000\n\
                     [workload.output-tokens]\nkind = \"uniform\"\nmin = 1\nmax = 600\n{}",
                    if with_prefix { prefix } else { "" }
                );
                let sc = scenario(backend, mode, &extra, &workload, &[]);
                let (out, recs) = run(&sc);
                let what = format!("{backend} {mode} layerwise={layerwise} prefix={with_prefix}");
                check_ended_cleanly(&out, &recs, 400, &what);
                let t = out.metrics.requests.timed_out.unwrap();
                let done = out.metrics.requests.completed;
                assert!(
                    t > 50 && done > 20,
                    "{what}: {t} timed out, {done} completed"
                );
                let frac = out.metrics.requests.timed_out_fraction.unwrap();
                assert_eq!(frac, t as f64 / 400.0, "{what}");
                // Timed-out requests are in no latency statistic.
                assert_eq!(out.metrics.ttft_ms.count, out.metrics.requests.completed);
                assert_eq!(out.metrics.e2e_ms.count, out.metrics.requests.completed);
                // The run ends when the last request ends, not at a stale timeout.
                let last_end = recs
                    .iter()
                    .map(|r| match r.outcome {
                        Outcome::TimedOut => r.arrival_s + 8.0,
                        _ => r.arrival_s + r.e2e_ms.unwrap_or(0.0) / 1e3,
                    })
                    .fold(0.0, f64::max);
                assert!(
                    out.end_s <= last_end + 1.0,
                    "{what}: {} vs {last_end}",
                    out.end_s
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x714e),
        ..ProptestConfig::default()
    })]
    /// Random deployments, loads and timeouts: the same invariants, closed loops included.
    #[test]
    fn timeouts_keep_every_invariant(
        backend in prop::sample::select(vec!["sglang", "vllm", "dynamo"]),
        mode in prop::sample::select(vec!["disaggregated", "aggregated"]),
        closed in any::<bool>(),
        rate in 5.0f64..150.0,
        timeout_s in 0.05f64..5.0,
        max_in in 1u32..16_000,
        max_out in 1u32..2_000,
        layerwise in any::<bool>(),
        seed in 0u64..1000,
        autoscale in any::<bool>(),
    ) {
        let arrival = if closed {
            format!("kind = \"closed-loop\"\nclients = {}\nthink-time-ms = 50", (rate as u32).max(1))
        } else {
            format!("kind = \"poisson\"\nrate-rps = {rate}")
        };
        let workload = format!(
            "requests = 150\nwarmup-requests = 10\ntimeout-s = {timeout_s}\n[workload.arrival]\n{arrival}\n\
             [workload.input-tokens]\nkind = \"uniform\"\nmin = 1\nmax = {max_in}\n\
             [workload.output-tokens]\nkind = \"uniform\"\nmin = 1\nmax = {max_out}\n"
        );
        // Autoscaling of the decode (or aggregated) role from one replica, quick cold
        // starts: requests wait unrouted or on draining replicas when they time out.
        let scale = if autoscale {
            "autoscale = { kind = \"hpa\", min-replicas = 1, max-replicas = 3, metric = \"queue-length\", target-value = 1 }\n\
             [cold-start]\nscheduling-s = 1\nimage-pull-s = 2\nwarmup-s = 1\n"
        } else {
            ""
        };
        let extra = format!("{scale}[kv-transfer]\nlayerwise = {layerwise}\n");
        let sc = scenario(backend, mode, &extra, &workload, &[format!("seed={seed}")]);
        let (out, recs) = run(&sc);
        check_ended_cleanly(&out, &recs, 160, &format!("{backend} {mode} closed={closed}"));
        prop_assert_eq!(out.metrics.requests.arrived, 150);
        prop_assert_eq!(out.metrics.requests.warmup, 10);
    }
}

/// One client, fixed lengths: the first request's completion instant, exactly.
fn single_client(sets: &[String]) -> (RunOutput, Vec<RequestRecord>) {
    let workload = "requests = 3\n[workload.arrival]\nkind = \"closed-loop\"\nclients = 1\n\
                    [workload.input-tokens]\nkind = \"fixed\"\ntokens = 3000\n\
                    [workload.output-tokens]\nkind = \"fixed\"\ntokens = 200\n";
    run(&scenario("vllm", "aggregated", "", workload, sets))
}

/// A request finishing exactly at its timeout instant completes (the timeout event pops
/// after every other event of its instant); one nanosecond less and it times out, and
/// its closed-loop client issues the next request at that instant.
#[test]
fn finishing_exactly_at_the_timeout_completes() {
    let (_, recs) = single_client(&[]);
    let first = recs.iter().find(|r| r.id == 0).unwrap();
    let e2e_s = first.e2e_ms.unwrap() / 1e3;
    let at = |t: f64| single_client(&[format!("workload.timeout-s={t:?}")]);

    let (out, recs) = at(e2e_s);
    let r0 = recs.iter().find(|r| r.id == 0).unwrap();
    assert_eq!(
        r0.outcome,
        Outcome::Completed,
        "finishing at the timeout completes"
    );
    assert_eq!(r0.e2e_ms, first.e2e_ms);
    assert_eq!(out.metrics.requests.timed_out, Some(0));

    let cut = e2e_s - 1e-9;
    let (out, recs) = at(cut);
    let r0 = recs.iter().find(|r| r.id == 0).unwrap();
    assert_eq!(r0.outcome, Outcome::TimedOut);
    assert_eq!(
        out.metrics.requests.timed_out,
        Some(3),
        "same lengths, same fate"
    );
    let r1 = recs.iter().find(|r| r.id == 1).unwrap();
    assert!(
        (r1.arrival_s - cut).abs() < 1e-9,
        "the client issues its next request at the abort: {} vs {cut}",
        r1.arrival_s
    );
    assert!(out.instances.iter().all(|i| i.kv_blocks_in_use_at_end == 0));
}

/// Without timeouts the run has no timeout events and reports no timed-out count.
#[test]
fn no_timeout_no_count() {
    let (out, _) = single_client(&[]);
    assert_eq!(out.metrics.requests.timed_out, None);
    assert_eq!(out.metrics.requests.timed_out_fraction, None);
}

/// Warm-up requests are the first issued, simulated normally, and in no metric: the
/// measured requests are `requests`, throughput is over the measured span.
#[test]
fn warmup_requests_are_simulated_not_measured() {
    for closed in [true, false] {
        let arrival = if closed {
            "kind = \"closed-loop\"\nclients = 4"
        } else {
            "kind = \"poisson\"\nrate-rps = 3"
        };
        let workload = |warm: &str| {
            format!(
                "requests = 40\n{warm}\n[workload.arrival]\n{arrival}\n\
                 [workload.input-tokens]\nkind = \"fixed\"\ntokens = 1000\n\
                 [workload.output-tokens]\nkind = \"fixed\"\ntokens = 50\n"
            )
        };
        let sc = scenario(
            "sglang",
            "disaggregated",
            "",
            &workload("warmup-requests = 8"),
            &[],
        );
        let (out, recs) = run(&sc);
        assert_eq!(recs.len(), 48, "N + requests issued");
        let warm: Vec<u64> = recs.iter().filter(|r| r.warmup).map(|r| r.id).collect();
        let mut sorted = warm.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..8).collect::<Vec<u64>>(), "the first 8 issued");
        let m = &out.metrics;
        assert_eq!((m.requests.arrived, m.requests.completed), (40, 40));
        assert_eq!(m.requests.warmup, 8);
        assert_eq!(m.ttft_ms.count, 40);
        assert_eq!(m.e2e_ms.count, 40);
        // Throughput over the measured span: first measured arrival to last completion.
        let measured = recs.iter().filter(|r| !r.warmup);
        let start = measured
            .clone()
            .map(|r| r.arrival_s)
            .fold(f64::INFINITY, f64::min);
        let end = measured
            .map(|r| r.arrival_s + r.e2e_ms.unwrap() / 1e3)
            .fold(0.0, f64::max);
        assert!(
            (m.makespan_s - end).abs() < 1e-6,
            "{} vs {end}",
            m.makespan_s
        );
        let want = 40.0 / (m.makespan_s - start);
        assert!((m.throughput.requests_per_s - want).abs() < 1e-9 * want);
        // Measured ITL samples: 49 gaps per measured request, none of the warm-up's.
        assert_eq!(m.itl_ms.count, 40 * 49);
        // Without warm-up the same requests are measured from time 0.
        let sc0 = scenario("sglang", "disaggregated", "", &workload(""), &[]);
        let (out0, recs0) = run(&sc0);
        assert_eq!(recs0.len(), 40);
        assert_eq!(out0.metrics.requests.warmup, 0);
        assert_eq!(out0.metrics.itl_ms.count, 40 * 49);
    }
}

/// Length jitter: same seed, same lengths; within `tokens x (1 ± jitter)`; the arrival
/// and output-length streams do not move when only input lengths are jittered.
#[test]
fn jitter_draws_from_the_length_stream_only() {
    let workload = |jitter: &str| {
        format!(
            "requests = 300\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 5\n\
             [workload.input-tokens]\nkind = \"fixed\"\ntokens = 2000\n{jitter}\n\
             [workload.output-tokens]\nkind = \"uniform\"\nmin = 10\nmax = 300\n"
        )
    };
    let by_id = |mut v: Vec<RequestRecord>| {
        v.sort_by_key(|r| r.id);
        v
    };
    let plain = by_id(run(&scenario("vllm", "aggregated", "", &workload(""), &[])).1);
    let sc = scenario("vllm", "aggregated", "", &workload("jitter = 0.01"), &[]);
    let (out_a, a) = run(&sc);
    let (out_b, b) = run(&sc);
    let (a, b) = (by_id(a), by_id(b));
    assert_eq!(a, b, "same seed, same records");
    assert_eq!(out_a.trace_hash, out_b.trace_hash);
    assert!(a.iter().all(|r| (1980..=2020).contains(&r.input_tokens)));
    assert!(a.iter().any(|r| r.input_tokens != 2000), "jittered");
    for (x, y) in a.iter().zip(&plain) {
        assert_eq!(x.arrival_s, y.arrival_s, "arrivals do not move");
        assert_eq!(
            x.output_tokens, y.output_tokens,
            "output lengths do not move"
        );
    }
    // jitter = 0 is the plain fixed length, draws included.
    let zero = by_id(
        run(&scenario(
            "vllm",
            "aggregated",
            "",
            &workload("jitter = 0.0"),
            &[],
        ))
        .1,
    );
    assert_eq!(zero, plain);
}

/// Bad values name the file, the field, the value and the range.
#[test]
fn bad_client_fields_are_refused() {
    let text = |w: &str| {
        format!(
            "[model]\nid = \"qwen3-8b\"\n[hardware]\ngpu = \"h100\"\n[deployment]\nmode = \"aggregated\"\n\
             [deployment.aggregated]\nreplicas = 1\ntp = 1\n[workload]\nrequests = 5\n{w}\n\
             [workload.arrival]\nkind = \"poisson\"\nrate-rps = 1\n\
             [workload.input-tokens]\nkind = \"fixed\"\ntokens = 10\n\
             [workload.output-tokens]\nkind = \"fixed\"\ntokens = 10\n"
        )
    };
    let err = |w: &str| {
        Scenario::from_text(Path::new("bad.toml"), Path::new("."), &text(w), &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    for t in ["0", "-1.0", "86400.5", "inf", "nan"] {
        let e = err(&format!("timeout-s = {t}"));
        assert!(e.starts_with("bad.toml: workload.timeout-s: "), "{t}: {e}");
        assert!(e.contains("(0, 86400]"), "{e}");
    }
    assert_eq!(err("timeout-s = 86400"), "");
    assert_eq!(err("warmup-requests = 0"), "");
    let e = err("warmup-requests = -1");
    assert!(e.contains("workload.warmup-requests"), "{e}");
    let j = text("").replace(
        "tokens = 10\n[workload.output",
        "tokens = 10\njitter = 0.75\n[workload.output",
    );
    assert_ne!(j, text(""));
    let e = Scenario::from_text(Path::new("bad.toml"), Path::new("."), &j, &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with("bad.toml: workload.input-tokens.jitter: 0.75 must be"),
        "{e}"
    );
}
