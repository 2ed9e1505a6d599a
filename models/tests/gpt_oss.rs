//! gpt-oss-120b (issue 15 item 3): MXFP4 experts, sliding-window layers, loaded from its
//! `config.json` exactly as the catalog has it; weights, KV per token and per sequence,
//! and the sliding layers' attention cost.

use std::path::Path;
use xpyd_models::{
    CostModel, Dtype, Efficiencies, ExpertWeights, GpuSpec, MemoryPlan, ModelArch, StepShape,
};

fn oss() -> ModelArch {
    ModelArch::builtin("gpt-oss-120b").unwrap()
}

#[test]
fn the_config_json_loads_as_the_catalog_entry() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpt-oss-120b.config.json");
    let mut loaded = ModelArch::from_hf_config_file(&file).unwrap();
    let cat = oss();
    loaded.id = cat.id.clone();
    loaded.hf_repo = cat.hf_repo.clone();
    assert_eq!(loaded, cat);
    let m = cat.moe.as_ref().unwrap();
    assert_eq!(m.expert_weights, ExpertWeights::Mxfp4);
    assert_eq!(cat.full_attention_layers(), 18);
    // A layer_types list of the wrong length is an error naming the field.
    let text = std::fs::read_to_string(&file).unwrap();
    let bad = text.replacen("\"sliding_attention\", \"full_attention\",", "", 1);
    let e = ModelArch::from_hf_config_str(&bad, Path::new("bad.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer_types") && e.contains("34 entries"), "{e}");
    // Every layer sliding (no full-attention layer) is refused, not a zero KV per token.
    let all = text.replace("\"full_attention\"", "\"sliding_attention\"");
    let e = ModelArch::from_hf_config_str(&all, Path::new("all.json"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer_types") && e.contains("every layer"),
        "{e}"
    );
}

#[test]
fn weights_and_kv_follow_the_formats() {
    let a = oss();
    // 116.8B parameters (OpenAI's model card: 116.8B total).
    let b = a.param_count() / 1e9;
    assert!((b - 116.8).abs() < 0.1, "{b}");
    // Experts at 4.25 bits, the rest bf16: about 65 GB, which fits one 80 GB GPU.
    let gb = a.weight_bytes(Dtype::Bf16) / 1e9;
    let expect = a.routed_expert_params() * 4.25 / 8.0 / 1e9
        + (a.param_count() - a.routed_expert_params()) * 2.0 / 1e9;
    assert!(
        (gb - expect).abs() < 1e-9 && (64.0..66.0).contains(&gb),
        "{gb}"
    );
    // KV: only the 18 full-attention layers hold every token (2 x 8 heads x 64 x 2 B);
    // the 18 sliding layers hold 128 tokens per sequence.
    assert_eq!(
        a.kv_bytes_per_token_per_gpu(Dtype::Bf16, 1),
        18.0 * 2.0 * 8.0 * 64.0 * 2.0
    );
    assert_eq!(
        a.kv_window_bytes_per_seq_per_gpu(Dtype::Bf16, 1),
        18.0 * 128.0 * 2.0 * 8.0 * 64.0 * 2.0
    );
    let h100 = GpuSpec::builtin("h100").unwrap();
    let plan = MemoryPlan::new(&a, &h100, 1, Dtype::Bf16, Dtype::Bf16, 0.9, 2.0).unwrap();
    let reserved = plan.clone().reserve_windows(256);
    let window = 256.0 * a.kv_window_bytes_per_seq_per_gpu(Dtype::Bf16, 1);
    assert!((plan.kv_bytes_per_gpu - reserved.kv_bytes_per_gpu - window).abs() < 1.0);
    assert!(reserved.kv_capacity_tokens < plan.kv_capacity_tokens);
    // Without the sliding layers every token would cost twice as much.
    let mut full = a.clone();
    full.sliding_window = None;
    assert_eq!(
        full.kv_bytes_per_token_per_gpu(Dtype::Bf16, 1),
        2.0 * a.kv_bytes_per_token_per_gpu(Dtype::Bf16, 1)
    );
}

#[test]
fn sliding_layers_read_at_most_their_window() {
    let model = |a: ModelArch| {
        CostModel::new(
            a,
            GpuSpec::builtin("h200").unwrap(),
            1,
            Dtype::Bf16,
            Dtype::Bf16,
            Efficiencies::default(),
        )
    };
    let mut full = oss();
    full.sliding_window = None;
    let (w, f) = (model(oss()), model(full));
    // Long contexts: half the layers read 128 tokens instead of 8192.
    let d = StepShape::decode_batch(64, 8192);
    let (dw, df) = (
        w.breakdown(&d).attention_decode_s,
        f.breakdown(&d).attention_decode_s,
    );
    assert!(dw < 0.6 * df && dw > 0.45 * df, "{dw} vs {df}");
    // Within the window the layers are alike.
    let short = StepShape::decode_batch(64, 100);
    assert_eq!(
        w.breakdown(&short).attention_decode_s,
        f.breakdown(&short).attention_decode_s
    );
    let p = StepShape::prefill_chunk(8192, 0);
    assert!(w.breakdown(&p).attention_prefill_s < 0.6 * f.breakdown(&p).attention_prefill_s);
    // The memoised path prices the same step identically.
    let mut memo = xpyd_models::StepMemo::new();
    assert_eq!(w.step_seconds_memo(&d, &mut memo), w.step_seconds(&d));
}
