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
}

#[test]
fn a_family_the_profile_lacks_falls_back_to_the_fastest_rows() {
    // The H200 profile has no Triton rows: every family prices the same.
    let m = |k| {
        CostModel::new(
            ModelArch::builtin("deepseek-v3").unwrap(),
            GpuSpec::builtin("h200").unwrap(),
            8,
            Dtype::Fp8,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_moe_kernel(k)
        .step_seconds(&StepShape::decode_batch(16, 1024))
    };
    assert_eq!(m(MoeKernel::TritonFused), m(MoeKernel::CutlassGrouped));
    assert_eq!(m(MoeKernel::TritonFused), m(MoeKernel::Fastest));
}
