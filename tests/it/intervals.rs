//! Intervals of `xpyd run`'s headline figures (issue 17): identical at any `--jobs`,
//! every interval holding its value, `--intervals off`, runs no residual group fits, bad
//! flags; and `xpyd validate --serving --write-residuals` with its coverage table.

use crate::common::*;
use serde_json::Value;

fn run(dir: &std::path::Path, name: &str, sc: &std::path::Path, extra: &[&str]) -> Value {
    let out = dir.join(name);
    let mut args = vec!["run", sc.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(["--no-report", "--no-baseline"]);
    args.extend(extra);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    json(&out.join("summary.json"))
}

/// Every `{value, lo, hi, level}` object under `v`, with its JSON path.
fn intervals_in(v: &Value, path: &str, acc: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if m.contains_key("level") && m.contains_key("value") => {
            acc.push((path.to_owned(), v.clone()));
        }
        Value::Object(m) => {
            for (k, x) in m {
                intervals_in(x, &format!("{path}.{k}"), acc);
            }
        }
        _ => {}
    }
}

#[test]
fn intervals_are_identical_at_one_and_two_threads() {
    let dir = tmpdir("intervals-jobs");
    let sc = write(&dir, "small.toml", SMALL);
    let extra = ["--requests", "60", "--replications", "5"];
    let one = [&extra[..], &["--jobs", "1"]].concat();
    let two = [&extra[..], &["--jobs", "2"]].concat();
    let a = run(&dir, "a", &sc, &one);
    let b = run(&dir, "b", &sc, &two);
    assert_eq!(
        std::fs::read(dir.join("a/summary.json")).unwrap(),
        std::fs::read(dir.join("b/summary.json")).unwrap()
    );
    assert_eq!(a["intervals"]["replications"], 5);
    // Replication 0 is the run itself; the others are derived from its seed.
    let seeds = a["intervals"]["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 5);
    assert_eq!(seeds[0], 7);
    assert_eq!(a, b);
}

#[test]
fn every_interval_holds_its_value_and_has_width() {
    let dir = tmpdir("intervals-hold");
    let sc = write(&dir, "small.toml", SMALL);
    let s = run(&dir, "a", &sc, &["--requests", "80"]);
    let i = &s["intervals"];
    // sglang on h100, disaggregated: the shipped residuals have no such group, so the
    // summary says so instead of inventing a width.
    assert!(i["model_error"].is_null());
    assert!(
        i["model_error_note"]
            .as_str()
            .unwrap()
            .contains("sglang/h100/disaggregated"),
        "{i}"
    );
    let mut all = Vec::new();
    intervals_in(i, "intervals", &mut all);
    assert!(all.len() >= 25, "{}", all.len());
    for (path, x) in &all {
        let (v, lo, hi) = (
            x["value"].as_f64().unwrap(),
            x["lo"].as_f64().unwrap(),
            x["hi"].as_f64().unwrap(),
        );
        assert!(lo <= v && v <= hi, "{path}: {x}");
        assert_eq!(x["level"], 0.9, "{path}");
    }
    // The value is the point estimate the summary already reports.
    assert_eq!(i["ttft_ms"]["p90"]["value"], s["ttft_ms"]["p90"]);
    assert_eq!(
        i["throughput"]["requests_per_s"]["value"],
        s["throughput"]["requests_per_s"]
    );
    assert_eq!(i["slo"]["attainment"]["value"], s["slo"]["attainment"]);
    // Four seeds of a Poisson workload do not all give the same TTFT p90.
    let p90 = &i["ttft_ms"]["p90"];
    assert!(p90["hi"].as_f64() > p90["value"].as_f64(), "{p90}");
}

#[test]
fn model_error_widens_the_intervals_where_residuals_apply() {
    let dir = tmpdir("intervals-model");
    let sc = write(
        &dir,
        "agg.toml",
        &SMALL
            .replace("backend = \"sglang\"", "backend = \"vllm\"")
            .replace(
                "[deployment.prefill]\nreplicas = 1\ntp = 1\n[deployment.decode]\nreplicas = 1\ntp = 1",
                "mode = \"aggregated\"\n[deployment.aggregated]\nreplicas = 1\ntp = 1",
            ),
    );
    let with = run(
        &dir,
        "with",
        &sc,
        &["--requests", "60", "--replications", "1"],
    );
    let m = &with["intervals"]["model_error"];
    assert_eq!(m["group"], "vllm/h100/aggregated", "{}", with["intervals"]);
    let t = &with["intervals"]["ttft_ms"]["p50"];
    // One replication: the width is the model error's alone, and not zero.
    assert!(
        t["hi"].as_f64().unwrap() > t["value"].as_f64().unwrap() * 1.01,
        "{t}"
    );
    // A residual file without the group: no model error, and the note names the file.
    let r = write(
        &dir,
        "res.csv",
        "engine,gpu,mode,metric,rows,q05,q50,q95\nvllm,h200,aggregated,ttft,9,-0.1,0,0.1\n",
    );
    let without = run(
        &dir,
        "without",
        &sc,
        &[
            "--requests",
            "60",
            "--replications",
            "1",
            "--residuals",
            r.to_str().unwrap(),
        ],
    );
    let i = &without["intervals"];
    assert!(i["model_error"].is_null());
    assert!(i["model_error_note"].as_str().unwrap().contains("res.csv"));
    let t = &i["ttft_ms"]["p50"];
    assert_eq!(t["lo"], t["value"]);
    assert_eq!(t["hi"], t["value"]);
}

#[test]
fn intervals_off_writes_none_and_prints_none() {
    let dir = tmpdir("intervals-off");
    let sc = write(&dir, "small.toml", SMALL);
    let out = dir.join("o");
    let o = xpyd(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--requests",
        "40",
        "--intervals",
        "off",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(json(&out.join("summary.json")).get("intervals").is_none());
    assert!(!stdout(&o).contains("% intervals"));
    let o = xpyd(&[
        "run",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--requests",
        "40",
    ]);
    assert!(stdout(&o).contains("90% intervals"), "{}", stdout(&o));
}

#[test]
fn bad_interval_flags_exit_2_naming_flag_and_range() {
    let cases: [(&[&str], &str); 5] = [
        (&["--replications", "0"], "must be an integer in [1, 200]"),
        (&["--replications", "201"], "must be an integer in [1, 200]"),
        (&["--intervals", "maybe"], "expected on or off"),
        (
            &["--intervals", "off", "--replications", "3"],
            "--replications: sets the intervals",
        ),
        (&["--residuals", "no/such.csv"], "--residuals"),
    ];
    for (flags, msg) in cases {
        let mut args = vec!["run", "--requests", "10"];
        args.extend(flags);
        let o = xpyd(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(stderr(&o).contains(msg), "{flags:?}: {}", stderr(&o));
    }
    let dir = tmpdir("intervals-bad-res");
    let r = write(
        &dir,
        "r.csv",
        "engine,gpu,mode,metric,rows,q05,q50,q95\nvllm,h100,aggregated,ttft,9,0.2,0.1,0.3\n",
    );
    let o = xpyd(&["run", "--residuals", r.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("r.csv: line 2: rows must be >= 1 and q05 <= q50 <= q95"),
        "{}",
        stderr(&o)
    );
}

/// A silicon CSV of `n` vLLM H100 aggregated Qwen3-8B rows (AIConfigurator sweep rows:
/// each replays its own deployment at fixed lengths), with measured values scattered
/// around what such runs take.
fn silicon_rows(n: usize) -> String {
    let mut s = "id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,gemm_quant_mode,moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,moe_ep_size,prefill_batch_size,prefill_num_workers,prefill_tp_size,prefill_pp_size,prefill_attention_dp_size,prefill_moe_tp_size,prefill_moe_ep_size,decode_batch_size,decode_num_workers,decode_tp_size,decode_pp_size,decode_attention_dp_size,decode_moe_tp_size,decode_moe_ep_size,silicon_ttft_ms,silicon_tpot_ms\n".to_owned();
    for i in 0..n {
        let clients = [1, 2, 4, 8][i % 4];
        let isl = [512, 1024, 2048][i % 3];
        let ttft = 30.0 + 7.0 * (i % 5) as f64 + isl as f64 / 40.0;
        let tpot = 7.0 + 0.4 * (i % 7) as f64 + clients as f64 * 0.1;
        s.push_str(&format!(
            "r{i},source_file=h100_sxm/vllm/0.12.0/Qwen_Qwen3-8B.csv; silicon_concurrency={clients},vllm,0.12.0,Qwen/Qwen3-8B,h100_sxm,,agg,{isl},64,,,{clients},1,1,,1,1{}{ttft},{tpot}\n",
            ",".repeat(15)
        ));
    }
    s
}

#[test]
fn validate_writes_residuals_and_reports_k_fold_coverage() {
    let dir = tmpdir("intervals-validate");
    let csv = write(&dir, "rows.csv", &silicon_rows(12));
    let res = dir.join("res.csv");
    let o = xpyd(&[
        "validate",
        "--serving",
        csv.to_str().unwrap(),
        "--write-residuals",
        res.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let replayed = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("skipped").is_none())
        .count();
    assert_eq!(replayed, 12, "{}", stdout(&o));
    let cov = v["coverage"].as_array().unwrap();
    let metrics: Vec<&str> = cov.iter().map(|c| c["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics, ["ttft", "tpot", "e2e"]);
    for c in cov {
        assert_eq!(c["rows"], 12);
        assert_eq!(c["folds"], 5);
        // Folds of 12 rows leave 9 or 10 to fit on: every row is checked.
        assert_eq!(c["checked"], 12);
        let k = c["covered"].as_u64().unwrap();
        assert_eq!(c["coverage"].as_f64().unwrap(), k as f64 / 12.0);
    }
    // The residual file reads back as `xpyd run --residuals` takes it.
    let text = std::fs::read_to_string(&res).unwrap();
    assert!(text.starts_with("# xpyd engine-model residuals"), "{text}");
    assert!(text.contains("\nvllm,h100,aggregated,ttft,12,"), "{text}");
    let o = xpyd(&[
        "run",
        "--requests",
        "20",
        "--replications",
        "1",
        "--no-report",
        "--out",
        dir.join("run").to_str().unwrap(),
        "--residuals",
        res.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The text table has the same numbers.
    let o = xpyd(&["validate", "--serving", csv.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(
        text.contains("coverage of the engine model's 90% intervals (5-fold"),
        "{text}"
    );
}

#[test]
fn validate_decisions_rank_groups_and_refuse_bad_objectives() {
    let dir = tmpdir("intervals-decisions");
    let csv = write(&dir, "rows.csv", &silicon_rows(12));
    // The decision check at a loose SLO, with `extra` flags.
    let decisions = |extra: &[&str]| -> Value {
        let mut args = vec![
            "validate",
            "--serving",
            csv.to_str().unwrap(),
            "--decisions",
            "--slo-ttft-ms",
            "100000",
            "--slo-tpot-ms",
            "1000",
            "--json",
        ];
        args.extend(extra);
        let o = xpyd(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<Value>(&stdout(&o)).unwrap()["decisions"].clone()
    };
    let d = &decisions(&[]);
    // Rows share model, GPU, backend and osl; three prompt lengths make three groups of
    // four deployments (1, 2, 4 and 8 clients), every one meeting the loose SLO.
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{d}");
    assert_eq!(d["scored_groups"], 3);
    for g in groups {
        assert_eq!(g["candidates"], 4);
        assert_eq!(g["meeting_measured"], 4);
        let regret = g["regret"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&regret), "{g}");
        assert_eq!(g["hit"].as_bool().unwrap(), regret <= 0.05, "{g}");
        assert_eq!(g["top1"].as_bool().unwrap(), g["pick"] == g["best"], "{g}");
        let tau = g["kendall_tau"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&tau));
    }
    let hits = groups.iter().filter(|g| g["hit"] == true).count();
    assert_eq!(d["hit_rate"].as_f64().unwrap(), hits as f64 / 3.0);
    // Without --decisions there is no such field.
    let o = xpyd(&["validate", "--serving", csv.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v.get("decisions").is_none());
    // With a confidence the JSON says so and every pick carries its probability, at
    // least the confidence asked.
    let sure = decisions(&["--confidence", "0.9"]);
    assert_eq!(sure["confidence"], 0.9);
    for g in sure["groups"].as_array().unwrap() {
        assert!(g["pick_p_meet"].as_f64().unwrap() >= 0.9, "{g}");
    }
    let bad: [(&[&str], &str); 5] = [
        (
            &[
                "--decisions",
                "--slo-ttft-ms",
                "100",
                "--slo-tpot-ms",
                "50",
                "--confidence",
                "1.5",
            ],
            "must be a probability in [0, 1]",
        ),
        (&["--confidence", "0.5"], "--decisions"),
        (&["--decisions"], "--slo-ttft-ms"),
        (
            &["--decisions", "--slo-ttft-ms", "0", "--slo-tpot-ms", "50"],
            "must be milliseconds in (0, 10000000]",
        ),
        (
            &[
                "--decisions",
                "--slo-ttft-ms",
                "100",
                "--slo-tpot-ms",
                "1e9",
            ],
            "must be milliseconds in (0, 10000000]",
        ),
    ];
    for (flags, msg) in bad {
        let mut args = vec!["validate", "--serving", csv.to_str().unwrap()];
        args.extend(flags);
        let o = xpyd(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(stderr(&o).contains(msg), "{flags:?}: {}", stderr(&o));
    }
}
