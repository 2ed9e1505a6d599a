//! The engine layer end to end (issue 14 items 1 and 4): `deployment.engine-profile`
//! selects it (auto, none, an engine, a file) and its front-end time reaches TTFT;
//! `xpyd calibrate fit-engine` writes a profile that a scenario then uses; `xpyd cost
//! --engine` labels the overhead `fitted`; bad values exit 2 naming the field.

use crate::common::{SMALL, json, stderr, stdout, tmpdir, write, xpyd};

/// [`SMALL`] (SGLang 1P1D on H100) with `deployment.engine-profile = value`.
fn with_profile(value: &str) -> String {
    SMALL.replace(
        "[deployment]\n",
        &format!("[deployment]\nengine-profile = {value:?}\n"),
    )
}

fn mean_ttft(dir: &std::path::Path, name: &str, text: &str) -> f64 {
    let f = write(dir, &format!("{name}.toml"), text);
    let out = dir.join(name);
    let o = xpyd(&["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    json(&out.join("summary.json"))["ttft_ms"]["mean"]
        .as_f64()
        .expect("mean TTFT")
}

#[test]
fn engine_profile_selects_the_layer_and_frontend_reaches_ttft() {
    let dir = tmpdir("engine-profile");
    let none = mean_ttft(&dir, "none", &with_profile("none"));
    let auto = mean_ttft(&dir, "auto", SMALL);
    let sglang = mean_ttft(&dir, "sglang", &with_profile("sglang"));
    // `auto` of an SGLang deployment on H100 is the built-in sglang/h100 profile.
    assert_eq!(auto, sglang);
    assert_ne!(auto, none);
    // A profile file: the same layer with 40 ms more front-end time adds 40 ms to TTFT
    // at this light load (the arrivals do not depend on responses).
    let builtin = xpyd_models::EngineProfile::builtin("sglang", "h100").unwrap();
    let mut slow = builtin.clone();
    slow.params.frontend_ms += 40.0;
    let file = xpyd_models::EngineProfiles {
        profiles: vec![slow],
    };
    write(&dir, "slow.json", &serde_json::to_string(&file).unwrap());
    let slower = mean_ttft(&dir, "slow", &with_profile("slow.json"));
    assert!(
        (slower - sglang - 40.0).abs() < 1e-6,
        "{slower} vs {sglang} + 40"
    );
}

#[test]
fn bad_engine_profiles_exit_2_naming_the_field() {
    let dir = tmpdir("engine-profile-bad");
    let run = |name: &str, text: &str| {
        let f = write(&dir, name, text);
        xpyd(&[
            "run",
            f.to_str().unwrap(),
            "--out",
            dir.join("o").to_str().unwrap(),
        ])
    };
    // An engine without a built-in profile on the GPU (the message lists those shipped).
    let o = run(
        "a100.toml",
        &with_profile("trtllm").replace("gpu = \"h100\"", "gpu = \"a100\""),
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("deployment.engine-profile"), "{e}");
    assert!(e.contains("no built-in trtllm profile for a100"), "{e}");
    // A missing file.
    let o = run("missing.toml", &with_profile("nope.json"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.json"), "{}", stderr(&o));
    // A parameter out of range in the file: its path, value and range.
    write(
        &dir,
        "bad.json",
        r#"{"profiles":[{"engine":"sglang","gpu":"h100","source":"t","params":{"prefill-scale":1,"decode-scale":1,"step-overhead-ms":99,"per-seq-overhead-us":0,"frontend-ms":0}}]}"#,
    );
    let o = run("bad.toml", &with_profile("bad.json"));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("deployment.engine-profile"), "{e}");
    assert!(
        e.contains("profiles[0].params.step-overhead-ms: 99 is outside the allowed range [0, 50]"),
        "{e}"
    );
}

/// `xpyd calibrate fit-engine` on the fidelity-gate rows with `args` after the file.
fn fit_gate(args: &[&str]) -> std::process::Output {
    fit_on("tests/fixtures/serving/fidelity_gate.csv", args)
}

/// `xpyd calibrate fit-engine FIXTURE` with `args` after the file.
fn fit_on(fixture: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["calibrate", "fit-engine", fixture];
    all.extend_from_slice(args);
    xpyd(&all)
}

#[test]
fn fit_engine_writes_a_profile_a_scenario_can_use() {
    let dir = tmpdir("fit-engine");
    let out = dir.join("engine.json");
    let o = fit_gate(&[
        "--engine",
        "vllm",
        "--gpu",
        "h100",
        "--folds",
        "2",
        "--rounds",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("vllm h100: 8 runs, loss"), "{text}");
    assert!(text.contains("held out"), "{text}");
    let file = xpyd_models::EngineProfiles::parse(&std::fs::read_to_string(&out).unwrap())
        .expect("the written profiles parse");
    let p = file.find("vllm", "h100", None).expect("the fitted profile");
    assert_eq!(p.fitted_rows, 8);
    assert_eq!(p.checked[0].rows, 8);
    // `validate --serving --engine-profile` replays with the written profiles: the vLLM
    // H100 rows take the fitted one, the others keep their built-in layer.
    let o = xpyd(&[
        "validate",
        "--serving",
        "tests/fixtures/serving/fidelity_gate.csv",
        "--engine-profile",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let notes = |r: &serde_json::Value| r["notes"].to_string();
    let rows = v["rows"].as_array().unwrap();
    for r in rows {
        let given = notes(r).contains("from the given profiles");
        let is_vllm_h100 = r["backend"] == "vllm" && r["gpu"] == "h100";
        assert_eq!(given, is_vllm_h100, "{r}");
        if !is_vllm_h100 {
            assert!(
                notes(r).contains("in the given profiles: its own layer"),
                "{r}"
            );
        }
    }
    let bad = write(&dir, "bad-profiles.json", "{\"profiles\": 3}");
    let o = xpyd(&[
        "validate",
        "--serving",
        "tests/fixtures/serving/fidelity_gate.csv",
        "--engine-profile",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad-profiles.json"), "{}", stderr(&o));
    // The fit never makes the fitted rows worse than the neutral layer.
    let o = fit_gate(&[
        "--engine", "vllm", "--gpu", "h100", "--folds", "1", "--rounds", "1", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let g = &v[0];
    assert!(g["loss_fitted"].as_f64().unwrap() <= g["loss_neutral"].as_f64().unwrap());
    // The written file drives a vLLM scenario on H100.
    let sc = SMALL
        .replace("backend = \"sglang\"", "backend = \"vllm\"")
        .replace(
            "[deployment]\n",
            &format!(
                "[deployment]\nengine-profile = {:?}\n",
                out.display().to_string()
            ),
        );
    let f = write(&dir, "use.toml", &sc);
    let o = xpyd(&[
        "run",
        f.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // --by-version: the TensorRT-LLM H100 rows (all 1.0.0rc3) make a version profile,
    // which `deployment.engine-version` then selects.
    let versioned = dir.join("versioned.json");
    let o = fit_gate(&[
        "--engine",
        "trtllm",
        "--gpu",
        "h100",
        "--by-version",
        "--folds",
        "1",
        "--rounds",
        "1",
        "--out",
        versioned.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("trtllm h100 1.0.0rc3: 8 runs"),
        "{}",
        stdout(&o)
    );
    let file =
        xpyd_models::EngineProfiles::parse(&std::fs::read_to_string(&versioned).unwrap()).unwrap();
    assert!(
        file.profiles
            .iter()
            .any(|p| p.version.as_deref() == Some("1.0.0rc3")),
        "{:?}",
        file.profiles
    );
    let trt = SMALL
        .replace("backend = \"sglang\"", "backend = \"trtllm\"")
        .replace(
            "[deployment]\n",
            &format!(
                "[deployment]\nengine-profile = {:?}\nengine-version = \"1.0.0rc3\"\n",
                versioned.display().to_string()
            ),
        );
    let f = write(&dir, "versioned.toml", &trt);
    let run_dir = dir.join("versioned-run");
    let o = xpyd(&[
        "run",
        f.to_str().unwrap(),
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let layer = json(&run_dir.join("summary.json"))["engine_layer"].clone();
    assert!(
        layer.as_str().unwrap().ends_with("(trtllm/h100@1.0.0rc3)"),
        "{layer}"
    );
    // Runs without a deployment take the engine and GPU of --scenario; too few to fit is
    // an error that says so, and nothing is written.
    let none = dir.join("none.json");
    let o = xpyd(&[
        "calibrate",
        "fit-engine",
        "tests/fixtures/serving/vllm_bench.json",
        "--scenario",
        "scenarios/aggregated-vllm-h100.toml",
        "--out",
        none.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("vllm h100: not fitted (1 replayable runs of dense models"),
        "{}",
        stderr(&o)
    );
    assert!(!none.exists());
    // A bad engine name is a usage error.
    let o = xpyd(&["calibrate", "fit-engine", "x.csv", "--engine", "tgi"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `fit-engine --moe-eager` on 10 TensorRT-LLM H100 Qwen3-235B-A22B FP8 runs
/// (`tests/fixtures/serving/trtllm_h100_moe.csv`: rows of
/// `../shared/reference/engine-benchmarks/silicon_sample_train.csv` with prompts of at
/// most 512 tokens and outputs of at most 256, every n-th): only the MoE term moves, it
/// is positive on these runs, the written file keeps every built-in profile, and the
/// term is checked on the runs its fold did not see.
#[test]
fn fit_engine_moe_eager_fits_the_moe_term_only() {
    let dir = tmpdir("fit-moe-eager");
    let out = dir.join("engine.json");
    let o = xpyd(&[
        "calibrate",
        "fit-engine",
        "tests/fixtures/serving/trtllm_h100_moe.csv",
        "--moe-eager",
        "--folds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("MoE, held out"), "{text}");
    let file = xpyd_models::EngineProfiles::parse(&std::fs::read_to_string(&out).unwrap())
        .expect("the written profiles parse");
    let builtin = xpyd_models::engine::builtin_profiles();
    assert_eq!(file.profiles.len(), builtin.profiles.len());
    // The runs record 1.0.0rc3: that profile is refitted on them, every other profile
    // is written as it was.
    for (p, b) in file.profiles.iter().zip(&builtin.profiles) {
        assert_eq!(p.key(), b.key());
        let held = xpyd_models::EngineParams {
            moe_eager_layer_us: b.params.moe_eager_layer_us,
            ..p.params.clone()
        };
        assert_eq!(held, b.params, "{}: only the MoE term may move", p.key());
        if p.version.as_deref() == Some("1.0.0rc3") && p.engine == "trtllm" {
            assert_eq!(p.moe_fitted_rows, 10);
            assert!(p.params.moe_eager_layer_us > 0.0, "{:?}", p.params);
            assert_eq!(p.moe_checked[0].rows, 10);
        } else {
            assert_eq!(p.params, b.params, "{}", p.key());
            assert_eq!(p.moe_fitted_rows, b.moe_fitted_rows, "{}", p.key());
        }
    }
    let v = fit_moe_json("tests/fixtures/serving/trtllm_h100_moe.csv", "--moe-eager");
    let g = &v[0];
    assert!(g["loss_fitted"].as_f64().unwrap() < g["loss_neutral"].as_f64().unwrap());
    // --base without --moe-eager, and --moe-eager with a dense-fit flag, are usage errors.
    for args in [
        &["--base", "x.json"][..],
        &["--moe-eager", "--include-moe"][..],
    ] {
        let mut all = vec!["calibrate", "fit-engine", "x.csv"];
        all.extend_from_slice(args);
        let o = xpyd(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}

/// `fit-engine FIXTURE FLAG --folds 1 --json`, parsed (it must succeed).
fn fit_moe_json(fixture: &str, flag: &str) -> serde_json::Value {
    let o = fit_on(fixture, &[flag, "--folds", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// `fit-engine --mxfp4-experts` on nine vLLM H200 gpt-oss-120b runs
/// (`tests/fixtures/serving/vllm_h200_gptoss.csv`: the 1024 x 1024 runs with at most 16
/// clients of `../shared/reference/engine-benchmarks/silicon_sample_train.csv`): only
/// the two MXFP4 scales of the vLLM H200 profile move, the compute scale above 1 (the
/// runs' time to first token is about twice the roofline's), the fit lowers the loss,
/// and every other profile is written as it was.
#[test]
fn fit_engine_mxfp4_experts_fits_the_mxfp4_scales_only() {
    let dir = tmpdir("fit-mxfp4");
    let out = dir.join("engine.json");
    let o = fit_on(
        "tests/fixtures/serving/vllm_h200_gptoss.csv",
        &[
            "--mxfp4-experts",
            "--folds",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("mxfp4-compute-scale"), "{}", stdout(&o));
    let file = xpyd_models::EngineProfiles::parse(&std::fs::read_to_string(&out).unwrap())
        .expect("the written profiles parse");
    let builtin = xpyd_models::engine::builtin_profiles();
    assert_eq!(file.profiles.len(), builtin.profiles.len());
    for (p, b) in file.profiles.iter().zip(&builtin.profiles) {
        assert_eq!(p.key(), b.key());
        if p.key() == "vllm/h200" {
            assert_eq!(p.mxfp4_fitted_rows, 9);
            assert!(p.params.mxfp4_compute_scale > 1.5, "{:?}", p.params);
            let held = xpyd_models::EngineParams {
                mxfp4_compute_scale: b.params.mxfp4_compute_scale,
                mxfp4_memory_scale: b.params.mxfp4_memory_scale,
                ..p.params.clone()
            };
            assert_eq!(held, b.params, "only the MXFP4 scales may move");
        } else {
            assert_eq!(p.params, b.params, "{}", p.key());
        }
    }
    let v = fit_moe_json(
        "tests/fixtures/serving/vllm_h200_gptoss.csv",
        "--mxfp4-experts",
    );
    let g = &v[0];
    assert_eq!(g["engine"], "vllm");
    // loss_neutral: the built-in profile, whose MXFP4 scales are 1 or the shipped fit.
    assert!(g["loss_fitted"].as_f64().unwrap() <= g["loss_neutral"].as_f64().unwrap() + 1e-9);
    // The two MoE terms are fitted one at a time.
    let o = xpyd(&[
        "calibrate",
        "fit-engine",
        "x.csv",
        "--mxfp4-experts",
        "--moe-eager",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// `fit-engine --fp8-experts` on 9 real vLLM H200 Qwen3-235B-A22B FP8 runs (TP 2 and 4,
/// rows of `../shared/reference/engine-benchmarks/silicon_sample_train.csv`): only the
/// vLLM H200 profile's `fp8-moe-*` terms move, it prices the FP8 experts by them
/// (`fp8-moe-roofline`), the weight-reading scale lands above 1 (the runs' decode steps
/// at TP 2 take about 1.5 times the calibrated kernels'), the fit does not raise the loss,
/// and every other profile is written as it was.
#[test]
fn fit_engine_fp8_experts_fits_the_fp8_terms_only() {
    let dir = tmpdir("fit-fp8-moe");
    let out = dir.join("engine.json");
    let fixture = "tests/fixtures/serving/vllm_h200_qwen3_235b.csv";
    let o = fit_on(
        fixture,
        &[
            "--fp8-experts",
            "--folds",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("fp8-moe-memory-scale"),
        "{}",
        stdout(&o)
    );
    let file = xpyd_models::EngineProfiles::parse(&std::fs::read_to_string(&out).unwrap())
        .expect("the written profiles parse");
    let builtin = xpyd_models::engine::builtin_profiles();
    assert_eq!(file.profiles.len(), builtin.profiles.len());
    for (p, b) in file.profiles.iter().zip(&builtin.profiles) {
        assert_eq!(p.key(), b.key());
        if p.key() == "vllm/h200" {
            assert_eq!(p.fp8_moe_fitted_rows, 9);
            assert!(p.params.fp8_moe_roofline);
            assert!(p.params.fp8_moe_memory_scale > 1.2, "{:?}", p.params);
            let held = xpyd_models::EngineParams {
                fp8_moe_roofline: b.params.fp8_moe_roofline,
                fp8_moe_memory_scale: b.params.fp8_moe_memory_scale,
                fp8_moe_layer_us: b.params.fp8_moe_layer_us,
                ..p.params.clone()
            };
            assert_eq!(held, b.params, "only the FP8 expert terms may move");
        } else {
            assert_eq!(p.params, b.params, "{}", p.key());
        }
    }
    let v = fit_moe_json(fixture, "--fp8-experts");
    let g = &v[0];
    assert_eq!(g["engine"], "vllm");
    assert!(g["loss_fitted"].as_f64().unwrap() <= g["loss_neutral"].as_f64().unwrap() + 1e-9);
    let o = xpyd(&[
        "calibrate",
        "fit-engine",
        "x.csv",
        "--fp8-experts",
        "--mxfp4-experts",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn cost_engine_labels_the_overhead_fitted() {
    let o = xpyd(&[
        "cost",
        "--model",
        "qwen3-8b",
        "--gpu",
        "h100",
        "--decode-batch",
        "32",
        "--context",
        "1000",
        "--engine",
        "vllm",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sources"]["overhead"], "fitted");
    assert!(v["engine"]["kernel_factor"].as_f64().unwrap() > 0.0);
    let plain = xpyd(&[
        "cost",
        "--model",
        "qwen3-8b",
        "--gpu",
        "h100",
        "--decode-batch",
        "32",
        "--context",
        "1000",
        "--json",
    ]);
    let p: serde_json::Value = serde_json::from_str(&stdout(&plain)).unwrap();
    assert_eq!(p["sources"]["overhead"], "assumed");
    assert!(p.get("engine").is_none());
    let o = xpyd(&[
        "cost",
        "--model",
        "qwen3-8b",
        "--gpu",
        "a100",
        "--prefill",
        "100",
        "--engine",
        "vllm",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no built-in vllm engine profile for a100"),
        "{}",
        stderr(&o)
    );
}
