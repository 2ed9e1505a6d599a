//! The engine layer on top of the kernel sum: kernel terms scaled by the step's mix of
//! prefill tokens and decoding sequences, the engine's overheads labelled `fitted`, the
//! memoised path bit-identical, and the shipped profiles in range.

use xpyd_models::{
    CostModel, Dtype, Efficiencies, EngineParams, EngineProfile, GpuSpec, ModelArch, StepMemo,
    StepShape, TermSource,
};

fn model(engine: Option<EngineParams>) -> CostModel {
    CostModel::new(
        ModelArch::builtin("qwen3-8b").unwrap(),
        GpuSpec::builtin("h100").unwrap(),
        1,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    )
    .with_engine(engine)
}

fn mixed() -> StepShape {
    StepShape {
        prefill_tokens: 512,
        prefill_seqs: 1,
        prefill_attn_pairs: 512 * 513 / 2,
        decode_seqs: 32,
        decode_context_tokens: 32 * 2000,
    }
}

const LAYER: EngineParams = EngineParams {
    prefill_scale: 1.2,
    decode_scale: 0.8,
    step_overhead_ms: 0.7,
    per_seq_overhead_us: 20.0,
    cpu_overlap: 0.0,
    frontend_ms: 15.0,
    max_batched_tokens: Some(4096),
    layer_floor_us: 0.0,
    allreduce_latency_us: 0.0,
    async_scheduling: false,
    moe_eager_layer_us: 0.0,
    mxfp4_compute_scale: 1.0,
    mxfp4_memory_scale: 1.0,
    mxfp4_layer_us: 0.0,
    fp8_moe_roofline: false,
    fp8_moe_memory_scale: 1.0,
    fp8_moe_layer_us: 0.0,
};

#[test]
fn kernel_terms_scale_by_the_step_mix_and_overhead_is_the_engines() {
    let shape = mixed();
    let bare = model(None).step(&shape);
    let with = model(Some(LAYER)).step(&shape);
    let f = (512.0 * 1.2 + 32.0 * 0.8) / (512.0 + 32.0);
    let (b, w) = (bare.breakdown, with.breakdown);
    for (x, y) in [
        (b.gemm_s, w.gemm_s),
        (b.attention_prefill_s, w.attention_prefill_s),
        (b.attention_decode_s, w.attention_decode_s),
        (b.memory_bound_s, w.memory_bound_s),
        (b.allreduce_s, w.allreduce_s),
        (b.lm_head_s, w.lm_head_s),
    ] {
        assert!((y - x * f).abs() <= 1e-15 + 1e-12 * x, "{y} vs {x} x {f}");
    }
    // 0.7 ms + 20 us x 33 sequences.
    assert!((w.overhead_s - (0.7e-3 + 20e-6 * 33.0)).abs() < 1e-15);
    assert_eq!(with.sources.overhead, TermSource::Fitted);
    assert_eq!(bare.sources.overhead, TermSource::Assumed);
    assert!((with.seconds - w.total()).abs() < 1e-15);
    // A neutral layer with no overheads is the kernel sum alone.
    let neutral = model(Some(EngineParams::NEUTRAL)).step(&shape);
    let kernels = b.total() - b.overhead_s;
    assert!((neutral.seconds - kernels).abs() <= 1e-12 * kernels);
}

#[test]
fn overlapped_cpu_time_shows_only_beyond_the_kernels() {
    let full = EngineParams {
        cpu_overlap: 1.0,
        ..LAYER
    };
    let half = EngineParams {
        cpu_overlap: 0.5,
        ..LAYER
    };
    // A big step: 0.7 ms + 33 x 20 us of CPU hides entirely behind the kernels.
    let shape = mixed();
    let serial = model(Some(LAYER)).step(&shape);
    let kernels = serial.seconds - serial.breakdown.overhead_s;
    let cpu = serial.breakdown.overhead_s;
    assert!(cpu < kernels);
    let hidden = model(Some(full.clone())).step(&shape);
    assert!((hidden.seconds - kernels).abs() <= 1e-12 * kernels);
    assert_eq!(hidden.breakdown.overhead_s, 0.0);
    let partly = model(Some(half)).step(&shape);
    assert!((partly.seconds - (kernels + 0.5 * cpu)).abs() <= 1e-12 * kernels);
    // A tiny step with a huge per-sequence cost: the step is the CPU's time.
    let cpu_bound = EngineParams {
        per_seq_overhead_us: 1000.0,
        ..full
    };
    let tiny = StepShape::decode_batch(256, 100);
    let s = model(Some(cpu_bound)).step(&tiny);
    let cpu = 0.7e-3 + 1000e-6 * 256.0;
    assert!((s.seconds - cpu).abs() <= 1e-12, "{} vs {cpu}", s.seconds);
}

#[test]
fn small_steps_meet_the_layer_floor_and_all_reduce_latency_is_per_call() {
    let tp2 = |engine: Option<EngineParams>| {
        CostModel::new(
            ModelArch::builtin("qwen3-8b").unwrap(),
            GpuSpec::builtin("h100").unwrap(),
            2,
            Dtype::Bf16,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_engine(engine)
    };
    let kernels = |s: &xpyd_models::StepCost| s.seconds - s.breakdown.overhead_s;
    let neutral = EngineParams {
        step_overhead_ms: 0.0,
        per_seq_overhead_us: 0.0,
        ..EngineParams::NEUTRAL
    };
    let tiny = StepShape::decode_batch(1, 100);
    let base = tp2(Some(neutral.clone())).step(&tiny);
    // 36 layers, two all-reduces each: 72 calls of 10 us on the all-reduce term.
    let latency = EngineParams {
        allreduce_latency_us: 10.0,
        ..neutral.clone()
    };
    let l = tp2(Some(latency)).step(&tiny);
    assert!((l.breakdown.allreduce_s - base.breakdown.allreduce_s - 72.0 * 10e-6).abs() < 1e-12);
    assert!((kernels(&l) - kernels(&base) - 72.0 * 10e-6).abs() < 1e-12);
    // A floor of 200 us per layer (7.2 ms) is above this tiny step: every kernel term
    // rises by the same factor; a big prefill stays as it was.
    let floor = EngineParams {
        layer_floor_us: 200.0,
        ..neutral
    };
    let f = tp2(Some(floor.clone())).step(&tiny);
    assert!(kernels(&base) < 7.2e-3);
    assert!((kernels(&f) - 7.2e-3).abs() < 1e-12);
    let k = f.breakdown.gemm_s / base.breakdown.gemm_s;
    assert!((f.breakdown.attention_decode_s / base.breakdown.attention_decode_s - k).abs() < 1e-9);
    let big = StepShape::prefill_chunk(8192, 0);
    let (a, b) = (
        tp2(Some(floor)).step(&big),
        tp2(Some(EngineParams::NEUTRAL)).step(&big),
    );
    assert!(kernels(&b) > 7.2e-3);
    assert_eq!(kernels(&a).to_bits(), kernels(&b).to_bits());
}

/// The MoE layers' eager floor raises a step with prompt tokens of an MoE model to at
/// least MoE layers x the term, leaves its decode-only steps (graph-captured) and every
/// step of a dense model as they were.
#[test]
fn moe_eager_floor_raises_prompt_steps_of_moe_models_only() {
    let on = |arch: &str, engine: EngineParams| {
        CostModel::new(
            ModelArch::builtin(arch).unwrap(),
            GpuSpec::builtin("h100").unwrap(),
            4,
            Dtype::Fp8,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_engine(Some(engine))
    };
    let eager = EngineParams {
        moe_eager_layer_us: 1000.0,
        ..EngineParams::NEUTRAL
    };
    let kernels = |c: &xpyd_models::StepCost| c.seconds - c.breakdown.overhead_s;
    let prompt = StepShape::prefill_chunk(256, 0);
    let decode = StepShape::decode_batch(16, 1000);
    // Qwen3-235B-A22B: 94 MoE layers, so a 256-token prompt step takes at least 94 ms.
    let moe = |e: EngineParams| on("qwen3-235b-a22b", e);
    let base = moe(EngineParams::NEUTRAL).step(&prompt);
    assert!(kernels(&base) < 94e-3, "{}", kernels(&base));
    assert!((kernels(&moe(eager.clone()).step(&prompt)) - 94e-3).abs() < 1e-9);
    assert_eq!(
        kernels(&moe(eager.clone()).step(&decode)).to_bits(),
        kernels(&moe(EngineParams::NEUTRAL).step(&decode)).to_bits()
    );
    // A mixed step has prompt tokens: eager.
    assert!(kernels(&moe(eager.clone()).step(&mixed())) >= 94e-3 - 1e-9);
    // A dense model has no MoE layer to floor.
    let dense = |e: EngineParams| on("qwen3-32b", e);
    assert_eq!(
        kernels(&dense(eager).step(&prompt)).to_bits(),
        kernels(&dense(EngineParams::NEUTRAL).step(&prompt)).to_bits()
    );
}

/// The MXFP4 scales multiply the roofline's compute and weight-reading times of MXFP4
/// routed experts (gpt-oss) and nothing else: a compute-bound prompt step grows by
/// exactly the extra compute time, a memory-bound one-sequence decode step only by the
/// memory scale, the fixed time adds per MoE layer, and dense or bf16/fp8-expert models
/// are bit-identical.
#[test]
fn mxfp4_scales_act_on_mxfp4_routed_experts_only() {
    let on = |arch: &str, engine: EngineParams| {
        CostModel::new(
            ModelArch::builtin(arch).unwrap(),
            GpuSpec::builtin("h200").unwrap(),
            1,
            Dtype::Bf16,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_engine(Some(engine))
    };
    let compute = EngineParams {
        mxfp4_compute_scale: 3.0,
        ..EngineParams::NEUTRAL
    };
    let memory = EngineParams {
        mxfp4_memory_scale: 2.0,
        ..EngineParams::NEUTRAL
    };
    let gemm = |arch: &str, e: EngineParams, s: &StepShape| on(arch, e).step(s).breakdown.gemm_s;
    // gpt-oss-120b: 36 MoE layers of 128 experts (2880 x 2880), top 4. 8,192 prompt
    // tokens are compute-bound: each layer's routed experts take 2 more times their
    // roofline compute at scale 3.
    let prompt = StepShape::prefill_chunk(8192, 0);
    let flops_per_layer = 8192.0 * 4.0 * 2.0 * 3.0 * 2880.0 * 2880.0;
    let rate = 0.72 * GpuSpec::builtin("h200").unwrap().peak_flops(Dtype::Bf16);
    let extra = 36.0 * 2.0 * flops_per_layer / rate;
    let base = gemm("gpt-oss-120b", EngineParams::NEUTRAL, &prompt);
    let scaled = gemm("gpt-oss-120b", compute.clone(), &prompt);
    assert!(
        ((scaled - base) - extra).abs() < 1e-9 * extra.max(1.0),
        "{base} {scaled} {extra}"
    );
    // One decoding sequence reads its 4 experts' weights: memory-bound, so the compute
    // scale leaves it as it was and the memory scale raises it.
    let decode = StepShape::decode_batch(1, 1000);
    assert_eq!(
        gemm("gpt-oss-120b", compute.clone(), &decode).to_bits(),
        gemm("gpt-oss-120b", EngineParams::NEUTRAL, &decode).to_bits()
    );
    assert!(
        gemm("gpt-oss-120b", memory.clone(), &decode)
            > gemm("gpt-oss-120b", EngineParams::NEUTRAL, &decode) * 1.2
    );
    // The fixed time per layer: 36 MoE layers x 100 us on any step.
    let fixed = EngineParams {
        mxfp4_layer_us: 100.0,
        ..EngineParams::NEUTRAL
    };
    for s in [&prompt, &decode] {
        let extra =
            gemm("gpt-oss-120b", fixed.clone(), s) - gemm("gpt-oss-120b", EngineParams::NEUTRAL, s);
        assert!((extra - 36.0 * 100e-6).abs() < 1e-12, "{extra}");
    }
    // Models without MXFP4 experts: unchanged, bit for bit.
    for arch in ["qwen3-235b-a22b", "qwen3-32b"] {
        for e in [compute.clone(), memory.clone(), fixed.clone()] {
            for s in [&prompt, &decode] {
                assert_eq!(
                    on(arch, e.clone()).step_seconds(s).to_bits(),
                    on(arch, EngineParams::NEUTRAL).step_seconds(s).to_bits(),
                    "{arch}"
                );
            }
        }
    }
}

/// The `fp8-moe-*` terms act only where `fp8-moe-roofline` is set and only on FP8 routed
/// experts: there the MoE layers leave the profile's tables for the roofline times the
/// terms (a memory scale raises a memory-bound decode step, the fixed time adds once per
/// MoE layer, the term is labelled fitted); without the flag, and for BF16-expert, MXFP4
/// or dense models, every step is bit-identical.
#[test]
fn fp8_moe_terms_price_fp8_experts_only_when_set() {
    let on = |arch: &str, weights: Dtype, engine: EngineParams| {
        CostModel::new(
            ModelArch::builtin(arch).unwrap(),
            GpuSpec::builtin("h200").unwrap(),
            2,
            weights,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_engine(Some(engine))
    };
    let terms = |roofline: bool, memory: f64, layer_us: f64| EngineParams {
        fp8_moe_roofline: roofline,
        fp8_moe_memory_scale: memory,
        fp8_moe_layer_us: layer_us,
        ..EngineParams::NEUTRAL
    };
    let decode = StepShape::decode_batch(16, 3000);
    let prompt = StepShape::prefill_chunk(4096, 0);
    let gemm = |e: EngineParams, s: &StepShape| {
        on("qwen3-235b-a22b", Dtype::Fp8, e)
            .step(s)
            .breakdown
            .gemm_s
    };
    // Without the flag the scales are inert: the tables, bit for bit.
    for s in [&decode, &prompt] {
        assert_eq!(
            gemm(terms(false, 3.0, 200.0), s).to_bits(),
            gemm(EngineParams::NEUTRAL, s).to_bits()
        );
    }
    // With it: the roofline (a different number from the tables), the memory scale
    // raising a decode step, and 94 MoE layers x 100 us of fixed time on any step (a
    // long prompt's GEMM terms run at sustained clocks: up to 1% more).
    let roof = gemm(terms(true, 1.0, 0.0), &decode);
    assert_ne!(
        roof.to_bits(),
        gemm(EngineParams::NEUTRAL, &decode).to_bits()
    );
    assert!(gemm(terms(true, 2.0, 0.0), &decode) > roof * 1.3);
    for s in [&decode, &prompt] {
        let extra = gemm(terms(true, 1.0, 100.0), s) - gemm(terms(true, 1.0, 0.0), s);
        assert!(
            (94.0 * 100e-6 - 1e-12..94.0 * 101e-6).contains(&extra),
            "{extra}"
        );
    }
    let c = on("qwen3-235b-a22b", Dtype::Fp8, terms(true, 2.0, 0.0));
    assert!(c.step(&decode).sources.gemm != TermSource::Calibrated);
    // BF16 experts, MXFP4 experts and a dense FP8 model: unchanged, bit for bit.
    for (arch, w) in [
        ("qwen3-235b-a22b", Dtype::Bf16),
        ("gpt-oss-120b", Dtype::Bf16),
        ("qwen3-32b", Dtype::Fp8),
    ] {
        for s in [&decode, &prompt] {
            assert_eq!(
                on(arch, w, terms(true, 2.0, 100.0))
                    .step_seconds(s)
                    .to_bits(),
                on(arch, w, EngineParams::NEUTRAL).step_seconds(s).to_bits(),
                "{arch}"
            );
        }
    }
}

#[test]
fn memoised_steps_are_bit_identical_with_an_engine_layer() {
    let overlapped = EngineParams {
        cpu_overlap: 0.6,
        ..LAYER
    };
    let floored = EngineParams {
        layer_floor_us: 150.0,
        allreduce_latency_us: 8.0,
        ..LAYER
    };
    for cm in [
        model(Some(LAYER)),
        model(Some(overlapped)),
        model(Some(floored)),
    ] {
        let mut memo = StepMemo::new();
        for shape in [
            mixed(),
            StepShape::decode_batch(64, 1500),
            StepShape::prefill_chunk(4096, 0),
            StepShape::default(),
        ] {
            let a = cm.step_seconds(&shape);
            let b = cm.step_seconds_memo(&shape, &mut memo);
            assert_eq!(a.to_bits(), b.to_bits(), "{shape:?}");
        }
        assert_eq!(cm.step_seconds(&StepShape::default()), 0.0);
    }
}

#[test]
fn shipped_profiles_cover_the_fitted_engines() {
    for (engine, gpu) in [
        ("vllm", "h100"),
        ("vllm", "h200"),
        ("sglang", "h100"),
        ("trtllm", "h100"),
        ("trtllm", "h200"),
    ] {
        let p = EngineProfile::builtin(engine, gpu)
            .unwrap_or_else(|| panic!("no built-in {engine}/{gpu} profile"));
        assert!(p.params.check().is_ok());
        assert!(p.fitted_rows >= 8, "{engine}/{gpu}");
        assert!(!p.checked.is_empty(), "{engine}/{gpu} has no k-fold check");
        assert!(p.source.contains("fit-engine"), "{}", p.source);
    }
    assert!(EngineProfile::builtin("vllm", "a100").is_none());
}
