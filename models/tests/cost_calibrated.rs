//! Calibrated step costs: which terms come from the shipped H100/H200 profiles, exactness
//! at measured points, fallbacks and their labels, and monotonicity.

use proptest::prelude::*;
use std::sync::Arc;
use xpyd_models::profile::Profile;
use xpyd_models::{
    CostModel, CostSource, Dtype, Efficiencies, ExpertDtype, GpuSpec, ModelArch, MoeKernel,
    StepShape, TermSource, builtin_profile,
};

fn model(id: &str, gpu: &str, tp: u32) -> CostModel {
    CostModel::new(
        ModelArch::builtin(id).unwrap(),
        GpuSpec::builtin(gpu).unwrap(),
        tp,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    )
}

fn decode(seqs: u32, ctx_each: u64) -> StepShape {
    StepShape {
        decode_seqs: seqs,
        decode_context_tokens: u64::from(seqs) * ctx_each,
        ..StepShape::default()
    }
}

fn prefill(tokens: u64) -> StepShape {
    StepShape {
        prefill_tokens: tokens,
        prefill_seqs: 1,
        prefill_attn_pairs: tokens * (tokens + 1) / 2,
        ..StepShape::default()
    }
}

#[test]
fn catalog_models_are_calibrated_on_h100_and_h200_at_tp_1_2_4() {
    for gpu in ["h100", "h200"] {
        for id in ["llama-3.1-8b", "qwen3-8b", "qwen3-32b", "llama-3.1-70b"] {
            for tp in [1, 2, 4] {
                let c = model(id, gpu, tp);
                assert_eq!(c.source(), CostSource::Calibrated, "{id} {gpu} tp{tp}");
                assert_eq!(c.profile_origin(), Some(format!("builtin:{gpu}").as_str()));
                for shape in [prefill(2048), decode(32, 2048)] {
                    let s = c.step(&shape);
                    assert_eq!(s.source, CostSource::Calibrated, "{id} {gpu} tp{tp}");
                    assert_eq!(s.sources.gemm, TermSource::Calibrated);
                    assert_eq!(s.sources.lm_head, TermSource::Calibrated);
                    assert_eq!(s.sources.memory_bound, TermSource::Calibrated);
                    assert_eq!(s.sources.overhead, TermSource::Assumed);
                    let attention = if shape.decode_seqs > 0 {
                        s.sources.attention_decode
                    } else {
                        s.sources.attention_prefill
                    };
                    assert_eq!(attention, TermSource::Calibrated, "{id} {gpu} tp{tp}");
                    let ar = s.sources.allreduce;
                    match (gpu, tp) {
                        (_, 1) => assert_eq!(ar, TermSource::None),
                        // The H100 profile has no multi-GPU tables: the H200 node's
                        // (same NVLink 4 / NVSwitch) are borrowed, and labelled so.
                        ("h100", _) => assert_eq!(ar, TermSource::Borrowed),
                        _ => assert_eq!(ar, TermSource::Calibrated),
                    }
                }
            }
        }
    }
}

#[test]
fn tp8_allreduce_on_h200_is_extrapolated_from_2_and_4_gpus() {
    let c8 = model("qwen3-32b", "h200", 8);
    let c4 = model("qwen3-32b", "h200", 4);
    for shape in [decode(8, 1024), prefill(8192)] {
        let s8 = c8.step(&shape);
        let s4 = c4.step(&shape);
        assert_eq!(s8.sources.allreduce, TermSource::Extrapolated);
        assert_eq!(s8.sources.gemm, TermSource::Calibrated);
        // Two more GPUs on the ring: at least the bus-traffic growth 2(7/8)/2(3/4) = 7/6,
        // at most twice that.
        let r = s8.breakdown.allreduce_s / s4.breakdown.allreduce_s;
        assert!((7.0 / 6.0 * 0.999..=7.0 / 3.0 * 1.001).contains(&r), "{r}");
    }
}

#[test]
fn other_gpus_keep_the_roofline_exactly() {
    for gpu in ["l20", "a100", "h20", "b200"] {
        let c = model("qwen3-32b", gpu, 2);
        assert_eq!(c.source(), CostSource::Roofline);
        assert_eq!(c.profile_origin(), None);
        let r = c.clone().with_profile(None);
        for shape in [prefill(3000), decode(64, 5000)] {
            let s = c.step(&shape);
            assert_eq!(s, r.step(&shape));
            assert_eq!(s.source, CostSource::Roofline);
            assert_eq!(s.sources.gemm, TermSource::Roofline);
        }
    }
}

#[test]
fn with_profile_none_is_the_roofline_and_some_restores_calibration() {
    let c = model("llama-3.1-8b", "h100", 1);
    let r = c.clone().with_profile(None);
    assert_eq!(r.source(), CostSource::Roofline);
    assert_eq!(r.profile_origin(), None);
    let s = r.step(&decode(8, 1000));
    assert_eq!(s.source, CostSource::Roofline);
    assert_eq!(s.sources.attention_decode, TermSource::Roofline);
    let back = r.with_profile(builtin_profile("h100"));
    assert_eq!(back.profile_origin(), Some("builtin:h100"));
    assert_eq!(back.step(&decode(8, 1000)), c.step(&decode(8, 1000)));
    // A profile given by the caller is labelled with the name it is given.
    let p = Arc::new(Profile::builtin("h200").unwrap());
    let named = c.with_profile_named(Some(p), "my/h200.json");
    assert_eq!(named.profile_origin(), Some("my/h200.json"));
}

/// The shipped profile of `gpu` without its sustained-GEMM table: GEMM terms as measured
/// one kernel at a time.
fn isolated(gpu: &str) -> Arc<Profile> {
    let mut d = builtin_profile(gpu).unwrap().data().clone();
    d.gemm_sustained.clear();
    Arc::new(Profile::new(d, "isolated").unwrap())
}

#[test]
fn gemms_are_exact_at_measured_points() {
    let p = isolated("h100");
    let c = model("llama-3.1-8b", "h100", 1).with_profile(Some(Arc::clone(&p)));
    let gap = p.launch_gap_s().unwrap_or(0.0);
    for m in [1u32, 64, 1024] {
        let per_layer: f64 = [(6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336)]
            .iter()
            .map(|&(n, k)| {
                // The measured value, raised to the largest one at a smaller measured m
                // (the running maximum keeps the table monotone).
                let measured = p
                    .data()
                    .gemm
                    .iter()
                    .filter(|r| r.n == n && r.k == k && r.dtype == Dtype::Bf16)
                    .filter(|r| r.m <= u64::from(m))
                    .map(|r| p.gemm_seconds(r.m, n, k, Dtype::Bf16).unwrap())
                    .fold(0.0, f64::max);
                measured + gap
            })
            .sum();
        let got = c.gemm_seconds(&decode(m, 100));
        assert!(
            (got / (32.0 * per_layer) - 1.0).abs() < 1e-9,
            "m={m}: {got} vs {}",
            32.0 * per_layer
        );
    }
}

#[test]
fn beyond_coverage_falls_back_to_the_roofline_and_says_so() {
    let c = model("llama-3.1-8b", "h100", 1);
    // 300k tokens in one step: beyond 4x the largest measured GEMM (16k).
    let s = c.step(&StepShape {
        prefill_tokens: 300_000,
        prefill_seqs: 40,
        prefill_attn_pairs: 40 * 7500 * 7501 / 2,
        ..StepShape::default()
    });
    assert_eq!(s.sources.gemm, TermSource::Roofline);
    assert_eq!(s.source, CostSource::Roofline);
    // FP8-KV decode rows of the H200 profile (measured 2026-12-06): decode attention
    // over an fp8 cache is calibrated there too.
    let f = CostModel::new(
        ModelArch::builtin("llama-3.1-8b").unwrap(),
        GpuSpec::builtin("h200").unwrap(),
        1,
        Dtype::Bf16,
        Dtype::Fp8,
        Efficiencies::default(),
    );
    let s = f.step(&decode(16, 4000));
    assert_eq!(s.sources.attention_decode, TermSource::Calibrated);
    assert_eq!(s.sources.gemm, TermSource::Calibrated);
    assert_eq!(s.source, CostSource::Calibrated);
}

#[test]
fn fp8_kv_decode_attention_uses_the_fp8_rows_and_is_cheaper_at_long_context() {
    let with_kv = |id: &str, tp: u32, kv: Dtype| {
        CostModel::new(
            ModelArch::builtin(id).unwrap(),
            GpuSpec::builtin("h100").unwrap(),
            tp,
            Dtype::Bf16,
            kv,
            Efficiencies::default(),
        )
    };
    let (b, f) = (
        with_kv("llama-3.1-8b", 1, Dtype::Bf16),
        with_kv("llama-3.1-8b", 1, Dtype::Fp8),
    );
    assert_eq!(f.source(), CostSource::Calibrated);
    let p = builtin_profile("h100").unwrap();
    let layers = f64::from(ModelArch::builtin("llama-3.1-8b").unwrap().num_layers);
    let gap = p.launch_gap_s().unwrap_or(0.0);
    for (seqs, ctx) in [(32u32, 32768u32), (256, 8192), (8, 2048), (100, 3000)] {
        let sf = f.step(&decode(seqs, u64::from(ctx)));
        assert_eq!(sf.sources.attention_decode, TermSource::Calibrated);
        assert_eq!(sf.source, CostSource::Calibrated);
        // One call over the fp8 rows (32 query heads over 8 KV heads), plus the gap.
        let one = p
            .decode_attention_seconds(seqs, ctx, 32, 8, 128, Dtype::Fp8)
            .unwrap();
        let want = layers * (one + gap);
        assert!(
            (sf.breakdown.attention_decode_s - want).abs() <= 1e-9 * want,
            "{seqs}x{ctx}: {} vs {want}",
            sf.breakdown.attention_decode_s
        );
    }
    // At long context the fp8 cache halves the bytes read: the measured kernel is faster
    // (about 1.5x on H100). The GEMMs barely move (their sustained-clock blend depends on
    // the step's share of GPU time in GEMMs).
    for (seqs, ctx) in [(32u32, 32768u64), (256, 8192)] {
        let (sb, sf) = (b.step(&decode(seqs, ctx)), f.step(&decode(seqs, ctx)));
        let (tb, tf) = (
            sb.breakdown.attention_decode_s,
            sf.breakdown.attention_decode_s,
        );
        assert!(tf < 0.8 * tb, "{seqs}x{ctx}: fp8 {tf} vs bf16 {tb}");
        assert!((sb.breakdown.gemm_s - sf.breakdown.gemm_s).abs() <= 0.01 * sb.breakdown.gemm_s);
    }
    // Absorbed MLA over an fp8 latent cache, with the measured kernel asked for: the fp8
    // MLA rows at 16 heads per GPU.
    let d = with_kv("deepseek-v3", 8, Dtype::Fp8).with_mla_decode_measured(true);
    let layers = f64::from(ModelArch::builtin("deepseek-v3").unwrap().num_layers);
    let s = d.step(&decode(64, 4096));
    assert_eq!(s.sources.attention_decode, TermSource::Calibrated);
    let one = p
        .mla_decode_seconds(64, 4096, 16, 512, 64, Dtype::Fp8)
        .unwrap();
    let want = layers * (one + gap);
    assert!((s.breakdown.attention_decode_s - want).abs() <= 1e-9 * want);
}

#[test]
fn sustained_factor_slows_compute_bound_gemms_within_the_measured_ratio() {
    for gpu in ["h100", "h200"] {
        let p = builtin_profile(gpu).unwrap();
        let rows = &p.data().gemm_sustained;
        assert_eq!(rows.len(), 15, "{gpu}: stacks of m = 1 ... 16384");
        let top = rows.iter().map(|r| r.ratio).fold(1.0, f64::max);
        let s = model("llama-3.1-8b", gpu, 1);
        let i = model("llama-3.1-8b", gpu, 1).with_profile(Some(isolated(gpu)));
        // Decode at batch 1: the stack ran no slower than its kernels (factor 1).
        assert_eq!(
            s.gemm_seconds(&decode(1, 100)),
            i.gemm_seconds(&decode(1, 100))
        );
        // Prefill of 512 tokens: slower, by at most the largest measured ratio.
        let (a, b) = (s.gemm_seconds(&prefill(512)), i.gemm_seconds(&prefill(512)));
        assert!(
            a > b * 1.03 && a <= b * top,
            "{gpu}: {a} vs {b} (top {top})"
        );
        assert!(
            s.describe_assumptions()
                .iter()
                .any(|(_, v)| v.contains("sustained clocks (measured"))
        );
    }
}

#[test]
fn moe_gemms_are_calibrated_from_grouped_expert_rows() {
    for (gpu, tp, w) in [
        ("h200", 4, Dtype::Bf16),
        ("h100", 8, Dtype::Fp8),
        ("h200", 1, Dtype::Fp8),
    ] {
        let arch = ModelArch::builtin("qwen3-235b-a22b").unwrap();
        let q = CostModel::new(
            arch.clone(),
            GpuSpec::builtin(gpu).unwrap(),
            tp,
            w,
            Dtype::Bf16,
            Efficiencies::default(),
        );
        for shape in [decode(16, 2000), decode(64, 4000), prefill(4096)] {
            let s = q.step(&shape);
            assert_eq!(s.sources.gemm, TermSource::Calibrated, "{gpu} tp{tp}");
            assert!(
                s.sources.attention_decode.is_measured()
                    || s.sources.attention_decode == TermSource::None
            );
            assert_eq!(s.source, CostSource::Calibrated, "{gpu} tp{tp} {shape:?}");
        }
        assert_eq!(q.source(), CostSource::Calibrated);
    }
    // At a measured token count, without the sustained factor, the MoE part is exactly
    // the grouped-experts row plus the router row plus the graph gaps, per MoE layer.
    let p = isolated("h200");
    let arch = ModelArch::builtin("qwen3-235b-a22b").unwrap();
    let q = CostModel::new(
        arch.clone(),
        GpuSpec::builtin("h200").unwrap(),
        4,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    )
    .with_profile(Some(Arc::clone(&p)))
    .with_moe_kernel(MoeKernel::CutlassGrouped);
    let gap = p.launch_gap_s().unwrap();
    // Each part's measured value, raised to the largest at a smaller measured size (the
    // running maximum keeps every table monotone).
    let row = |n: u64, k: u64, m: u64| {
        p.data()
            .gemm
            .iter()
            .filter(|r| (r.n, r.k, r.dtype) == (n, k, Dtype::Bf16) && r.m <= m)
            .map(|r| r.seconds)
            .fold(0.0, f64::max)
    };
    for m in [1u64, 64, 1024] {
        let experts = p
            .data()
            .moe_experts
            .iter()
            .filter(|r| {
                (r.hidden, r.inter, r.experts, r.top_k, r.dtype)
                    == (4096, 384, 128, 8, ExpertDtype::Bf16)
                    && r.tokens <= m
                    && r.kernel.starts_with("torch-")
            })
            .map(|r| r.seconds)
            .fold(0.0, f64::max);
        // 94 layers: QKV (64/4 + 2 x 1 KV heads) x 128 = 2304 by 4096, O 4096 by 2048.
        let attn = row(2304, 4096, m) + row(4096, 2048, m) + 2.0 * gap;
        let moe = experts + row(128, 4096, m) + 3.0 * gap;
        let want = 94.0 * (attn + moe);
        let got = q.gemm_seconds(&decode(m as u32, 100));
        assert!((got / want - 1.0).abs() < 1e-9, "m={m}: {got} vs {want}");
    }
    // Between measured token counts: between the neighbours, monotone.
    let mut last = 0.0;
    for m in 1..=300u32 {
        let g = q.gemm_seconds(&decode(m, 100));
        assert!(g >= last, "m={m}");
        last = g;
    }
}

#[test]
fn deepseek_v3_prefill_and_mla_decode_are_calibrated() {
    let roofline_decode = CostModel::new(
        ModelArch::builtin("deepseek-v3").unwrap(),
        GpuSpec::builtin("h200").unwrap(),
        8,
        Dtype::Fp8,
        Dtype::Bf16,
        Efficiencies::default(),
    );
    // By default MLA decode attention is the roofline's (the engines' FlashMLA-class
    // kernels), everything else measured; the measured kernel is slower.
    assert!(!roofline_decode.mla_decode_measured());
    let r = roofline_decode.step(&decode(64, 4096));
    assert_eq!(r.sources.attention_decode, TermSource::Roofline);
    assert_eq!(r.sources.gemm, TermSource::Calibrated);
    let d = roofline_decode.clone().with_mla_decode_measured(true);
    assert!(
        d.step(&decode(64, 4096)).breakdown.attention_decode_s > r.breakdown.attention_decode_s
    );
    assert_eq!(
        d.clone()
            .with_mla_decode_measured(false)
            .step(&decode(64, 4096)),
        r
    );
    // MLA projections, the MoE layers (router, grouped experts, shared expert), the dense
    // layers' FFN, MLA prefill and absorbed-MLA decode attention are measured.
    assert_eq!(d.source(), CostSource::Calibrated);
    let s = d.step(&prefill(2048));
    assert_eq!(s.sources.gemm, TermSource::Calibrated);
    assert_eq!(s.sources.attention_prefill, TermSource::Calibrated);
    assert_eq!(s.source, CostSource::Calibrated);
    // MLA decode attention over the latent cache: the absorbed-MLA rows at 16 heads per
    // GPU, once per layer, plus the launch gap.
    let p = builtin_profile("h200").unwrap();
    let layers = f64::from(ModelArch::builtin("deepseek-v3").unwrap().num_layers);
    let gap = p.launch_gap_s().unwrap_or(0.0);
    for (seqs, ctx) in [(64u32, 4096u32), (1, 128), (256, 8192), (100, 3000)] {
        let s = d.step(&decode(seqs, u64::from(ctx)));
        assert_eq!(s.sources.gemm, TermSource::Calibrated);
        assert_eq!(s.sources.attention_decode, TermSource::Calibrated);
        assert_eq!(s.source, CostSource::Calibrated);
        let one = p
            .mla_decode_seconds(seqs, ctx, 16, 512, 64, Dtype::Bf16)
            .unwrap();
        let want = layers * (one + gap);
        assert!(
            (s.breakdown.attention_decode_s - want).abs() <= 1e-9 * want,
            "{seqs}x{ctx}: {} vs {want}",
            s.breakdown.attention_decode_s
        );
    }
    // Batch 256 at 32768 is a hole in the grid (over 8 GiB of cache): two calls of 128.
    let s = d.step(&decode(256, 32768));
    assert_eq!(s.sources.attention_decode, TermSource::Calibrated);
    let half = p
        .mla_decode_seconds(128, 32768, 16, 512, 64, Dtype::Bf16)
        .unwrap();
    let want = layers * 2.0 * (half + gap);
    assert!((s.breakdown.attention_decode_s - want).abs() <= 1e-9 * want);
    // Beyond 4x the measured context: linear from that edge (never cheaper than a
    // shorter context, as the roofline below it would be).
    let edge = d.step(&decode(8, 131_072));
    let s = d.step(&decode(8, 200_000));
    assert_eq!(s.sources.attention_decode, TermSource::Calibrated);
    let ratio = s.breakdown.attention_decode_s / edge.breakdown.attention_decode_s;
    assert!(ratio > 1.4 && ratio < 1.6, "{ratio}");
    // An fp8 latent cache: the fp8 MLA rows (H200 since 2026-12-06), cheaper than bf16's.
    let f8 = CostModel::new(
        ModelArch::builtin("deepseek-v3").unwrap(),
        GpuSpec::builtin("h200").unwrap(),
        8,
        Dtype::Fp8,
        Dtype::Fp8,
        Efficiencies::default(),
    )
    .with_mla_decode_measured(true);
    let f8_step = f8.step(&decode(32, 4000));
    assert_eq!(f8_step.sources.attention_decode, TermSource::Calibrated);
    assert!(
        f8_step.breakdown.attention_decode_s
            < d.step(&decode(32, 4000)).breakdown.attention_decode_s
    );
    // More context or more sequences never make the calibrated term cheaper here.
    let mut last = 0.0;
    for ctx in [128u64, 300, 1000, 4096, 10_000, 32768] {
        let t = d.step(&decode(64, ctx)).breakdown.attention_decode_s;
        assert!(t >= last, "{ctx}");
        last = t;
    }
    let text: Vec<String> = d
        .describe_assumptions()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let text = text.join(" ");
    assert!(text.contains("measured (MLA, torch-sdpa-cudnn)"), "{text}");
    assert!(text.contains("measured (MLA projections)"), "{text}");
    assert!(
        text.contains("decode attention measured (absorbed MLA)"),
        "{text}"
    );
    assert!(
        text.contains("grouped experts + shared experts measured"),
        "{text}"
    );
    // Without the format 2 tables (a version 1 profile) MLA prefill is roofline again.
    let mut v1 = builtin_profile("h200").unwrap().data().clone();
    v1.format_version = 1;
    v1.moe_experts.clear();
    v1.gemm_sustained.clear();
    v1.attention_decode_mla.clear();
    v1.attention_prefill.retain(|r| r.v_head_dim.is_none());
    let d1 = d
        .clone()
        .with_profile(Some(Arc::new(Profile::new(v1, "v1").unwrap())));
    assert_eq!(
        d1.step(&prefill(2048)).sources.attention_prefill,
        TermSource::Roofline
    );
    // Nor is MLA decode attention without its table.
    assert_eq!(
        d1.step(&decode(32, 4000)).sources.attention_decode,
        TermSource::Roofline
    );
    assert_eq!(d1.source(), CostSource::Roofline);
}

#[test]
fn empty_step_is_free_and_breakdown_sums() {
    let c = model("qwen3-32b", "h200", 2);
    let e = c.step(&StepShape::default());
    assert_eq!(e.seconds, 0.0);
    assert_eq!(e.sources.gemm, TermSource::None);
    let shape = StepShape {
        prefill_tokens: 1000,
        prefill_seqs: 2,
        prefill_attn_pairs: 700_000,
        decode_seqs: 64,
        decode_context_tokens: 64 * 3000,
    };
    let s = c.step(&shape);
    assert!((s.breakdown.total() - s.seconds).abs() <= 1e-12 * s.seconds);
    assert_eq!(c.step_seconds(&shape), s.seconds);
}

fn shape_strategy() -> impl Strategy<Value = StepShape> {
    (
        0u64..20_000,
        0u32..8,
        0u64..50_000_000,
        0u32..512,
        0u64..300_000,
    )
        .prop_map(|(pt, ps, pairs, ds, ctx)| StepShape {
            prefill_tokens: pt,
            prefill_seqs: ps,
            prefill_attn_pairs: pairs,
            decode_seqs: ds,
            decode_context_tokens: if ds == 0 { 0 } else { ctx.max(u64::from(ds)) },
        })
}

proptest! {
    /// More tokens, attention pairs, sequences or context never make a calibrated step
    /// cheaper. A new decode sequence brings at least the mean context of the others
    /// (spreading the same KV over more sequences can run faster, as measured).
    #[test]
    fn calibrated_more_work_is_never_cheaper(s in shape_strategy(), field in 0usize..5, extra in 1u64..10_000) {
        let models = [
            model("llama-3.1-8b", "h100", 1),
            model("qwen3-32b", "h200", 2),
            model("qwen3-32b", "h200", 8),
            model("qwen3-8b", "h100", 4),
        ];
        let mut more = s;
        match field {
            0 => more.prefill_tokens += extra,
            1 => more.prefill_seqs += 1,
            2 => more.prefill_attn_pairs += extra,
            3 => {
                let mean = s.decode_context_tokens.div_ceil(u64::from(s.decode_seqs.max(1)));
                more.decode_seqs += 1;
                more.decode_context_tokens += mean.max(1) + extra;
            }
            _ => {
                if more.decode_seqs > 0 {
                    more.decode_context_tokens += extra;
                }
            }
        }
        for c in &models {
            let a = c.step(&s);
            let b = c.step(&more);
            prop_assert!(a.seconds.is_finite() && a.seconds >= 0.0);
            prop_assert!(b.seconds >= a.seconds, "{} {}: {:?} -> {:?}: {} > {}", c.arch().id, c.tp(), s, more, a.seconds, b.seconds);
        }
    }
}

#[test]
fn sustained_factor_slows_calibrated_prefill_attention_within_the_measured_ratio() {
    for gpu in ["h100", "h200"] {
        let c = model("llama-3.1-8b", gpu, 1);
        let p = builtin_profile(gpu).unwrap();
        let max_ratio = p
            .data()
            .attention_sustained
            .iter()
            .map(|r| r.ratio)
            .fold(1.0, f64::max);
        assert!(max_ratio > 1.0);
        let mut plain = p.data().clone();
        plain.attention_sustained.clear();
        let iso = c
            .clone()
            .with_profile(Some(Arc::new(Profile::new(plain, "plain").unwrap())));
        for (tokens, slower) in [(512u64, false), (1024, false), (8192, true)] {
            let a = c.step(&prefill(tokens));
            let b = iso.step(&prefill(tokens));
            assert_eq!(a.sources.attention_prefill, TermSource::Calibrated);
            let (sa, sb) = (
                a.breakdown.attention_prefill_s,
                b.breakdown.attention_prefill_s,
            );
            if slower {
                assert!(
                    sa > sb && sa <= sb * max_ratio,
                    "{gpu} {tokens}: {sa} vs {sb}"
                );
            } else {
                // Measured ratios below 1 are not credited.
                assert_eq!(sa, sb, "{gpu} {tokens}");
            }
            // Decode-only steps have no prefill attention to scale.
            assert_eq!(c.step(&decode(8, 1000)).breakdown.attention_prefill_s, 0.0);
        }
    }
}

#[test]
fn head_dim_64_prefill_attention_is_calibrated_by_its_own_rows() {
    use xpyd_models::profile::{PrefillAttentionRow, prefill_attention_flops};
    // gpt-oss-120b (64-dim heads) on an H100 at TP 1: the shipped profile has
    // head-dim-64 rows (2026-12-07); without them it is the roofline, and rows of the
    // default kernel (the fastest, cuDNN SDPA) price it.
    assert_eq!(
        model("gpt-oss-120b", "h100", 1)
            .step(&prefill(4096))
            .sources
            .attention_prefill,
        TermSource::Calibrated
    );
    let mut base = builtin_profile("h100").unwrap().data().clone();
    base.attention_prefill.retain(|r| r.head_dim != 64);
    let m = model("gpt-oss-120b", "h100", 1).with_profile(Some(Arc::new(
        Profile::new(base.clone(), "no-hd64").unwrap(),
    )));
    assert_eq!(
        m.step(&prefill(4096)).sources.attention_prefill,
        TermSource::Roofline
    );
    let mut d = base;
    for n in [1024u32, 4096, 16384] {
        let flops = prefill_attention_flops(1, n, 0, 64, 64);
        let seconds = flops / 300e12;
        d.attention_prefill.push(PrefillAttentionRow {
            batch: 1,
            new_tokens: n,
            context: 0,
            heads: 64,
            kv_heads: 8,
            head_dim: 64,
            seconds,
            tflops: flops / seconds / 1e12,
            kernel: "torch-sdpa-cudnn".into(),
            v_head_dim: None,
        });
    }
    let c = m.with_profile(Some(Arc::new(Profile::new(d, "hd64").unwrap())));
    let s = c.step(&prefill(4096));
    assert_eq!(s.sources.attention_prefill, TermSource::Calibrated);
    // 36 layers at 300 TFLOP/s, half of them sliding over a 128-token window.
    let full = prefill_attention_flops(1, 4096, 0, 64, 64) / 300e12;
    let b = c.breakdown(&prefill(4096)).attention_prefill_s;
    assert!(
        b > 18.0 * full && b < 36.0 * full,
        "{b} vs {full} per full layer"
    );
}

#[test]
fn lm_head_is_priced_in_bf16_whatever_the_weights() {
    // FP8 checkpoints keep lm_head in BF16 (their memory holds it so): its term is the
    // BF16 model's, measured (the profile's bf16 GEMM rows) or by the roofline, while the
    // projections run in FP8 and cost less.
    let at = |w: Dtype, gpu: &str, roofline: bool| {
        let c = CostModel::new(
            ModelArch::builtin("qwen3-32b").unwrap(),
            GpuSpec::builtin(gpu).unwrap(),
            2,
            w,
            Dtype::Bf16,
            Efficiencies::default(),
        );
        let c = if roofline { c.with_profile(None) } else { c };
        c.step(&decode(64, 2048))
    };
    for (gpu, roofline) in [
        ("h100", false),
        ("h200", false),
        ("h100", true),
        ("l20", true),
    ] {
        let (b, f) = (
            at(Dtype::Bf16, gpu, roofline),
            at(Dtype::Fp8, gpu, roofline),
        );
        assert_eq!(
            b.breakdown.lm_head_s, f.breakdown.lm_head_s,
            "{gpu} roofline={roofline}"
        );
        assert_eq!(b.sources.lm_head, f.sources.lm_head);
        assert!(f.breakdown.gemm_s < b.breakdown.gemm_s, "{gpu}");
        if !roofline {
            assert_eq!(f.sources.lm_head, TermSource::Calibrated, "{gpu}");
        }
    }
}
