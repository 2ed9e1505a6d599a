//! End-to-end checks against closed forms and the cost model.

use crate::common::*;
use std::path::Path;
use xpyd_models::{CostModel, Dtype, Efficiencies, GpuSpec, ModelArch, StepShape};
use xpyd_sim::metrics::RequestRecord;
use xpyd_sim::{Scenario, System};

fn scenario(text: &str) -> Scenario {
    Scenario::from_text(Path::new("test.toml"), Path::new("."), text, &[]).unwrap()
}

fn run(sc: &Scenario) -> (xpyd_sim::RunOutput, Vec<RequestRecord>) {
    let mut recs = Vec::new();
    let out = xpyd_sim::run(sc, System::Main, &mut |r| recs.push(r.clone())).unwrap();
    (out, recs)
}

fn cost_ms(model: &str, gpu: &str, tp: u32, shape: StepShape) -> f64 {
    let cm = CostModel::new(
        ModelArch::builtin(model).unwrap(),
        GpuSpec::builtin(gpu).unwrap(),
        tp,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    );
    cm.step(&shape).seconds * 1e3
}

/// A step's cost as the scenario's instances of TP `tp` price it (engine layer included).
fn sc_cost_ms(sc: &Scenario, tp: u32, shape: StepShape) -> f64 {
    sc.cost_model(tp).step(&shape).seconds * 1e3
}

fn prefill_shape(n: u64) -> StepShape {
    StepShape {
        prefill_tokens: n,
        prefill_seqs: 1,
        prefill_attn_pairs: n * (n + 1) / 2,
        ..Default::default()
    }
}

fn decode_shape(c: u64) -> StepShape {
    StepShape {
        decode_seqs: 1,
        decode_context_tokens: c,
        ..Default::default()
    }
}

const AGG_LOW: &str = r#"
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
backend = "vllm"
[deployment.aggregated]
replicas = 1
tp = 1
[workload]
requests = 10
[workload.arrival]
kind = "constant"
rate-rps = 0.05
[workload.input-tokens]
kind = "fixed"
tokens = 1000
[workload.output-tokens]
kind = "fixed"
tokens = 65
"#;

#[test]
fn near_zero_load_latencies_equal_the_step_costs() {
    let sc = scenario(AGG_LOW);
    let (_, recs) = run(&sc);
    // The engine layer's front-end time is in every response.
    let frontend = sc.frontend().as_millis_f64();
    let prefill = sc_cost_ms(&sc, 1, prefill_shape(1000)) + frontend;
    // Decode steps read contexts 1000..=1063; their mean is close to the midpoint's cost.
    let decode: f64 = (1000..1064)
        .map(|c| sc_cost_ms(&sc, 1, decode_shape(c)))
        .sum::<f64>()
        / 64.0;
    assert_eq!(recs.len(), 10);
    for r in &recs {
        let ttft = r.ttft_ms.unwrap();
        assert!(
            (ttft - prefill).abs() < 1e-3,
            "ttft {ttft} vs cost {prefill}"
        );
        let tpot = r.tpot_ms.unwrap();
        assert!(
            (tpot - decode).abs() / decode < 1e-4,
            "tpot {tpot} vs cost {decode}"
        );
        assert_eq!(r.queue_ms, Some(0.0));
    }
}

#[test]
fn pd_ttft_is_prefill_plus_handshake_plus_transfer() {
    let text = AGG_LOW
        .replace("mode = \"aggregated\"\nbackend = \"vllm\"\n[deployment.aggregated]\nreplicas = 1\ntp = 1",
            "backend = \"sglang\"\n[deployment.prefill]\nreplicas = 1\ntp = 1\n[deployment.decode]\nreplicas = 1\ntp = 1");
    let sc = scenario(&text);
    let (_, recs) = run(&sc);
    let prefill = sc_cost_ms(&sc, 1, prefill_shape(1000)) + sc.frontend().as_millis_f64();
    let bytes = sc.model.kv_bytes_per_token(Dtype::Bf16) * 1000.0;
    // Same node: NVLink at the KV efficiency.
    let link = sc.kv_transfer.intra_node_gb_s * 1e9 * sc.kv_transfer.efficiency;
    let transfer = bytes / link * 1e3;
    for r in &recs {
        let expect = sc.kv_transfer.bootstrap_ms + prefill + sc.kv_transfer.setup_ms + transfer;
        let ttft = r.ttft_ms.unwrap();
        assert!((ttft - expect).abs() < 2e-3, "ttft {ttft} vs {expect}");
        assert!((r.kv_transfer_ms.unwrap() - transfer).abs() < 2e-3);
    }
}

#[test]
fn overload_grows_ttft_and_saturates_throughput() {
    let base = SMALL.replace("requests = 150", "requests = 400");
    let at = |rate: f64| {
        let sc = scenario(&base.replace("rate-rps = 4.0", &format!("rate-rps = {rate}")));
        let (out, recs) = run(&sc);
        assert_eq!(out.metrics.requests.arrived, 400);
        assert_eq!(
            out.metrics.requests.completed
                + out.metrics.requests.rejected
                + out.metrics.requests.unfinished,
            400
        );
        assert_eq!(recs.len(), 400);
        out.metrics
    };
    let low = at(0.5);
    let high = at(50.0);
    let higher = at(100.0);
    assert!(
        high.ttft_ms.p50 > 10.0 * low.ttft_ms.p50,
        "{} vs {}",
        high.ttft_ms.p50,
        low.ttft_ms.p50
    );
    let (a, b) = (
        high.throughput.output_tokens_per_s,
        higher.throughput.output_tokens_per_s,
    );
    assert!(
        (a - b).abs() / a < 0.1,
        "throughput not saturated: {a} vs {b}"
    );
    assert!(a > low.throughput.output_tokens_per_s);
}

/// M/D/1: one server, deterministic service D (one prefill step), Poisson arrivals at
/// rate lambda: mean wait in queue = rho / (2 mu (1 - rho)) (Pollaczek-Khinchine).
/// 300,000 requests per load: measured within 0.7% (rho 0.5) and 1.4% (rho 0.8).
#[test]
fn md1_mean_wait_matches_pollaczek_khinchine() {
    let text_for = |rate: f64| {
        format!(
            r#"
seed = 3
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
backend = "vllm"
[deployment.aggregated]
replicas = 1
tp = 1
engine = {{ max-num-seqs = 1, max-batched-tokens = 2048 }}
[workload]
requests = 300000
[workload.arrival]
kind = "poisson"
rate-rps = {rate}
[workload.input-tokens]
kind = "fixed"
tokens = 2000
[workload.output-tokens]
kind = "fixed"
tokens = 1
"#
        )
    };
    // The service time as the scenario prices it (engine layer included; no rate effect).
    let service_ms = sc_cost_ms(&scenario(&text_for(1.0)), 1, prefill_shape(2000));
    for rho in [0.5, 0.8] {
        let rate = rho / (service_ms * 1e-3);
        let text = text_for(rate);
        let (out, recs) = run(&scenario(&text));
        assert_eq!(out.metrics.requests.completed, 300000);
        let mean_wait: f64 =
            recs.iter().map(|r| r.queue_ms.unwrap()).sum::<f64>() / recs.len() as f64;
        let expect = rho / (2.0 * (1.0 / service_ms) * (1.0 - rho));
        let rel = (mean_wait - expect).abs() / expect;
        assert!(
            rel < 0.04,
            "rho {rho}: mean wait {mean_wait:.2} ms vs M/D/1 {expect:.2} ms"
        );
        // 300,000 samples are past EXACT_SAMPLES: the summary's TTFT and queue come from
        // the streamed histogram; check them against the exact values of the records.
        for (name, d, exact) in [
            ("queue", &out.metrics.queue_ms, {
                let v = recs.iter().map(|r| r.queue_ms.unwrap());
                xpyd_sim::metrics::Distribution::from_samples(v.collect())
            }),
            ("ttft", &out.metrics.ttft_ms, {
                let v = recs.iter().map(|r| r.ttft_ms.unwrap());
                xpyd_sim::metrics::Distribution::from_samples(v.collect())
            }),
        ] {
            assert!(
                !d.exact && exact.exact,
                "{name}: streamed past EXACT_SAMPLES"
            );
            assert_eq!(d.count, exact.count, "{name}");
            assert!(
                (d.mean - exact.mean).abs() <= 1e-9 * exact.mean,
                "{name} mean"
            );
            for (got, want) in [(d.p50, exact.p50), (d.p90, exact.p90), (d.p99, exact.p99)] {
                // Half a bucket (2^-12) plus neighbouring ranks; 1 us absolute near zero.
                assert!(
                    (got - want).abs() <= 5e-4 * want + 1e-3,
                    "rho {rho} {name}: {got} vs exact {want}"
                );
            }
        }
    }
}

/// `xpyd validate` on the shipped H100 step file: every row reported, its prediction
/// the cost model's, and the summary over the rows; a bad row exits 2 naming the file,
/// line and column.
#[test]
fn validate_compares_steps_with_the_cost_model() {
    let steps = Path::new(env!("CARGO_MANIFEST_DIR")).join("validation/steps_h100.csv");
    let o = xpyd(&["validate", "--steps", steps.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 71);
    assert_eq!(v["all"]["rows"], 71);
    assert_eq!(v["by_gpu"]["h100"]["rows"], 71);
    let r = &rows[0];
    assert_eq!(
        (r["line"].as_u64(), r["phase"].as_str()),
        (Some(2), Some("prefill"))
    );
    assert_eq!(r["profile"], "builtin:h100");
    let shape = prefill_shape(r["tokens"].as_u64().unwrap());
    let predicted = cost_ms(r["model"].as_str().unwrap(), "h100", 1, shape);
    assert!((r["predicted_ms"].as_f64().unwrap() - predicted).abs() <= 1e-9 * predicted);
    let max = rows
        .iter()
        .map(|r| r["rel_error"].as_f64().unwrap().abs())
        .fold(0.0, f64::max);
    assert_eq!(v["all"]["max_abs_rel_error"].as_f64(), Some(max));

    let tmp = tmpdir("validate-bad");
    let bad = write(
        &tmp,
        "bad.csv",
        "model,gpu,tp,phase,batch,tokens,context,ms\n# measured\nqwen3-8b,h100,x,decode,1,1,1,1\n",
    );
    let o = xpyd(&["validate", "--steps", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.csv:3: column `tp`: `x` is not a non-negative integer"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `xpyd validate --serving`: JSON rows and groups for a silicon CSV (its own
/// deployments) and a vLLM bench JSON on a scenario; a malformed file exits 2 naming the
/// file and the field; `--steps` and `--serving` exclude each other.
#[test]
fn validate_serving_replays_measured_runs() {
    let csv = "tests/fixtures/serving/silicon.csv";
    let bench = "tests/fixtures/serving/vllm_bench.json";
    let o = xpyd(&[
        "validate",
        "--serving",
        csv,
        bench,
        "--scenario",
        "scenarios/aggregated-vllm-h100.toml",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for r in rows {
        for k in ["id", "backend", "gpu", "mode", "model"] {
            assert!(r[k].is_string(), "{k}: {r}");
        }
        assert!(r["ttft_ms"]["measured"].as_f64().unwrap() > 0.0);
        if r.get("skipped").is_none() {
            assert!(r["ttft_ms"]["predicted"].as_f64().unwrap() > 0.0);
            assert!(r["tpot_ms"]["error"].as_f64().unwrap().is_finite());
        } else {
            assert!(r["ttft_ms"]["predicted"].is_null());
        }
    }
    // The B300 row (no profile) and the PD row without worker counts.
    assert_eq!(
        rows.iter().filter(|r| r.get("skipped").is_some()).count(),
        2
    );
    assert!(!v["groups"].as_array().unwrap().is_empty());

    let o = xpyd(&[
        "validate",
        "--serving",
        "tests/fixtures/serving/vllm_bench_bad.json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("vllm_bench_bad.json: mean_tpot_ms:"),
        "{}",
        stderr(&o)
    );
    let o = xpyd(&["validate", "--serving", bench, "--steps", "x.csv"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `validate --serving --write-scenarios DIR` writes the scenario of every replayed row
/// (none for skipped rows), and `xpyd run` of one reproduces the row's predicted mean
/// TTFT and TPOT: the file is the replay, not an approximation of it.
#[test]
fn validate_serving_writes_each_replayed_rows_scenario() {
    let dir = tmpdir("validate-write-scenarios");
    let scen = dir.join("scenarios");
    let o = xpyd(&[
        "validate",
        "--serving",
        "tests/fixtures/serving/silicon.csv",
        "--write-scenarios",
        scen.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&scen)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = rows
        .iter()
        .filter(|r| r.get("skipped").is_none())
        .map(|r| format!("{}.toml", r["id"].as_str().unwrap()))
        .collect();
    want.sort();
    assert_eq!(names, want);
    assert!(want.len() >= 3, "{want:?}");
    let row = rows
        .iter()
        .find(|r| r.get("skipped").is_none() && r["backend"] == "vllm")
        .unwrap();
    let file = scen.join(format!("{}.toml", row["id"].as_str().unwrap()));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("engine-version = \"0.12.0\""), "{text}");
    // A run id met twice gets `-2` on its second file, and no file is overwritten.
    let fixture = std::fs::read_to_string("tests/fixtures/serving/silicon.csv").unwrap();
    let id = row["id"].as_str().unwrap();
    let line = fixture.lines().find(|l| l.starts_with(id)).unwrap();
    let twice = write(
        &dir,
        "twice.csv",
        &format!("{}\n{line}\n", fixture.trim_end()),
    );
    let scen2 = dir.join("scenarios-twice");
    let o = xpyd(&[
        "validate",
        "--serving",
        twice.to_str().unwrap(),
        "--write-scenarios",
        scen2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(scen2.join(format!("{id}.toml"))).unwrap(),
        std::fs::read_to_string(scen2.join(format!("{id}-2.toml"))).unwrap()
    );
    assert_eq!(std::fs::read_dir(&scen2).unwrap().count(), want.len() + 1);
    let out = dir.join("run");
    let o = xpyd(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
        "--no-baseline",
        "--intervals",
        "off",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = json(&out.join("summary.json"));
    for (metric, key) in [("ttft_ms", "ttft_ms"), ("tpot_ms", "tpot_ms")] {
        let got = s[metric]["mean"].as_f64().unwrap();
        let predicted = row[key]["predicted"].as_f64().unwrap();
        assert!(
            (got - predicted).abs() <= 1e-6 * predicted,
            "{metric}: run {got} vs replay {predicted}"
        );
    }
}
