//! `xpyd_sim::serving`: the four measured-run formats read from small real-shaped
//! fixtures (`tests/fixtures/serving/`), a malformed file of each named by file and field,
//! and replays that produce rows, groups and skips with finite errors, including a few
//! real rows of the shipped AIConfigurator silicon CSV when `../shared` is present.

use std::path::{Path, PathBuf};
use xpyd_sim::serving::{self, Format, ReplayOptions, Report, ServingError};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/serving")
        .join(name)
}

fn scenario() -> ReplayOptions {
    ReplayOptions {
        scenario: Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/aggregated-vllm-h100.toml"),
        ),
        ..ReplayOptions::default()
    }
}

fn assert_finite(report: &Report) {
    for r in report.rows.iter().filter(|r| r.skipped.is_none()) {
        for c in [&r.ttft_ms, &r.tpot_ms] {
            let e = c.error.expect("replayed rows have an error");
            assert!(e.is_finite() && e > -1.0, "{}: {e}", r.id);
        }
    }
}

#[test]
fn json_formats_read_and_replay_on_the_scenario() {
    for (file, format, clients, rate) in [
        ("vllm_bench.json", Format::VllmBench, Some(8), None),
        ("profile_export_aiperf.json", Format::Aiperf, Some(8), None),
        (
            "summary_lifecycle_metrics.json",
            Format::InferencePerf,
            None,
            Some(2.0),
        ),
    ] {
        let runs = serving::read(&fixture(file)).unwrap();
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(run.format, format, "{file}");
        assert_eq!(
            (run.load.clients, run.load.rate_rps),
            (clients, rate),
            "{file}"
        );
        assert!(run.ttft_ms.mean.unwrap() > 10.0 && run.tpot_ms.mean.unwrap() > 10.0);
        assert!(run.load.input_tokens.is_some() && run.load.output_tokens.is_some());
        let report = serving::replay(&runs, &scenario()).unwrap();
        let row = &report.rows[0];
        assert_eq!(row.skipped, None, "{file}");
        assert_eq!((row.gpu.as_str(), row.model.as_str()), ("h100", "qwen3-8b"));
        assert_eq!(report.groups.len(), 1);
        assert_eq!(report.groups[0].replayed, 1);
        assert!(row.ttft_p99_ms.is_some() && row.throughput_rps.is_some());
        assert_finite(&report);
    }
}

#[test]
fn malformed_files_name_the_file_and_field() {
    for (file, field) in [
        ("silicon_bad.csv", "line 3: silicon_ttft_ms"),
        ("vllm_bench_bad.json", "mean_tpot_ms"),
        ("profile_export_aiperf_bad.json", "time_to_first_token.avg"),
        (
            "summary_lifecycle_metrics_bad.json",
            "successes.latency.time_to_first_token.mean",
        ),
    ] {
        let err = serving::read(&fixture(file)).unwrap_err();
        assert!(matches!(err, ServingError::Field { .. }), "{file}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(file) && msg.contains(field), "{msg}");
    }
    let err = serving::read(&fixture("missing.json")).unwrap_err();
    assert!(matches!(err, ServingError::Io { .. }));
}

#[test]
fn silicon_rows_replay_their_own_deployment() {
    let runs = serving::read(&fixture("silicon.csv")).unwrap();
    assert_eq!(runs.len(), 6);
    assert!(runs.iter().all(|r| r.format == Format::SiliconCsv));
    let trt = &runs[0];
    assert_eq!((trt.backend.as_str(), trt.gpu.as_str()), ("trtllm", "h100"));
    // TensorRT-LLM rows run as TensorRT-LLM (issue 14 item 2), not on another engine.
    assert!(
        trt.notes.iter().all(|n| !n.contains("replayed as")),
        "{:?}",
        trt.notes
    );
    let toml = trt.scenario_toml.as_deref().unwrap();
    assert!(toml.contains("backend = \"trtllm\""), "{toml}");
    assert_eq!(trt.load.clients, Some(8));
    // An AIConfigurator sweep's TensorRT-LLM row runs as its benchmark rule deployed it:
    // chunked prefill off, a budget of batch + isl + 1500 (8 + 1024 + 1500), fixed lengths.
    assert!(!toml.contains("chunked-prefill"), "{toml}");
    assert!(toml.contains("engine.max-batched-tokens = 2532"), "{toml}");
    assert!(toml.contains("kind = \"fixed\"\ntokens = 1024"), "{toml}");
    assert!(trt.notes.iter().any(|n| n.contains("AIConfigurator sweep")));
    // A vLLM sweep row takes AIConfigurator's vLLM rule's budget too (8 + 1024 + 1500),
    // with vLLM's chunked prefill.
    let vllm = runs[1].scenario_toml.as_deref().unwrap();
    assert!(vllm.contains("engine.max-batched-tokens = 2532"), "{vllm}");
    // An InferenceX row draws both lengths uniformly from [0.8 x L, L].
    let ix = runs[3].scenario_toml.as_deref().unwrap();
    assert!(
        ix.contains("[workload.input-tokens]\nkind = \"uniform\"\nmin = 819\nmax = 1024"),
        "{ix}"
    );
    assert!(ix.contains("warmup-requests = 0"), "{ix}");
    assert!(runs[3].notes.iter().any(|n| n.contains("InferenceX")));
    // A PD row without its worker counts: InferenceX publishes its deployment (1 prefill
    // and 9 decode TP 8 workers) both with and without MTP, so the row does not say which
    // ran: skipped, saying so.
    let why = runs[3].skip.as_deref().unwrap();
    assert!(
        why.starts_with("ambiguous: InferenceX dsr1-fp8-h200-dynamo-sglang")
            && why.contains("decode 9 x TP8/EP1"),
        "{why}"
    );
    assert!(runs[4].skip.as_deref().unwrap().contains("b300_sxm"));
    // A PD row with DP-attention prefill (tp_size 1 x attention_dp_size 8) and an
    // expert-parallel decode (TP 8, EP 8): GPUs, DP and EP per role, and the batch per
    // attention rank times the ranks (prefill 1 x 8; decode 16 x 1).
    let dp = &runs[5];
    assert!(dp.skip.is_none(), "{:?}", dp.skip);
    let toml = dp.scenario_toml.as_deref().unwrap();
    assert!(
        toml.contains(
            "[deployment.prefill]\nreplicas = 1\ntp = 8\ndp = 8\nep = 8\nengine.max-num-seqs = 8\n"
        ),
        "{toml}"
    );
    assert!(
        toml.contains(
            "[deployment.decode]\nreplicas = 9\ntp = 8\nep = 8\nengine.max-num-seqs = 16\n"
        ),
        "{toml}"
    );
    let report = serving::replay(&runs, &ReplayOptions::default()).unwrap();
    let skipped: Vec<_> = report.rows.iter().filter(|r| r.skipped.is_some()).collect();
    assert_eq!(skipped.len(), 2);
    assert!(report.rows[5].skipped.is_none());
    assert!(report.rows[5].ttft_ms.predicted.is_some());
    assert_eq!(report.groups.len(), 6);
    assert_eq!(report.rows[3].mode, "disaggregated");
    assert_finite(&report);
}

/// Real rows of the shipped silicon CSV (skipped cleanly when ../shared is absent).
#[test]
fn shipped_silicon_rows_replay() {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/engine-benchmarks/silicon_sample_train.csv");
    if !csv.exists() {
        eprintln!("skipped: {} not present", csv.display());
        return;
    }
    let keep = [
        "qwen_qwen3_32b_qwen_qwen3_32b_h100_sxm_vllm_agg_1024x128_c8_tp2_epnone_1",
        "qwen_qwen3_32b_qwen_qwen3_32b_h100_sxm_sglang_agg_1024x128_c16_tp2_epnone_1",
        "qwen_qwen3_32b_qwen_qwen3_32b_h100_sxm_trtllm_agg_1024x128_c8_tp1_epnone_1",
        "minimaxm2_5_b300_vllm_fp8_agg_8192x1024_c128_cfg733",
    ];
    let runs: Vec<_> = serving::read(&csv)
        .unwrap()
        .into_iter()
        .filter(|r| keep.contains(&r.id.as_str()))
        .collect();
    assert_eq!(runs.len(), keep.len());
    let report = serving::replay(&runs, &ReplayOptions::default()).unwrap();
    assert_eq!(report.rows.len(), 4);
    assert_eq!(
        report.rows.iter().filter(|r| r.skipped.is_some()).count(),
        1
    );
    assert!(
        report
            .groups
            .iter()
            .any(|g| g.replayed == 1 && g.ttft_median_abs_error.is_some())
    );
    assert_finite(&report);
}
