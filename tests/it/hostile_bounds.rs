//! Regression tests of issue 18 (hostile input: bounded values and resources),
//! <https://github.com/xpyd/xpyd/issues/18>: every reproducer exits 2 with a message
//! naming the file (or flag), the full field path, the value and the accepted range, or
//! runs correctly where the input is legitimate. The ranges are those of
//! `xpyd_sim::limits`.

use crate::common::{SMALL, SMALL_PLAN, json, stderr, tmpdir, write, xpyd};
use std::process::Output;

/// Exit 2 with every `needle` in stderr, and no panic.
fn refused(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "want `{n}` in: {e}");
    }
}

/// `xpyd run` of the small scenario (written to a fresh folder) with `sets`.
fn run_small(name: &str, text: &str, extra: &[&str]) -> Output {
    run_small_out(name, text, extra).0
}

/// [`run_small`], with the run's output folder.
fn run_small_out(name: &str, text: &str, extra: &[&str]) -> (Output, std::path::PathBuf) {
    let d = tmpdir(name);
    let sc = write(&d, "s.toml", text);
    let out = d.join("out");
    let mut args = vec![
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--no-baseline",
    ];
    args.extend_from_slice(extra);
    (xpyd(&args), out)
}

#[test]
fn r18_a_huge_normal_mean_is_refused_not_a_panic() {
    let o = xpyd(&[
        "run",
        "scenarios/aic-qwen3-32b-fp8-h200.toml",
        "--requests",
        "5",
        "--set",
        r#"workload.input-tokens={kind="normal",mean=1e10,std=1}"#,
    ]);
    refused(
        &o,
        &[
            "scenarios/aic-qwen3-32b-fp8-h200.toml: workload.input-tokens.mean:",
            "10000000000",
            "[-16777216, 16777216]",
        ],
    );
}

#[test]
fn r18_efficiencies_and_profile_times_are_bounded() {
    let o = xpyd(&["run", "--roofline", "--set", "efficiency.gemm-flops=5e-324"]);
    refused(&o, &["efficiency.gemm-flops", "5e-324", "[0.001, 1]"]);
    let o = xpyd(&["run", "--set", "kv-transfer.efficiency=1e-300"]);
    refused(&o, &["kv-transfer.efficiency", "1e-300", "[0.001, 1]"]);

    // A profile with launch_gap_s = 1e308 (it gave NaN step costs).
    let d = tmpdir("r18-profile");
    let mut p = json(std::path::Path::new("models/profiles/h100.json"));
    p["launch_gap_s"] = serde_json::json!(1e308);
    let file = write(&d, "p.json", &p.to_string());
    let o = xpyd(&[
        "run",
        "scenarios/aggregated-vllm-h100.toml",
        "--profile",
        file.to_str().unwrap(),
        "--requests",
        "5",
    ]);
    refused(
        &o,
        &["p.json: launch_gap_s: 1e308", "[1e-12, 1000.0] seconds"],
    );
}

#[test]
fn r18_prefix_clients_and_replicas_are_limited() {
    let o = xpyd(&[
        "run",
        "--set",
        r#"workload.prefix={kind="shared-prompt",prompts=1,tokens=4000000000,block-tokens=1}"#,
    ]);
    refused(
        &o,
        &["workload.prefix.tokens", "4000000000", "[1, 16777216]"],
    );
    // Within the token limit, but too many blocks per request.
    let o = xpyd(&[
        "run",
        "--set",
        r#"workload.prefix={kind="shared-prompt",prompts=1,tokens=16000000,block-tokens=1}"#,
    ]);
    refused(&o, &["workload.prefix.tokens", "1048576"]);

    let closed = SMALL.replace(
        "kind = \"poisson\"\nrate-rps = 4.0",
        "kind = \"closed-loop\"\nclients = 4",
    );
    let o = run_small(
        "r18-clients",
        &closed,
        &["--set", "workload.arrival.clients=4294967295"],
    );
    refused(
        &o,
        &[
            "s.toml: workload.arrival.clients:",
            "4294967295",
            "[1, 1000000]",
        ],
    );

    let o = xpyd(&["run", "--set", "deployment.decode.replicas=1000000"]);
    refused(&o, &["deployment.decode.replicas", "1000000", "[1, 16384]"]);
    // Two roles within the limit each, over it together (instance ids are 16-bit).
    let o = xpyd(&[
        "run",
        "--set",
        "deployment.decode.replicas=9000",
        "--set",
        "deployment.prefill.replicas=9000",
    ]);
    refused(&o, &["18000 instances", "limit of 16384"]);
    // The baseline's instances are limited too.
    let o = xpyd(&[
        "run",
        "--set",
        "deployment.decode.replicas=9000",
        "--set",
        "baseline.tp=1",
    ]);
    refused(&o, &["baseline.replicas", "16384"]);
}

#[test]
fn r18_a_run_stops_at_its_memory_budget() {
    // 1 MiB holds 512 requests: 4,000 arrivals at 1,000 req/s overload one 1P1D pair, so
    // the requests in flight outgrow it and the run stops with what to change.
    let over = SMALL
        .replace("rate-rps = 4.0", "rate-rps = 1000.0")
        .replace("requests = 150", "requests = 4000");
    let (o, out) = run_small_out(
        "r18-budget",
        &over,
        &["--set", "simulation.memory-budget-gib=0.001"],
    );
    refused(
        &o,
        &[
            "s.toml: at ",
            "over the memory budget of 0.001 GiB (simulation.memory-budget-gib, in [0.001, 1000000] GiB)",
            "arrivals outpace what the deployment serves",
        ],
    );
    // No output folder is left behind by the refused run.
    assert!(!out.exists(), "{}", out.display());
    // A sweep probes overload on purpose: a point past the budget is an overloaded
    // point (SLOs missed), not a failed sweep.
    let d = tmpdir("r18-budget-sweep");
    let sc = write(&d, "s.toml", &over);
    let out = d.join("out");
    let o = xpyd(&[
        "sweep",
        sc.to_str().unwrap(),
        "--rates",
        "2,1000",
        "--set",
        "simulation.memory-budget-gib=0.001",
        "--out",
        out.to_str().unwrap(),
        "--no-report",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].contains(",true,"), "{csv}");
    assert!(
        rows[1].starts_with("1000.") && rows[1].contains(",false,"),
        "{csv}"
    );
    // Its printed row has no latencies to show (nothing completed).
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("1000.000"))
        .unwrap();
    assert!(line.contains(" - ") && line.ends_with("missed"), "{line}");
    // The same run within the default budget completes.
    let o = run_small("r18-budget-ok", &over, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A closed loop's requests are known up front: refused before simulating.
    let closed = SMALL.replace(
        "kind = \"poisson\"\nrate-rps = 4.0",
        "kind = \"closed-loop\"\nclients = 1000",
    );
    let o = run_small(
        "r18-budget-closed",
        &closed,
        &["--set", "simulation.memory-budget-gib=0.001"],
    );
    refused(
        &o,
        &[
            "s.toml: workload.arrival.clients:",
            "1000 clients hold 1000 requests, about 2.0 MiB",
            "simulation.memory-budget-gib = 0.001 GiB",
        ],
    );
    // The budget itself is range-checked.
    let o = run_small(
        "r18-budget-range",
        SMALL,
        &["--set", "simulation.memory-budget-gib=0"],
    );
    refused(
        &o,
        &[
            "s.toml: simulation.memory-budget-gib",
            "0",
            "[0.001, 1000000]",
        ],
    );
}

#[test]
fn r18_durations_never_round_to_zero_and_generators_stop_at_max_duration() {
    let hpa = SMALL.replace(
        "[deployment.decode]\nreplicas = 1\ntp = 1",
        "[deployment.decode]\nreplicas = 1\ntp = 1\n[deployment.decode.autoscale]\nkind = \"hpa\"\nmax-replicas = 2\nmetric = \"inflight\"\ntarget-value = 4\nsync-period-s = 4e-10",
    );
    let o = run_small("r18-sync", &hpa, &[]);
    refused(
        &o,
        &[
            "s.toml: deployment.decode.autoscale.sync-period-s:",
            "[0.001, 10000000] seconds",
            "4e-10",
        ],
    );
    let o = xpyd(&["run", "--set", "simulation.max-duration-s=1e300"]);
    refused(
        &o,
        &["simulation.max-duration-s", "1e300", "[0.001, 10000000]"],
    );

    // A schedule at rate 0 until a far repeat: the generator stops at max-duration-s
    // (it searched ~1e10 candidates before), and the requests that never arrived are
    // counted.
    let sched = SMALL.replace(
        "kind = \"poisson\"\nrate-rps = 4.0",
        "kind = \"schedule\"\ninterpolation = \"step\"\nrepeat-s = 1e7\npoints = [{ at-s = 0, rate-rps = 1000 }, { at-s = 0.01, rate-rps = 0 }]",
    ) + "\n[simulation]\nmax-duration-s = 30\n";
    let (o, out) = run_small_out("r18-sched", &sched, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&out.join("summary.json"));
    let r = &s["requests"];
    let arrived = r["arrived"].as_u64().unwrap();
    let not_arrived = r["not_arrived"].as_u64().unwrap();
    assert!(not_arrived > 0, "{r}");
    assert_eq!(arrived + not_arrived, 150, "{r}");
}

#[test]
fn r18_requests_after_max_duration_are_counted() {
    let text = format!("{SMALL}\n[simulation]\nmax-duration-s = 10\n");
    let (o, out) = run_small_out("r18-cut", &text, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not arrived by simulation.max-duration-s"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let s = json(&out.join("summary.json"));
    let r = &s["requests"];
    let arrived = r["arrived"].as_u64().unwrap();
    let not_arrived = r["not_arrived"].as_u64().unwrap();
    assert!(arrived > 0 && not_arrived > 0, "{r}");
    assert_eq!(arrived + not_arrived, 150, "{r}");

    // Nothing completes in 10 ms: empty latency rows print "-", never 0 ms.
    let text = format!("{SMALL}\n[simulation]\nmax-duration-s = 0.01\n");
    let o = run_small("r18-empty", &text, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for label in ["TTFT ms", "TPOT ms", "ITL ms", "E2E ms"] {
        let line = stdout.lines().find(|l| l.starts_with(label)).unwrap();
        assert!(line.trim_end().ends_with(" -"), "{line}");
    }
}

#[test]
fn r18_an_outlier_trace_timestamp_is_refused_when_rescaling() {
    let d = tmpdir("r18-trace");
    let mut lines: Vec<String> = (0..29)
        .map(|i| {
            format!(
                r#"{{"timestamp": {}, "input_length": 100, "output_length": 10, "hash_ids": []}}"#,
                i * 100
            )
        })
        .collect();
    lines.push(
        r#"{"timestamp": 1e12, "input_length": 100, "output_length": 10, "hash_ids": []}"#.into(),
    );
    write(&d, "t.jsonl", &(lines.join("\n") + "\n"));
    let text = SMALL.split("[workload]").next().unwrap().to_string()
        + "[workload]\n[workload.trace]\nformat = \"mooncake\"\npath = \"t.jsonl\"\nrate-rps = 1.0\n";
    let o = run_small_in(&d, &text);
    refused(
        &o,
        &[
            "s.toml: workload.trace.rate-rps:",
            "one gap of",
            "workload.trace.start-s",
        ],
    );
}

/// `xpyd run` of `text` written to `d/s.toml`.
fn run_small_in(d: &std::path::Path, text: &str) -> Output {
    let sc = write(d, "s.toml", text);
    let out = d.join("out");
    xpyd(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--no-baseline",
    ])
}

#[test]
fn r18_sweep_rates_are_bounded() {
    let o = xpyd(&["sweep", "--rates", "1:2:1e-300"]);
    refused(&o, &["--rates 1:2:1e-300", "at most 1000"]);
    let o = xpyd(&["sweep", "--rates", "1e-300"]);
    refused(&o, &["--rates 1e-300", "[0.000001, 1000000] requests/s"]);
}

#[test]
fn r18_errors_name_the_field_not_the_table() {
    let o = xpyd(&["run", "--set", r#"workload.arrival.rate-rps="x""#]);
    refused(
        &o,
        &["<built-in seed-sglang-2p1d>: workload.arrival.rate-rps: invalid type"],
    );
    let o = xpyd(&[
        "run",
        "--set",
        r#"workload.arrival={kind="schedule",points=[{at-s=0,rate-rps="a"}]}"#,
    ]);
    refused(&o, &["workload.arrival.points[0].rate-rps: invalid type"]);
    let o = xpyd(&["run", "--set", "workload.arrival.bogus=1"]);
    refused(&o, &["workload.arrival.bogus: unknown field"]);
    // A memory setting is blamed, not the TP.
    let o = xpyd(&[
        "run",
        "--set",
        "deployment.decode.engine.gpu-memory-utilization=0.01",
    ]);
    refused(&o, &["deployment.decode.engine.gpu-memory-utilization:"]);
    let o = xpyd(&[
        "run",
        "--set",
        "deployment.decode.engine.activation-reserve-gib=100",
    ]);
    refused(&o, &["deployment.decode.engine.activation-reserve-gib:"]);
    // A malformed --set names the file.
    let o = xpyd(&["run", "--set", "novalue"]);
    refused(&o, &["<built-in seed-sglang-2p1d>: --set novalue"]);
}

#[test]
fn r18_negative_flags_name_the_flag_and_range() {
    for (args, needles) in [
        (
            vec!["run", "--requests", "-5"],
            vec!["'--requests <N>'", "-5", "[1, 100000000]"],
        ),
        (
            vec!["run", "--rate", "-1"],
            vec!["'--rate <RPS>'", "[0.000001, 1000000]"],
        ),
        (
            vec!["run", "--seed", "-1"],
            vec!["'--seed <SEED>'", "[0, 9223372036854775807]"],
        ),
        (
            vec!["run", "--input-tokens", "-3"],
            vec!["'--input-tokens <N>'", "[1, 16777216]"],
        ),
        (
            vec!["plan", "--gpus-max", "-1"],
            vec!["'--gpus-max <N>'", "[1, 65536]"],
        ),
        (
            vec!["sweep", "--rates", "1", "--jobs", "-2"],
            vec!["'--jobs <N>'", "[0, 4096]"],
        ),
    ] {
        refused(&xpyd(&args), &needles);
    }
}

#[test]
fn r18_plan_refuses_searches_over_its_budget_up_front() {
    let o = xpyd(&["plan", "--gpus-max", "100000"]);
    refused(&o, &["'--gpus-max <N>'", "100000", "[1, 65536]"]);
    let o = xpyd(&["plan", "--gpus-max", "60000"]);
    refused(
        &o,
        &[
            "--gpus-max: the search would need",
            "memory budget of 8 GiB",
        ],
    );
    let o = xpyd(&["plan", "--target-rate", "1e308"]);
    refused(&o, &["'--target-rate <RPS>'", "[0.000001, 1000000]"]);
    let o = xpyd(&["plan", "--target-rate", "1e6"]);
    refused(
        &o,
        &[
            "--target-rate: the search would need",
            "--memory-budget-gib",
        ],
    );
    // The budget can be lowered (or raised) by the flag.
    let mut args = vec!["plan", "--memory-budget-gib", "0.001"];
    args.extend_from_slice(&SMALL_PLAN);
    refused(&xpyd(&args), &["memory budget of 0.001 GiB"]);
    let o = xpyd(&["plan", "--memory-budget-gib", "0.000001"]);
    refused(
        &o,
        &["--memory-budget-gib: must be in [0.001, 1000000] GiB, got 0.000001"],
    );
}

#[test]
fn r18_shard_counts_are_checked_before_allocating() {
    let o = xpyd(&["plan", "--shard", "0/4294967295"]);
    refused(&o, &["shard count must be in [1, 100000], got 4294967295"]);
    let d = tmpdir("r18-shard");
    let f = write(
        &d,
        "shard-0-of-4294967295.json",
        r#"{"format": "xpyd-plan-shard", "version": 1, "xpyd": "0", "fingerprint": "0", "shard": 0, "shards": 4294967295, "candidates": 0, "evaluations": []}"#,
    );
    let o = xpyd(&["plan", "--merge", f.to_str().unwrap()]);
    refused(
        &o,
        &["0/4294967295 is out of range (at most 100000 shards)"],
    );
}
