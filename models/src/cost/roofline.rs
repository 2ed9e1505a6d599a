//! The roofline: the efficiencies and constants it assumes ([`Efficiencies`]) and the
//! per-term formulas (`rf_*`), each the max of compute and memory time plus a kernel
//! latency per kernel, as the [module docs](super) state them.
//!
//! Invariants: every term is non-negative, 0 for an empty step, and non-decreasing in
//! every field of [`StepShape`].

use super::step::{seqs, tokens};
use super::{CostModel, Gemm, MoeConsts, StepShape};
use crate::Dtype;
use serde::Serialize;

/// Fractions of peak that the roofline assumes kernels achieve. Documented defaults.
///
/// Defaults ([`Efficiencies::default`]) and where they come from:
///
/// - `gemm_flops` 0.72: cuBLAS BF16 GEMMs on H100 SXM reach 66-82% of the 989 TFLOP/s
///   peak at M = 2048-8192 (656-812 TFLOP/s measured with `torch.nn.functional.linear`
///   while writing this model); aiconfigurator's H100 perf database has 761 TFLOP/s (77%)
///   for m=4096, n=k=5120; FP8 (`torch._scaled_mm`) reached 1,460 TFLOP/s (74%).
/// - `attention_flops` 0.55: FlashAttention-3 reports 500-740 TFLOP/s forward BF16 on
///   H100 for head dim 128 (causal, 2k-16k tokens); PyTorch SDPA measured 414-630 TFLOP/s
///   (causal, 2k-8k); FlashAttention-2 reaches ~35-50%. 0.55 is ~544 TFLOP/s on H100.
/// - `memory_bandwidth` 0.85: HBM copy/reduction measured at 3.02-3.08 TB/s on H100
///   (90-92% of 3.35 TB/s); weight-streaming GEMMs at M=1 reach 2.2-2.84 TB/s, which
///   0.85 plus [`Efficiencies::kernel_latency_s`] reproduces within a few percent;
///   aiconfigurator uses 0.8 (`mem_bw_empirical_scaling_factor`).
/// - `allreduce_bandwidth` 0.65: NCCL all-reduce of 32 MB on 8 H100 reaches ~294 GB/s
///   bus bandwidth of the 450 GB/s NVLink (aiconfigurator perf database, NCCL 2.29).
/// - `step_overhead_s` 0.5 ms: vLLM V1 and SGLang with CUDA graphs and overlapped
///   scheduling keep the CPU step overhead under 1 ms; Vidur's profile of the older
///   vLLM (0.2, Ray workers) shows ~1.2 ms of schedule + sampler + input preparation.
/// - `per_seq_overhead_s` 10 us: Vidur's old-vLLM profile grows ~30 us per sequence
///   (output processing); V1 moves detokenisation to another process, leaving about a third.
/// - `kernel_latency_s` 3 us: aiconfigurator's `mem_empirical_constant_latency`; an
///   H100 GEMM of 1x4096x6144 takes 22.9 us where the bandwidth bound at 0.85 is 17.7 us.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Efficiencies {
    /// GEMM fraction of peak tensor FLOP/s.
    pub gemm_flops: f64,
    /// Attention fraction of peak tensor FLOP/s (prefill).
    pub attention_flops: f64,
    /// Fraction of peak memory bandwidth achieved by weight streaming and KV reads.
    pub memory_bandwidth: f64,
    /// Fraction of link bandwidth achieved by all-reduce.
    pub allreduce_bandwidth: f64,
    /// Fixed per-step overhead, seconds (scheduler, kernel launch, sampling setup).
    pub step_overhead_s: f64,
    /// Per-sequence overhead per step, seconds (input preparation, detokenisation).
    pub per_seq_overhead_s: f64,
    /// Fixed time added to every kernel (GEMM, attention, elementwise), seconds: launch
    /// and ramp-up, with CUDA graphs.
    pub kernel_latency_s: f64,
}

impl Default for Efficiencies {
    fn default() -> Self {
        Efficiencies {
            gemm_flops: 0.72,
            attention_flops: 0.55,
            memory_bandwidth: 0.85,
            allreduce_bandwidth: 0.65,
            step_overhead_s: 0.5e-3,
            per_seq_overhead_s: 10e-6,
            kernel_latency_s: 3e-6,
        }
    }
}

/// Per-call latency of a TP all-reduce over NVLink, seconds: vLLM's and SGLang's custom
/// one-shot all-reduce for decode-sized messages (aiconfigurator: SGLang CUDA-graph
/// custom all-reduce 6.4 us for 64k elements on 8 H100; NCCL needs ~19 us for 32k).
pub const NVLINK_ALLREDUCE_LATENCY_S: f64 = 8e-6;

/// Per-call latency of a TP all-reduce over PCIe, seconds: NCCL ring through the PCIe
/// switch or host bridge (the custom all-reduce needs full NVLink or at most 2 GPUs).
pub const PCIE_ALLREDUCE_LATENCY_S: f64 = 30e-6;

/// Activation bytes per element (BF16 activations, also with FP8 weights).
pub(super) const ACT_BYTES: f64 = 2.0;

/// `a`: hidden-sized activation passes of the memory-bound kernels per layer. Two fused
/// residual-add + RMSNorm kernels each read the hidden state and the residual and write
/// both (4 passes each).
pub const ELEMENTWISE_HIDDEN_PASSES: f64 = 8.0;

/// `b`: FFN-intermediate-sized passes per layer: SiLU-and-mul reads gate and up and
/// writes their product.
pub const ELEMENTWISE_FFN_PASSES: f64 = 3.0;

/// Memory-bound kernels per dense layer: two add+norm, rotary, KV-cache write, SiLU-mul.
pub(super) const ELEMENTWISE_KERNELS_PER_LAYER: f64 = 5.0;

/// Extra memory-bound kernels per MoE layer: top-k softmax, token alignment, top-k reduce.
pub(super) const ELEMENTWISE_KERNELS_PER_MOE_LAYER: f64 = 3.0;

impl CostModel {
    /// One GEMM `[m, k] x [k, n]` with per-GPU weight shape `g`, seconds.
    pub(super) fn gemm(&self, m: f64, g: Gemm, wbytes: f64) -> f64 {
        self.gemm_at(m, g, wbytes, self.gemm_flops_per_s)
    }

    /// [`Self::gemm`] at `flops_per_s` (a GEMM kept in another dtype than the weights').
    fn gemm_at(&self, m: f64, g: Gemm, wbytes: f64, flops_per_s: f64) -> f64 {
        if g.n == 0.0 || m == 0.0 {
            return 0.0;
        }
        let compute = 2.0 * m * g.n * g.k / flops_per_s;
        let memory = (g.n * g.k * wbytes + m * (g.k + g.n) * ACT_BYTES) / self.mem_bytes_per_s;
        compute.max(memory) + self.eff.kernel_latency_s
    }

    /// Projection and FFN GEMMs of all layers (MoE experts included), seconds.
    /// `m` tokens of one attention rank, `m_all` of the instance (equal without
    /// DP-attention).
    pub(super) fn rf_gemm_seconds(&self, m: f64, m_all: f64) -> f64 {
        if m == 0.0 {
            return 0.0;
        }
        let w = self.wbytes;
        let attn: f64 = self.attn_gemms.iter().map(|&g| self.gemm(m, g, w)).sum();
        let ffn: f64 = self.ffn_gemms.iter().map(|&g| self.gemm(m, g, w)).sum();
        let moe = self
            .moe
            .as_ref()
            .map_or(0.0, |c| self.moe_seconds(c, m, m_all));
        self.layers * attn + self.dense_layers * ffn + self.moe_layers * moe
    }

    /// One MoE layer, seconds: router and shared experts for the `m` tokens of one
    /// attention rank, routed experts (this GPU's `E / ep`, its `1 / ep` of the pairs) for
    /// the `m_all` tokens of the instance.
    pub(super) fn moe_seconds(&self, c: &MoeConsts, m: f64, m_all: f64) -> f64 {
        // Router weights stay in BF16 in FP8 checkpoints.
        let router = self.gemm(m, c.router, Dtype::Bf16.bytes());
        let touched = c.experts * (1.0 - c.miss.powf(m_all));
        let pairs = m_all * c.top_k * c.pair_share;
        let compute = pairs * c.expert_flops / self.gemm_flops_per_s;
        let memory =
            (touched * c.expert_weight_bytes + pairs * c.expert_act_bytes) / self.mem_bytes_per_s;
        // Grouped gate/up and down GEMMs: two kernels; MXFP4 and FP8 experts at the
        // engine's speed relative to this roofline where its layer says so.
        let (cs, ms, fixed) = self.expert_scales(c);
        let routed = (compute * cs).max(memory * ms) + fixed + 2.0 * self.eff.kernel_latency_s;
        let shared: f64 = c.shared.iter().map(|&g| self.gemm(m, g, self.wbytes)).sum();
        router + routed + shared
    }

    /// The engine layer's compute and memory scales and fixed seconds per layer for the
    /// routed experts priced by this roofline: the MXFP4 terms for MXFP4 experts where
    /// the profile did not measure them, the `fp8-moe-*` terms for FP8 experts where the
    /// layer sets `fp8-moe-roofline`; (1, 1, 0) otherwise and without an engine layer.
    fn expert_scales(&self, c: &MoeConsts) -> (f64, f64, f64) {
        match &self.engine {
            Some(e) if c.mxfp4 && !self.cal.as_ref().is_some_and(|k| k.v2.moe_covered()) => (
                e.mxfp4_compute_scale,
                e.mxfp4_memory_scale,
                e.mxfp4_layer_us * 1e-6,
            ),
            Some(e) if self.fp8_moe_roofline(c) => {
                (1.0, e.fp8_moe_memory_scale, e.fp8_moe_layer_us * 1e-6)
            }
            _ => (1.0, 1.0, 0.0),
        }
    }

    /// Whether the engine layer prices these FP8 routed experts by the roofline with its
    /// `fp8-moe-*` terms, over the profile's tables.
    pub(super) fn fp8_moe_roofline(&self, c: &MoeConsts) -> bool {
        c.fp8 && self.engine.as_ref().is_some_and(|e| e.fp8_moe_roofline)
    }

    /// Prefill (causal, chunked) attention of all layers, seconds.
    pub(super) fn rf_attention_prefill_seconds(&self, shape: &StepShape) -> f64 {
        if shape.prefill_attn_pairs == 0 {
            return 0.0;
        }
        let flops = shape.prefill_attn_pairs as f64 * self.prefill_flops_per_pair;
        self.layers * (flops / self.attn_flops_per_s + self.eff.kernel_latency_s)
    }

    /// Decode attention of all layers (KV reads), seconds.
    pub(super) fn rf_attention_decode_seconds(&self, shape: &StepShape) -> f64 {
        if shape.decode_seqs == 0 {
            return 0.0;
        }
        let ctx = shape.decode_context_tokens as f64;
        let memory = ctx * self.kv_bytes_per_ctx / self.mem_bytes_per_s;
        let compute = ctx * self.decode_flops_per_ctx / self.attn_flops_per_s;
        self.layers * (memory.max(compute) + self.eff.kernel_latency_s)
    }

    /// Norms, activation, rotary, KV-cache writes, MoE permutes, embedding, seconds.
    pub(super) fn rf_memory_bound_seconds(&self, shape: &StepShape) -> f64 {
        let m = tokens(shape);
        if m == 0.0 {
            return 0.0;
        }
        m * self.elementwise_bytes_per_token / self.mem_bytes_per_s
            + self.elementwise_kernels * self.eff.kernel_latency_s
    }

    /// TP all-reduces (two per layer), seconds; 0 at TP 1.
    pub(super) fn rf_allreduce_seconds(&self, shape: &StepShape) -> f64 {
        let m = tokens(shape);
        if m == 0.0 || self.allreduce_calls == 0.0 {
            return 0.0;
        }
        let bytes = m * self.hidden * ACT_BYTES;
        self.allreduce_calls
            * (self.allreduce_latency_s
                + bytes * self.allreduce_s_per_byte
                + self.allreduce_net.seconds(bytes))
    }

    /// The dispatch and combine all-to-alls of one attention rank's `shape` (DP-attention
    /// with MoE; see `all_to_all` in the module), seconds.
    pub(super) fn a2a_seconds(&self, shape: &StepShape) -> f64 {
        let bytes = tokens(shape) * self.a2a_bytes_per_token;
        self.a2a_calls * (self.a2a_latency_s + bytes * self.a2a_s_per_byte)
    }

    /// lm_head GEMM for the sequences that produce logits, seconds: in BF16 whatever the
    /// weights (FP8 checkpoints and engines keep lm_head unquantised; see
    /// `ModelArch::weight_bytes`).
    pub(super) fn rf_lm_head_seconds(&self, shape: &StepShape) -> f64 {
        if tokens(shape) == 0.0 {
            return 0.0;
        }
        let bf16 = self.gpu.peak_flops(Dtype::Bf16) * self.eff.gemm_flops;
        self.gemm_at(seqs(shape), self.lm_head, Dtype::Bf16.bytes(), bf16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::tests::{decode, model, ms, prefill};
    use crate::{GpuSpec, ModelArch};

    #[test]
    fn llama_8b_decode_batch_1_on_h100() {
        let t = ms(
            &model("llama-3.1-8b", "h100", 1, Dtype::Bf16),
            &decode(1, 1024),
        );
        assert!((5.0..8.0).contains(&t), "{t} ms");
    }

    #[test]
    fn llama_8b_prefill_2048_on_h100() {
        // ~29 TFLOP of GEMMs at 712 TFLOP/s = 40 ms, + attention, norms, overhead.
        let t = ms(
            &model("llama-3.1-8b", "h100", 1, Dtype::Bf16),
            &prefill(2048),
        );
        assert!((40.0..80.0).contains(&t), "{t} ms");
    }

    #[test]
    fn qwen3_32b_tp2_decode_batch_1_on_h100() {
        let t = ms(
            &model("qwen3-32b", "h100", 2, Dtype::Bf16),
            &decode(1, 1024),
        );
        assert!((12.0..20.0).contains(&t), "{t} ms");
    }

    /// GPU-only times of a Llama-3.1-8B-shaped PyTorch forward (random BF16 weights,
    /// `F.linear`, `F.rms_norm`, SDPA with GQA, CUDA graph for decode) measured on one H100
    /// SXM while writing this model: prefill 512 / 2048 / 8192 tokens 13.95 / 53.22 /
    /// 229.16 ms, decode batch 1 at 1k context 6.73 ms. The roofline without CPU overhead
    /// must be within 15% of each (it runs 7-10% faster: the PyTorch forward has unfused
    /// residual adds, a rotary stand-in and layout copies).
    #[test]
    fn close_to_a_synthetic_pytorch_forward_on_h100() {
        let eff = Efficiencies {
            step_overhead_s: 0.0,
            per_seq_overhead_s: 0.0,
            ..Efficiencies::default()
        };
        let c = CostModel::new(
            ModelArch::builtin("llama-3.1-8b").unwrap(),
            GpuSpec::builtin("h100").unwrap(),
            1,
            Dtype::Bf16,
            Dtype::Bf16,
            eff,
        )
        .with_profile(None);
        for (shape, measured_ms) in [
            (prefill(512), 13.95),
            (prefill(2048), 53.22),
            (prefill(8192), 229.16),
            (decode(1, 1024), 6.73),
        ] {
            let t = ms(&c, &shape);
            assert!(
                (t / measured_ms - 1.0).abs() < 0.25,
                "{t} ms vs {measured_ms} ms measured"
            );
        }
    }

    #[test]
    fn moe_and_mla_models_give_plausible_steps() {
        // Qwen3-235B-A22B FP8 on 8 H100, 8 sequences: measured TPOT ~13.6 ms (TRT-LLM, EP8,
        // aiconfigurator silicon sample); the roofline sits somewhat below.
        let q = model("qwen3-235b-a22b", "h100", 8, Dtype::Fp8);
        let t = ms(&q, &decode(8, 1024));
        assert!((6.0..20.0).contains(&t), "{t} ms");
        let d = model("deepseek-v3", "h200", 8, Dtype::Fp8);
        let t = ms(&d, &decode(1, 1024));
        assert!((3.0..40.0).contains(&t), "{t} ms");
        let t = ms(&d, &prefill(4096));
        assert!((100.0..1000.0).contains(&t), "{t} ms");
    }

    #[test]
    fn moe_decode_touches_few_experts() {
        let q = model("qwen3-235b-a22b", "h200", 8, Dtype::Bf16);
        let one = q.gemm_seconds(&decode(1, 100));
        let many = q.gemm_seconds(&decode(512, 100));
        // Batch 1 streams 8 of 128 experts; batch 512 touches all of them.
        assert!(many > 5.0 * one, "{one} {many}");
    }

    #[test]
    fn bigger_tp_is_cheaper_for_big_prefills() {
        for (id, gpu, tps) in [
            ("llama-3.1-70b", "h100", &[1, 2, 4, 8][..]),
            ("llama-3.1-8b", "l20", &[1, 2, 4][..]),
            ("qwen3-32b", "h20", &[1, 2, 4, 8][..]),
        ] {
            let mut last = f64::INFINITY;
            for &tp in tps {
                let t = model(id, gpu, tp, Dtype::Bf16).step_seconds(&prefill(8192));
                assert!(t < last, "{id} on {gpu}: TP {tp} {t} s not below {last} s");
                last = t;
            }
        }
    }

    #[test]
    fn fp8_weights_are_cheaper_when_memory_bound() {
        for id in [
            "llama-3.1-8b",
            "qwen3-32b",
            "qwen3-235b-a22b",
            "deepseek-v3",
        ] {
            let tp = if id.starts_with("deepseek") || id.contains("235b") {
                8
            } else {
                1
            };
            let b = model(id, "h200", tp, Dtype::Bf16).step(&decode(4, 2000));
            let f = model(id, "h200", tp, Dtype::Fp8).step(&decode(4, 2000));
            assert!(
                f.breakdown.gemm_s < 0.7 * b.breakdown.gemm_s,
                "{id}: {f:?} vs {b:?}"
            );
            assert!(f.seconds < b.seconds);
        }
        // A100 has no FP8 tensor cores: compute-bound prefill gains nothing.
        let b = model("llama-3.1-8b", "a100", 1, Dtype::Bf16).step(&prefill(8192));
        let f = model("llama-3.1-8b", "a100", 1, Dtype::Fp8).step(&prefill(8192));
        assert!(f.breakdown.gemm_s > 0.95 * b.breakdown.gemm_s);
    }

    #[test]
    fn decode_attention_grows_with_context_and_kv_dtype() {
        let c = model("llama-3.1-8b", "h100", 1, Dtype::Bf16);
        let short = c.attention_decode_seconds(&decode(64, 1000));
        let long = c.attention_decode_seconds(&decode(64, 8000));
        assert!(long > 5.0 * short);
        let fp8_kv = CostModel::new(
            c.arch().clone(),
            c.gpu().clone(),
            1,
            Dtype::Bf16,
            Dtype::Fp8,
            Efficiencies::default(),
        )
        .with_profile(None);
        assert!(fp8_kv.attention_decode_seconds(&decode(64, 8000)) < 0.6 * long);
    }
}
