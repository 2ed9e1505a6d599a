//! `xpyd plan` end to end: the same files at 1 and 2 threads, and the recommendation
//! replayed by `xpyd run` at the target rate meets the SLOs.

use crate::common::{SMALL_PLAN, json, stderr, stdout, tmpdir, xpyd};

/// A small search on the default scenario (Qwen3-32B on L20, 0.5 req/s chat).
fn plan(out: &str, jobs: &str) -> std::process::Output {
    let mut args = vec!["plan", "--out", out, "--jobs", jobs];
    args.extend_from_slice(&SMALL_PLAN);
    xpyd(&args)
}

#[test]
fn plan_is_deterministic_and_its_recommendation_replays() {
    let d = tmpdir("plan");
    let (a, b) = (d.join("a"), d.join("b"));
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    let oa = plan(a_s, "1");
    assert!(oa.status.success(), "{}", stderr(&oa));
    let ob = plan(b_s, "2");
    assert!(ob.status.success(), "{}", stderr(&ob));
    assert!(stdout(&oa).contains("recommendation for 0.5 req/s"));
    for f in [
        "plan.csv",
        "pareto.csv",
        "recommended.toml",
        "manifests/rolebasedgroup.yaml",
    ] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between --jobs 1 and --jobs 2");
    }
    // The JSON names its own folder's scenario; everything else must match.
    let (mut ja, mut jb) = (
        json(&a.join("recommendation.json")),
        json(&b.join("recommendation.json")),
    );
    assert_eq!(ja["scenario"], a.join("recommended.toml").to_str().unwrap());
    ja["scenario"] = serde_json::Value::Null;
    jb["scenario"] = serde_json::Value::Null;
    assert_eq!(ja, jb);

    for key in [
        "mode",
        "gpu",
        "prefill",
        "decode",
        "pd_ratio",
        "gpus",
        "ttft_ms",
        "tpot_ms",
        "goodput_requests_per_s",
        "slo",
        "target_rate_rps",
    ] {
        assert!(ja.get(key).is_some(), "recommendation.json lacks {key}");
    }
    assert_eq!(ja["target_rate_rps"], 0.5);
    assert_eq!(ja["slo_met"], true);
    let csv = std::fs::read_to_string(a.join("plan.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    for col in [
        "mode",
        "gpu",
        "tp_prefill",
        "tp_decode",
        "prefill_replicas",
        "decode_replicas",
        "gpus",
        "router",
        "max_rate_rps",
        "goodput_rps_per_gpu",
        "pruned",
    ] {
        assert!(header.split(',').any(|c| c == col), "plan.csv lacks {col}");
    }

    // Replay the recommendation with `xpyd run`.
    let out = d.join("replay");
    let o = xpyd(&[
        "run",
        a.join("recommended.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-baseline",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&out.join("summary.json"));
    assert_eq!(s["slo"]["met"], true, "{}", stdout(&o));
    assert_eq!(s["gpus"], ja["gpus"]);
    assert_eq!(s["mode"], ja["mode"]);
    // The replay is the confirming run: the same percentiles.
    for (metric, p) in [("ttft_ms", "p90"), ("tpot_ms", "p90"), ("ttft_ms", "p99")] {
        let (x, y) = (
            s[metric][p].as_f64().unwrap(),
            ja[metric][p].as_f64().unwrap(),
        );
        assert!((x - y).abs() <= 1e-5, "{metric} {p}: replay {x}, plan {y}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_plan_flags_exit_2() {
    for args in [
        &["plan", "--target-rate", "-1"][..],
        &["plan", "--gpu-price", "l20"][..],
        &["plan", "--gpu", "nosuchgpu"][..],
        &["plan", "--gpus-max", "0"][..],
        // Qwen3-32B in bf16 does not fit one 48 GB L20.
        &["plan", "--gpus-max", "1"][..],
    ] {
        let o = xpyd(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error"), "{args:?}");
    }
    // The error names the flag, the value and the values allowed.
    for bad in ["tp,ep", "AUTO", ""] {
        let o = xpyd(&["plan", "--moe-splits", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        let e = stderr(&o);
        // An empty value is reported as missing.
        let value = if bad.is_empty() {
            "a value is required".to_string()
        } else {
            format!("invalid value '{bad}'")
        };
        for needle in ["--moe-splits", &value, "auto", "tp-only"] {
            assert!(e.contains(needle), "{bad}: want `{needle}` in {e}");
        }
        assert!(!e.contains("panicked"), "{e}");
    }
    for bad in ["eight", "1.5", "4294967296"] {
        let o = xpyd(&["plan", "--screen-above-gpus", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        let e = stderr(&o);
        for needle in ["--screen-above-gpus", bad, "number of GPUs", "off"] {
            assert!(e.contains(needle), "{bad}: want `{needle}` in {e}");
        }
    }
}

/// Issue 15's two scenarios: gpt-oss-120b PD (8 prefill TP 1 + 2 decode TP 4 on H200) and
/// DeepSeek-R1 PD with DP-attention and EP over two H100 nodes plan (a small search) and
/// emit manifests that carry their split (the manifests' validity against the CRDs is
/// `reports/tests/manifests_schema`, which emits every shipped scenario).
#[test]
fn moe_scenarios_plan_and_emit_their_split() {
    let d = tmpdir("plan-moe");
    let ds = d.join("ds");
    let o = xpyd(&[
        "plan",
        "scenarios/deepseek-r1-dp-ep-h100.toml",
        "--tp",
        "16",
        "--gpus-max",
        "32",
        "--mode",
        "disaggregated",
        // The scenario's own split (the split search is `moe_plan_searches_dp_ep_splits`).
        "--moe-splits",
        "tp-only",
        "--token-budgets",
        "4096",
        "--max-num-seqs",
        "1024",
        "--router",
        "round-robin",
        "--jobs",
        "1",
        "--no-report",
        "--out",
        ds.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let toml = std::fs::read_to_string(ds.join("recommended.toml")).unwrap();
    assert!(
        toml.contains("dp = 16") && toml.contains("ep = 16"),
        "{toml}"
    );
    let rbg = std::fs::read_to_string(ds.join("manifests/rolebasedgroup.yaml")).unwrap();
    for flag in [
        "--dp-size",
        "--enable-dp-attention",
        "--moe-a2a-backend",
        "--nnodes",
    ] {
        assert!(rbg.contains(flag), "{flag}");
    }
    let oss = d.join("oss");
    let o = xpyd(&[
        "plan",
        "scenarios/gpt-oss-120b-pd-h200.toml",
        "--tp",
        "1",
        "--gpus-max",
        "2",
        "--target-rate",
        "2",
        "--token-budgets",
        "4096",
        "--max-num-seqs",
        "256",
        "--router",
        "round-robin",
        "--jobs",
        "1",
        "--no-report",
        "--out",
        oss.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("recommendation for 2 req/s"),
        "{}",
        stdout(&o)
    );
    assert!(oss.join("manifests/rolebasedgroup.yaml").exists());
}

/// Heterogeneous PD end to end: over H200 and H20, priced as in the example scenario
/// (H20 at a third of H200), the plan recommends prefill on H200 and decode on H20 and
/// says so in recommendation.json, the text and the manifests (each role on its GPU
/// type); the same at 1 and 2 threads. Priced above H200, H20 decodes nothing.
#[test]
fn heterogeneous_plan_puts_decode_on_the_cheap_gpu() {
    let d = tmpdir("plan-hetero");
    let run = |out: &std::path::Path, jobs: &str, extra: &[&str]| {
        let mut args = vec![
            "plan",
            "scenarios/hetero-pd-h200-h20.toml",
            "--gpu",
            "h200,h20",
            "--gpus-max",
            "4",
            "--tp",
            "1,2",
            "--token-budgets",
            "8192",
            "--max-num-seqs",
            "1024",
            "--router",
            "round-robin",
            "--probe-requests",
            "150",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = xpyd(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    let (a, b) = (d.join("a"), d.join("b"));
    let oa = run(&a, "1", &[]);
    run(&b, "2", &[]);
    for f in ["plan.csv", "pareto.csv", "recommended.toml"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let text = stdout(&oa);
    assert!(
        text.contains("of them prefill and decode on different GPU types"),
        "{text}"
    );
    assert!(
        text.contains("x h200 (prefill) +") && text.contains("x h20 (decode)"),
        "{text}"
    );
    let r = json(&a.join("recommendation.json"));
    assert_eq!(r["gpu"], "h200/h20");
    assert_eq!(r["prefill"]["gpu"], "h200");
    assert_eq!(r["decode"]["gpu"], "h20");
    let (pg, dg) = (
        r["prefill"]["replicas"].as_f64().unwrap() * r["prefill"]["tp"].as_f64().unwrap(),
        r["decode"]["replicas"].as_f64().unwrap() * r["decode"]["tp"].as_f64().unwrap(),
    );
    let usd = r["usd_per_hour"].as_f64().unwrap();
    assert!((usd - (pg * 3.6 + dg * 1.3)).abs() < 1e-9, "{usd}");
    let rbg = std::fs::read_to_string(a.join("manifests/rolebasedgroup.yaml")).unwrap();
    assert!(rbg.contains("nvidia.com/gpu.product: NVIDIA-H200"), "{rbg}");
    assert!(
        rbg.contains("nvidia.com/gpu.product: NVIDIA-H20\n"),
        "{rbg}"
    );
    // H20 priced above H200: no role on H20.
    let c = d.join("c");
    run(&c, "2", &["--gpu-price", "h20=4.0"]);
    let r = json(&c.join("recommendation.json"));
    assert_eq!(r["gpu"], "h200", "{r}");
    assert!(r["decode"].get("gpu").is_none(), "{r}");
}

/// A small search of gpt-oss-120b (MoE, 128 experts) on H200: TP degrees `tp`, at most 4
/// GPUs.
fn moe_plan(out: &std::path::Path, tp: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "plan",
        "scenarios/gpt-oss-120b-pd-h200.toml",
        "--gpus-max",
        "4",
        "--tp",
        tp,
        "--token-budgets",
        "8192",
        "--max-num-seqs",
        "1024",
        "--router",
        "round-robin",
        "--target-rate",
        "40",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    xpyd(&args)
}

/// Issue 15: for a MoE model the plan tries each TP degree with DP-attention / EP
/// splits, writes them in every output, the recommendation carries its split (JSON,
/// replayable scenario, manifests), the same at 1 and 2 threads; `--moe-splits tp-only`
/// searches what the plan searched before.
#[test]
fn moe_plan_searches_dp_ep_splits() {
    let d = tmpdir("plan-moe-splits");
    let (a, b, t) = (d.join("a"), d.join("b"), d.join("tp"));
    let oa = moe_plan(&a, "1,2", &["--jobs", "1"]);
    assert!(oa.status.success(), "{}", stderr(&oa));
    let ob = moe_plan(&b, "1,2", &["--jobs", "2"]);
    assert!(ob.status.success(), "{}", stderr(&ob));
    let first = stdout(&oa).lines().next().unwrap().to_string();
    // TP 1: (1, 1); TP 2: (1, 1), (1, 2), (2, 2) per role.
    assert!(
        first.starts_with("xpyd plan: 37 candidates (units of at most 4 GPUs, 20 of them with DP-attention or expert parallelism)"),
        "{first}"
    );
    for f in [
        "plan.csv",
        "pareto.csv",
        "recommended.toml",
        "manifests/rolebasedgroup.yaml",
    ] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs between --jobs 1 and --jobs 2"
        );
    }
    let csv = std::fs::read_to_string(a.join("plan.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",reason,p_meet_slo,max_rate_rps_at_confidence,dp_prefill,ep_prefill,dp_decode,ep_decode,estimate_rps"),
        "{csv}"
    );
    // Every split of TP 2 is a candidate, e.g. aggregated TP 2 with EP 2 and with DP 2 EP 2.
    // (then `estimate_rps`, empty: no unit is above --screen-above-gpus)
    for split in [",2,2,2,2,", ",1,2,1,2,", ",1,1,1,1,"] {
        assert!(csv.lines().any(|l| l.ends_with(split)), "{split}: {csv}");
    }
    let pareto = std::fs::read_to_string(a.join("pareto.csv")).unwrap();
    assert!(pareto.contains(" DP") || pareto.contains(" EP"), "{pareto}");
    // At 40 req/s, TP 2 only and disaggregated, a unit with a DP-attention /
    // expert-parallel prefill role is the cheapest (at TP 1 and 2 it is plain TP 1, 2P2D,
    // since the H200 tables of 2026-12-06; with every mode, aggregated TP 2, since the
    // vLLM H200 MXFP4 expert scales of 2026-12-07): the recommendation carries its split
    // everywhere.
    let s2 = d.join("tp2");
    let o2 = moe_plan(&s2, "2", &["--jobs", "1", "--mode", "disaggregated"]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    let rec = json(&s2.join("recommendation.json"));
    let role = |r: &serde_json::Value| (r["dp"].as_u64(), r["ep"].as_u64());
    assert_eq!(role(&rec["prefill"]), (Some(2), Some(2)), "{rec}");
    assert_eq!(role(&rec["unit"]["prefill"]), (Some(2), Some(2)), "{rec}");
    // Fields of an unsplit role are left out.
    assert_eq!(role(&rec["decode"]), (None, None), "{rec}");
    assert!(
        stdout(&o2).contains("prefill TP 2 DP 2 EP 2 x 3"),
        "{}",
        stdout(&o2)
    );
    let toml = std::fs::read_to_string(s2.join("recommended.toml")).unwrap();
    assert!(toml.contains("dp = 2") && toml.contains("ep = 2"), "{toml}");
    let rbg = std::fs::read_to_string(s2.join("manifests/rolebasedgroup.yaml")).unwrap();
    assert!(rbg.contains("--data-parallel-size") && rbg.contains("--enable-expert-parallel"));

    // TP only: the candidates of TP 1 and 2 without splits, and no split columns.
    let ot = moe_plan(&t, "1,2", &["--jobs", "1", "--moe-splits", "tp-only"]);
    assert!(ot.status.success(), "{}", stderr(&ot));
    let first = stdout(&ot).lines().next().unwrap().to_string();
    assert!(
        first.starts_with("xpyd plan: 17 candidates (units of at most 4 GPUs),"),
        "{first}"
    );
    let csv = std::fs::read_to_string(t.join("plan.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",reason,p_meet_slo,max_rate_rps_at_confidence"),
        "{csv}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// A dense model's plan is what it was: `--moe-splits` changes nothing, the candidate
/// count is the one before the split search, and plan.csv has no split columns.
#[test]
fn dense_plan_is_unchanged_by_moe_splits() {
    let d = tmpdir("plan-dense-splits");
    let (a, b) = (d.join("auto"), d.join("tp"));
    let oa = plan(a.to_str().unwrap(), "2");
    assert!(oa.status.success(), "{}", stderr(&oa));
    let mut args = vec![
        "plan",
        "--out",
        b.to_str().unwrap(),
        "--jobs",
        "2",
        "--moe-splits",
        "tp-only",
    ];
    args.extend_from_slice(&SMALL_PLAN);
    let ob = xpyd(&args);
    assert!(ob.status.success(), "{}", stderr(&ob));
    assert_eq!(
        stdout(&oa).replace(a.to_str().unwrap(), "OUT"),
        stdout(&ob).replace(b.to_str().unwrap(), "OUT")
    );
    assert!(
        stdout(&oa).starts_with("xpyd plan: 5 candidates (units of at most 4 GPUs),"),
        "{}",
        stdout(&oa)
    );
    for f in [
        "plan.csv",
        "pareto.csv",
        "recommended.toml",
        "manifests/rolebasedgroup.yaml",
    ] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let csv = std::fs::read_to_string(a.join("plan.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",pruned,reason,p_meet_slo,max_rate_rps_at_confidence"),
        "{csv}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn spot_capacity_of_the_scenario_does_not_enter_the_search() {
    // The planner sizes on-demand capacity: the scenario's spot replicas (more than a
    // candidate's replicas here) and reclaims neither fail the candidates nor move the
    // probes, and the recommendation is all on-demand.
    let d = tmpdir("plan-spot");
    let (a, b) = (d.join("a"), d.join("b"));
    let oa = plan(a.to_str().unwrap(), "1");
    assert!(oa.status.success(), "{}", stderr(&oa));
    let mut args = vec![
        "plan",
        "--out",
        b.to_str().unwrap(),
        "--jobs",
        "1",
        "--set",
        "deployment.prefill.spot-replicas=2",
        "--set",
        "spot.preemption-rate-per-hour=30",
    ];
    args.extend_from_slice(&SMALL_PLAN);
    let ob = xpyd(&args);
    assert!(ob.status.success(), "{}", stderr(&ob));
    for f in ["plan.csv", "pareto.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let rec = std::fs::read_to_string(b.join("recommended.toml")).unwrap();
    assert!(!rec.contains("spot"), "{rec}");
}

/// Bad `[plan]` values (issue 16): exit 2 naming the file, the field, the value and the
/// range, before anything is searched.
#[test]
fn bad_plan_section_exits_2_naming_the_field() {
    let seed = "scenarios/seed-sglang-2p1d.toml";
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[
                "--set",
                "failures.gpu-mtbf-hours=100",
                "--set",
                "plan.availability=1.5",
            ],
            &["plan.availability", "[0.9, 0.999999]", "1.5"],
        ),
        (
            &["--set", "plan.availability=0.999"],
            &["plan.availability", "failures.gpu-mtbf-hours"],
        ),
        (
            &["--set", "plan.spot-mix-percent=[0, 150]"],
            &["plan.spot-mix-percent", "[spot]"],
        ),
        (
            &[
                "--set",
                "deployment.decode.spot-replicas=1",
                "--set",
                "spot.gpu-hour-usd=0.5",
                "--set",
                "plan.spot-mix-percent=[0, 150]",
            ],
            &["plan.spot-mix-percent[1]", "[0, 100]", "150"],
        ),
    ];
    for (sets, needles) in cases {
        let mut args = vec!["plan", seed];
        args.extend_from_slice(sets);
        let o = xpyd(&args);
        assert_eq!(o.status.code(), Some(2), "{sets:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(seed), "{sets:?}: {e}");
        for n in *needles {
            assert!(e.contains(n), "{sets:?}: {e} lacks {n}");
        }
    }
}
