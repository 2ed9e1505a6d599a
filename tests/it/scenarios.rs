//! Every shipped scenario loads, and the default run writes the documented outputs.

use crate::common::*;

#[test]
fn every_scenario_file_loads_and_runs_briefly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            n += 1;
            let out = tmpdir(&format!("scn-{}", p.file_stem().unwrap().to_string_lossy()));
            let o = xpyd(&[
                "run",
                p.to_str().unwrap(),
                "--requests",
                "40",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}: {}", p.display(), stderr(&o));
            let s = json(&out.join("summary.json"));
            assert_eq!(s["requests"]["arrived"], 40, "{}", p.display());
        }
    }
    assert!(n >= 4, "expected the seed scenarios, found {n}");
}

#[test]
fn default_run_writes_summary_requests_and_timeseries() {
    let out = tmpdir("default");
    let o = xpyd(&["run", "--requests", "80", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("qwen3-32b") && text.contains("TTFT") && text.contains("aggregated"),
        "{text}"
    );
    let s = json(&out.join("summary.json"));
    for k in [
        "model",
        "gpu",
        "gpus",
        "prefill",
        "decode",
        "requests",
        "ttft_ms",
        "tpot_ms",
        "itl_ms",
        "e2e_ms",
        "throughput",
        "slo",
        "baseline_aggregated",
    ] {
        assert!(!s[k].is_null(), "summary.json lacks {k}");
    }
    assert_eq!(s["model"], "qwen3-32b");
    assert_eq!(s["gpu"], "l20");
    assert_eq!(s["gpus"], 6);
    assert_eq!(s["prefill"]["replicas"], 2);
    assert_eq!(s["decode"]["tp"], 2);
    for m in ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"] {
        for p in ["mean", "p50", "p90", "p95", "p99"] {
            assert!(s[m][p].is_number(), "{m}.{p}");
            assert!(
                s["baseline_aggregated"][m][p].is_number(),
                "baseline {m}.{p}"
            );
        }
    }
    for k in [
        "requests_per_s",
        "input_tokens_per_s",
        "output_tokens_per_s",
        "output_tokens_per_s_per_gpu",
    ] {
        assert!(s["throughput"][k].as_f64().unwrap() > 0.0, "{k}");
    }
    for k in ["ttft_ms", "tpot_ms", "attainment", "goodput_requests_per_s"] {
        assert!(s["slo"][k].is_number(), "slo.{k}");
    }
    let r = &s["requests"];
    let sum = r["completed"].as_u64().unwrap()
        + r["rejected"].as_u64().unwrap()
        + r["unfinished"].as_u64().unwrap();
    assert_eq!(r["arrived"].as_u64().unwrap(), sum);

    let csv = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with(
        "id,arrival_s,input_tokens,output_tokens,cached_tokens,prefill_instance,decode_instance,ttft_ms,tpot_ms,e2e_ms,queue_ms,kv_transfer_ms,slo_met"
    ), "{header}");
    assert_eq!(lines.count(), 80);
    let ts = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.lines().count() > 1);
}

#[test]
fn cost_json_has_ms_source_and_breakdown() {
    let o = xpyd(&[
        "cost",
        "--model",
        "qwen3-32b",
        "--gpu",
        "h100",
        "--tp",
        "2",
        "--prefill",
        "2048",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["ms"].as_f64().unwrap() > 0.0);
    assert!(v["source"] == "roofline" || v["source"] == "calibrated");
    let b = v["breakdown"].as_object().unwrap();
    let sum: f64 = b.values().map(|x| x.as_f64().unwrap()).sum();
    assert!((sum - v["ms"].as_f64().unwrap()).abs() < 1e-6 * sum.max(1.0));
}

#[test]
fn cost_deepseek_v3_decode_attention_is_calibrated_from_mla_rows() {
    let args = [
        "cost",
        "--model",
        "deepseek-v3",
        "--gpu",
        "h200",
        "--tp",
        "8",
        "--decode-batch",
        "64",
        "--context",
        "4096",
        "--json",
    ];
    // By default MLA decode attention is the roofline's (the engines' kernels), the
    // GEMMs calibrated.
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sources"]["attention_decode"], "roofline");
    assert_eq!(v["sources"]["gemm"], "calibrated");
    let roofline_ms = v["breakdown"]["attention_decode"].as_f64().unwrap();
    // `--mla-decode measured`: our kernel's rows, slower.
    let mut args = args.to_vec();
    args.extend(["--mla-decode", "measured"]);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sources"]["attention_decode"], "calibrated");
    assert_eq!(v["source"], "calibrated");
    assert!(v["breakdown"]["attention_decode"].as_f64().unwrap() > roofline_ms);
    // The roofline flag still ignores the profile.
    let mut rf = args.to_vec();
    rf.push("--roofline");
    let o = xpyd(&rf);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sources"]["attention_decode"], "roofline");
}

#[test]
fn profile_flags_and_field_select_the_step_costs() {
    let sc = "scenarios/seed-vllm-pd.toml";
    let source = |extra: &[&str], name: &str| -> String {
        let out = tmpdir(name);
        let mut args = vec![
            "run",
            sc,
            "--requests",
            "20",
            "--no-baseline",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = xpyd(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&out.join("summary.json"))["cost_source"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(source(&[], "prof-default"), "calibrated (builtin:h100)");
    assert_eq!(source(&["--roofline"], "prof-roofline"), "roofline");
    let h200 = source(&["--profile", "models/profiles/h200.json"], "prof-file");
    assert!(
        h200.starts_with("calibrated (") && h200.ends_with("h200.json)"),
        "{h200}"
    );
    let o = xpyd(&["run", sc, "--set", "hardware.profile=\"missing.json\""]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hardware.profile"), "{}", stderr(&o));
}

/// Heterogeneous PD in the run's files: `summary.json` names the decode role's own GPU
/// and price (and nothing for the prefill role, on `[hardware]`), prices GPU-hours per
/// role, and `assumptions.json` describes the decode role's GPU; a homogeneous run writes
/// no per-role GPU.
#[test]
fn heterogeneous_run_writes_per_role_gpus_and_cost() {
    let run = |name: &str, sets: &[&str]| {
        let out = tmpdir(name);
        let mut args = vec![
            "run",
            "scenarios/hetero-pd-h200-h20.toml",
            "--requests",
            "200",
            "--no-baseline",
            "--out",
            out.to_str().unwrap(),
        ];
        for s in sets {
            args.extend_from_slice(&["--set", s]);
        }
        let o = xpyd(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (
            json(&out.join("summary.json")),
            json(&out.join("assumptions.json")),
            stdout(&o),
        )
    };
    let (s, a, text) = run("hetero-run", &[]);
    assert_eq!(s["decode"]["gpu"], "h20");
    assert_eq!(s["decode"]["gpu_hour_usd"], 1.3);
    assert!(s["prefill"].get("gpu").is_none(), "{s}");
    assert!(
        text.contains("on 4 x h200 (prefill) + 4 x h20 (decode)"),
        "{text}"
    );
    let hours = s["gpu_hours"].as_f64().unwrap();
    let cost = s["cost_usd"].as_f64().unwrap();
    // Half the GPUs at 3.6 and half at 1.3 USD, over the same makespan.
    assert!(
        (cost - hours / 2.0 * (3.6 + 1.3)).abs() < 1e-6 * cost,
        "{cost} vs {hours}"
    );
    let roles = a["roles"].as_array().unwrap();
    let decode = roles.iter().find(|r| r["role"] == "decode").unwrap();
    assert!(
        decode["gpu"].as_str().unwrap().starts_with("h20,"),
        "{decode}"
    );
    // The same GPU and price as [hardware]: homogeneous, no per-role GPU written.
    let (s, a, text) = run(
        "hetero-run-same",
        &[
            "deployment.decode.gpu=h200",
            "deployment.decode.gpu-hour-usd=3.6",
        ],
    );
    assert!(s["decode"].get("gpu").is_none(), "{s}");
    assert!(text.contains("on 8 x h200,"), "{text}");
    assert!(
        (s["cost_usd"].as_f64().unwrap() - s["gpu_hours"].as_f64().unwrap() * 3.6).abs() < 1e-9
    );
    assert!(
        a["roles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("gpu").is_none())
    );
}
