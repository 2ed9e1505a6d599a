//! The routed experts are priced by the kernel family an engine runs (SGLang and vLLM a
//! Triton fused-MoE kernel, TensorRT-LLM a CUTLASS grouped GEMM), from the profile's rows
//! of that family; without a family, the fastest row at each token count.

use xpyd_models::{CostModel, Dtype, Efficiencies, GpuSpec, ModelArch, MoeKernel, StepShape};

fn model(kernel: MoeKernel) -> CostModel {
    CostModel::new(
        ModelArch::builtin("deepseek-v3").unwrap(),
        GpuSpec::builtin("h100").unwrap(),
        8,
        Dtype::Fp8,
        Dtype::Bf16,
        Efficiencies::default(),
    )
    .with_moe_kernel(kernel)
}

#[test]
fn each_engine_prices_its_own_expert_kernel() {
    let d = StepShape::decode_batch(4, 2048);
    let gemm = |k| model(k).breakdown(&d).gemm_s;
    let (triton, cutlass, fastest) = (
        gemm(MoeKernel::TritonFused),
        gemm(MoeKernel::CutlassGrouped),
        gemm(MoeKernel::Fastest),
    );
    // The H100 profile measured both at this shape (DeepSeek-V3 TP 8, fp8, 4 tokens:
    // 94.6 us against 147.6 us per layer); the engine's family is what counts.
    assert!(triton < cutlass, "{triton} vs {cutlass}");
    assert!(
        (fastest - triton).abs() < 1e-12,
        "the fastest is the Triton kernel here: {fastest} vs {triton}"
    );
    // Only the routed experts move: 58 MoE layers x the per-layer difference.
    let per_layer = (cutlass - triton) / 58.0;
    assert!(
        per_layer > 30e-6 && per_layer < 80e-6,
        "{per_layer} s per layer"
    );
    assert_eq!(MoeKernel::of_engine("sglang"), MoeKernel::TritonFused);
    assert_eq!(MoeKernel::of_engine("vllm"), MoeKernel::TritonFused);
    assert_eq!(MoeKernel::of_engine("trtllm"), MoeKernel::CutlassGrouped);
    // vLLM's block-FP8 experts run DeepGEMM's grouped GEMM (the CUTLASS rows stand in)
    // except at TP 8, where it keeps Triton; other engines and dtypes are as above.
    assert_eq!(
        MoeKernel::of_deployment("vllm", true, 2),
        MoeKernel::CutlassGrouped
    );
    assert_eq!(
        MoeKernel::of_deployment("vllm", true, 8),
        MoeKernel::TritonFused
    );
    assert_eq!(
        MoeKernel::of_deployment("vllm", false, 2),
        MoeKernel::TritonFused
    );
    assert_eq!(
        MoeKernel::of_deployment("sglang", true, 2),
        MoeKernel::TritonFused
    );
    assert_eq!(
        MoeKernel::of_deployment("trtllm", true, 8),
        MoeKernel::CutlassGrouped
    );
}

#[test]
fn a_family_the_profile_lacks_falls_back_to_the_fastest_rows() {
    use std::sync::Arc;
    use xpyd_models::profile::Profile;
    // The H200 profile without its Triton rows: every family prices the same.
    let mut d = Profile::builtin("h200").unwrap().data().clone();
    d.moe_experts
        .retain(|r| !r.kernel.starts_with("xpyd-triton-fused-moe"));
    let cutlass_only = Arc::new(Profile::new(d, "test").unwrap());
    let m = |k, p: Option<Arc<Profile>>| {
        let m = CostModel::new(
            ModelArch::builtin("deepseek-v3").unwrap(),
            GpuSpec::builtin("h200").unwrap(),
            8,
            Dtype::Fp8,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_moe_kernel(k);
        let m = match p {
            Some(p) => m.with_profile(Some(p)),
            None => m,
        };
        m.step_seconds(&StepShape::decode_batch(16, 1024))
    };
    let only = || Some(cutlass_only.clone());
    assert_eq!(
        m(MoeKernel::TritonFused, only()),
        m(MoeKernel::CutlassGrouped, only())
    );
    assert_eq!(
        m(MoeKernel::TritonFused, only()),
        m(MoeKernel::Fastest, only())
    );
    // The shipped H200 profile has both families since 2026-12-06: SGLang's Triton
    // kernel is the faster one at 16 tokens, as on H100.
    assert!(m(MoeKernel::TritonFused, None) < m(MoeKernel::CutlassGrouped, None));
}

#[test]
fn mxfp4_experts_are_priced_by_mxfp4_rows() {
    use std::sync::Arc;
    use xpyd_models::ExpertDtype;
    use xpyd_models::profile::{GemmRow, MoeExpertsRow, Profile};
    // gpt-oss-120b at TP 4 on an H100: 128 experts of 2880 x 720, top 4, MXFP4.
    let with_rows = |seconds: f64| {
        let mut d = Profile::builtin("h100").unwrap().data().clone();
        d.moe_experts
            .extend([1u64, 16, 256, 4096].map(|tokens| MoeExpertsRow {
                hidden: 2880,
                inter: 720,
                experts: 128,
                top_k: 4,
                dtype: ExpertDtype::Mxfp4,
                tokens,
                touched: 128,
                seconds,
                tflops: 1.0,
                kernel: "xpyd-triton-fused-moe 16x64x128x1x4x6".into(),
                label: "gpt-oss-120b/tp4".into(),
            }));
        // Its router (128 x 2880, bf16): a layer is priced from rows only with it.
        d.gemm.extend([1u64, 16, 256, 4096].map(|m| GemmRow {
            m,
            n: 128,
            k: 2880,
            dtype: Dtype::Bf16,
            seconds: 5e-6,
            tflops: 1.0,
            label: "gpt-oss-120b/tp1/router (torch)".into(),
        }));
        Arc::new(Profile::new(d, "test").unwrap())
    };
    let gemm = |p: Option<Arc<Profile>>| {
        let m = CostModel::new(
            ModelArch::builtin("gpt-oss-120b").unwrap(),
            GpuSpec::builtin("h100").unwrap(),
            4,
            Dtype::Bf16,
            Dtype::Bf16,
            Efficiencies::default(),
        );
        let m = match p {
            Some(p) => m.with_profile(Some(p)),
            None => m,
        };
        m.breakdown(&StepShape::decode_batch(16, 1024)).gemm_s
    };
    let (a, b) = (gemm(Some(with_rows(1e-4))), gemm(Some(with_rows(2e-4))));
    // All 36 layers are MoE: the rows' 100 us more per layer is 3.6 ms more per step.
    assert!(((b - a) / 36e-4 - 1.0).abs() < 1e-6, "{a} -> {b}");
    // Rows of bf16 or fp8 experts of the same shape are not MXFP4's.
    assert!((gemm(None) - a).abs() > 1e-4, "{} vs {a}", gemm(None));
}
