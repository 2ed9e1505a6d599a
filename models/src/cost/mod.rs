//! The time of one engine step: one forward pass of a batch on one instance of TP degree t.
//!
//! The step is described by aggregates ([`StepShape`]) so that its cost is O(1) in the
//! batch size. Each term is a roofline (max of compute and memory time at stated
//! efficiencies) unless a calibration profile covers it.
//!
//! # The roofline
//!
//! All times are per GPU: the `t` TP ranks run the same kernels on their shards in
//! parallel. With `T = prefill_tokens + decode_seqs` tokens in the step:
//!
//! - **GEMMs** (per layer): QKV `[T,h]x[h,(nh+2nkv)hd/t]` (KV heads per GPU at least
//!   one), O `[T,nh hd/t]x[..,h]`, gate/up `[T,h]x[h,2I/t]`, down `[T,I/t]x[..,h]`. Each
//!   GEMM takes `max(2TKN / (peak x eff_gemm), (KN wbytes + T(K+N) 2) / (bw x eff_mem))`
//!   plus one kernel latency, so small batches stream weights and large ones compute.
//!   FP8 weights use the FP8 peak.
//! - **MoE layers**: the router GEMM `[T,h]x[h,E]`; routed experts as one grouped GEMM
//!   whose weight bytes are those of the distinct experts that `T k` routed tokens touch,
//!   `E (1 - (1 - k/E)^T)` of them, `x 3 h I_e wbytes / t`, and whose FLOPs are
//!   `2 T k 3 h I_e / t`; shared experts as dense gate/up and down GEMMs. The first
//!   `first_dense_layers` are dense.
//! - **Expert and attention data parallelism** ([`Parallelism`]): with EP `e` each GPU
//!   holds `E / e` experts of width `I_e / (g / e)` and receives `1 / e` of the routed
//!   pairs (balanced routing); with DP-attention `d` the attention, dense layers, router,
//!   shared experts, lm_head and per-sequence overhead run per rank at TP `g / d` on the
//!   rank's share of the step (decode sequences and context split evenly, the prefill
//!   tokens over `min(d, prefill_seqs)` ranks: one long prompt runs on one rank), while
//!   the routed experts take every rank's tokens; every MoE layer then adds a dispatch and
//!   a combine all-to-all (`CostModel::a2a_seconds`, `all_to_all`) to the all-reduce term, from
//!   the link model (roofline): no multi-GPU measurement covers it yet.
//! - **MLA** (approximate): q down/up projections (`q_a` replicated), kv down projection
//!   (replicated) and up projection, O; prefill attention with q/k width
//!   `nope + rope` and v width `v_head_dim`; decode attention reads the replicated latent
//!   and computes in the absorbed form (`2 (kv_lora_rank + rope) + 2 kv_lora_rank` FLOPs
//!   per head per context token). The absorbed projections' extra GEMMs are ignored.
//! - **Prefill attention**: `2 pairs (nh/t)(d_qk + d_v)` FLOPs per layer (= `4 pairs nh hd
//!   / t` for GQA) at `eff_attention` of the BF16 peak (FP8 KV still computes in BF16).
//! - **Decode attention**: per layer, `max(KV bytes read / (bw eff_mem), FLOPs / (bf16
//!   peak eff_attention))` with KV bytes = `decode_context_tokens x` KV bytes per token
//!   per GPU per layer.
//! - **Memory-bound kernels** per layer: `T (a h + b I_act/t + rotary + KV write) x 2`
//!   bytes with `a` = [`ELEMENTWISE_HIDDEN_PASSES`] and `b` = [`ELEMENTWISE_FFN_PASSES`],
//!   plus embedding lookup and final norm, plus one kernel latency per kernel.
//! - **TP all-reduce** when `t > 1`: two per layer of `T h 2` bytes, each
//!   `latency + 2 (t-1)/t bytes / (link bw x eff_allreduce)`, with the latency of
//!   [`NVLINK_ALLREDUCE_LATENCY_S`] or [`PCIE_ALLREDUCE_LATENCY_S`]. A group larger than
//!   a node (`t` > `gpus_per_node` g, n nodes) reduces hierarchically: a one-node
//!   all-reduce of the same bytes over g GPUs, plus `2 log2(n)` network hops of
//!   [`NET_HOP_LATENCY_S`] and `2 (n-1)/n bytes / g` over each GPU's NIC (see
//!   `AllreduceNet`); with a profile, its measured curve prices the one-node part.
//! - **lm_head**: GEMM `[S,h]x[h,V/t]` with `S = prefill_seqs + decode_seqs`, in BF16
//!   whatever the weights (FP8 checkpoints keep it unquantised, as their memory holds it).
//! - **Overhead**: `step_overhead_s + per_seq_overhead_s x S`.
//!
//! # Calibrated terms
//!
//! [`CostModel::new`] uses the shipped profile of the GPU ([`crate::profile::Profile::builtin`],
//! parsed once per process and shared through an `Arc`; `h100` and `h200` ship one)
//! and [`CostModel::with_profile`] replaces or removes it. With a profile, each term is
//! taken from the measured kernels where the profile covers the shape, interpolated as
//! in [`crate::calibrated`], and from the roofline above otherwise:
//!
//! - QKV, O, gate/up, down, MLA projection and lm_head GEMMs at their exact per-GPU
//!   `(n, k)` and weight dtype, `m` = tokens (lm_head: sequences);
//! - MoE layers: the profile's grouped expert GEMMs (`moe_experts`) at this TP split and
//!   dtype, plus the router (bf16) and shared-expert GEMMs, over tokens;
//! - GEMMs at sustained clocks (profiles with `gemm_sustained`): the isolated GEMM time
//!   `g0` and the same times the stack factor `r(m) >= 1`, `g1`, blend as
//!   `g0 + (g1 - g0) f` with `f` the step's share of GPU time in GEMMs and prefill
//!   attention (the stack was measured with the GPU in GEMMs all the time);
//! - prefill attention: the profile's default (fastest) kernel at the layer's FLOPs; MLA:
//!   the fastest MLA kernel (q/k and v widths of the model); with `attention_sustained`
//!   rows, times `1 + (r(T) - 1) f` like the GEMMs (`T` = the step's prefill tokens);
//! - decode attention: `decode_seqs` calls' grid lookup at the mean context, over the rows
//!   of the KV cache's format (bf16, or fp8 where the profile has fp8-KV rows); MLA: the
//!   absorbed-MLA grid (`attention_decode_mla`) at heads per GPU, batch and mean context;
//! - memory-bound kernels: the measured `rmsnorm` (twice per layer, 4 hidden passes
//!   each, plus the final norm), `silu_mul`, `rotary` and `copy` (KV-cache write,
//!   embedding) curves at the byte counts above;
//! - all-reduce: the measured NCCL curve for `t` GPUs, or TP 8 extrapolated from the 2-
//!   and 4-GPU curves ([`TermSource::Extrapolated`](crate::TermSource::Extrapolated));
//! - overhead: the stated assumption ([`TermSource::Assumed`](crate::TermSource)), or the
//!   engine layer's fitted overheads ([`TermSource::Fitted`](crate::TermSource)).
//!
//! # The engine layer
//!
//! [`CostModel::with_engine`] puts an engine layer ([`crate::engine`]) above the kernel
//! sum: every kernel term is multiplied by
//! [`EngineParams::kernel_factor`](crate::EngineParams::kernel_factor) of the step (its mix
//! of prefill tokens and decoding sequences), the all-reduce term gains the engine's
//! latency per call, the kernel terms are raised together to at least the engine's floor
//! per layer (`layers x layer_floor_us`), and the overhead is the engine's
//! `step_overhead_ms + per_seq_overhead_us x S`. Without one the code path is unchanged.
//!
//! [`StepCost::sources`] says which term came from where, and [`StepCost::source`] is
//! [`CostSource::Calibrated`] when the GEMMs and every non-zero attention term were
//! measured. Without a profile the roofline code path runs unchanged.
//!
//! # Invariants
//!
//! - An empty step (`T = 0`) costs exactly 0, overhead included.
//! - Every term is non-negative and non-decreasing in every field of [`StepShape`]
//!   (roofline); calibrated tables are non-decreasing in their argument and never fall
//!   below their last value where they hand over to the roofline. An engine layer keeps
//!   this within one kind of work (prefill tokens alone, decoding sequences alone); where
//!   its two scales differ, adding the kind with the smaller scale to a mixed step can
//!   lower the step's factor by more than it adds work (at most the scales' difference
//!   over the step's tokens, per token added).
//! - The breakdown sums to the total.
//! - [`CostModel::step_seconds`] does no allocation: the model holds per-layer constants
//!   computed once in [`CostModel::new`].

mod describe;
mod links;
pub mod report;
mod roofline;
mod speculative;
mod step;
mod sustained;
mod terms;

pub use links::NET_HOP_LATENCY_S;
pub use report::{EngineLayerReport, StepReport};
pub use roofline::{
    ELEMENTWISE_FFN_PASSES, ELEMENTWISE_HIDDEN_PASSES, Efficiencies, NVLINK_ALLREDUCE_LATENCY_S,
    PCIE_ALLREDUCE_LATENCY_S,
};
pub use speculative::{MAX_DRAFT_TOKENS, Speculative};

/// Which measured routed-expert (MoE) kernel prices a model's expert GEMMs, as engines
/// choose them on Hopper: SGLang and vLLM run a Triton fused-MoE kernel (SGLang
/// `fused_moe_triton`, vLLM `fused_moe`; the profile's `xpyd-triton-fused-moe` rows, our
/// kernel of that design), TensorRT-LLM a CUTLASS grouped GEMM (`moe_config.backend`
/// `CUTLASS`, its default; the profile's `torch-*` rows, PyTorch's CUTLASS grouped GEMMs).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoeKernel {
    /// The fastest measured kernel at each token count (no engine named).
    Fastest,
    /// A Triton fused-MoE kernel (SGLang, vLLM).
    TritonFused,
    /// A CUTLASS grouped GEMM (TensorRT-LLM).
    CutlassGrouped,
}

impl MoeKernel {
    /// Whether a `moe_experts` row's kernel label is of this family (every row for
    /// [`MoeKernel::Fastest`]).
    pub fn runs(self, kernel: &str) -> bool {
        match self {
            MoeKernel::Fastest => true,
            MoeKernel::TritonFused => kernel.starts_with("xpyd-triton-fused-moe"),
            MoeKernel::CutlassGrouped => kernel.starts_with("torch-"),
        }
    }

    /// The family an engine runs (`vllm`, `sglang`, `trtllm`; anything else: fastest).
    pub fn of_engine(engine: &str) -> MoeKernel {
        match engine {
            "sglang" | "vllm" => MoeKernel::TritonFused,
            "trtllm" => MoeKernel::CutlassGrouped,
            _ => MoeKernel::Fastest,
        }
    }

    /// The family an engine runs for a deployment: [`MoeKernel::of_engine`], except that
    /// vLLM runs block-FP8 experts through DeepGEMM's grouped GEMM on Hopper (its default
    /// FP8 MoE backend since DeepGEMM became default, v0.11) unless its tensor-parallel
    /// size is 8 (vLLM PR #29346, 2025-11: "DeepGEMM MoE is disabled by default when TP
    /// size is 8", Triton then). xpyd has no DeepGEMM rows; the CUTLASS grouped GEMM,
    /// the other grouped-GEMM family measured, stands in for it.
    pub fn of_deployment(engine: &str, fp8_experts: bool, tensor_parallel: u32) -> MoeKernel {
        match engine {
            "vllm" if fp8_experts && tensor_parallel != 8 => MoeKernel::CutlassGrouped,
            _ => MoeKernel::of_engine(engine),
        }
    }
}
pub use step::{CostBreakdown, CostSource, StepCost, StepShape};

use crate::calibrated::{
    Calibration, GEMM_DOWN, GEMM_GATE_UP, GEMM_O, GEMM_QKV, InstanceShapes, builtin_profile,
};
use crate::profile::Profile;
use crate::{Dtype, GpuSpec, ModelArch, Parallelism};
use links::{AllreduceNet, all_to_all, node_allreduce_s_per_byte};
use roofline::{ACT_BYTES, ELEMENTWISE_KERNELS_PER_LAYER, ELEMENTWISE_KERNELS_PER_MOE_LAYER};
use std::sync::Arc;

/// One GEMM's per-GPU weight shape: output features `n`, input features `k`.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
struct Gemm {
    n: f64,
    k: f64,
}

/// The constants of one MoE layer (per GPU).
#[derive(Clone, Debug, PartialEq)]
struct MoeConsts {
    /// Routed experts on one GPU: `E / ep`.
    experts: f64,
    /// Share of the routed token-expert pairs one GPU computes: `1 / ep`.
    pair_share: f64,
    /// Experts per token k.
    top_k: f64,
    /// `1 - k/E`: the chance one routed token misses a given expert.
    miss: f64,
    /// Weight bytes of one routed expert on one GPU: `3 h I_e wbytes / t`.
    expert_weight_bytes: f64,
    /// FLOPs of one routed token through one expert on one GPU: `2 x 3 h I_e / t`.
    expert_flops: f64,
    /// Activation bytes per routed token-expert pair: `(2h + 3 I_e / t) x 2`.
    expert_act_bytes: f64,
    /// Router GEMM (replicated, BF16).
    router: Gemm,
    /// Shared experts' gate/up and down GEMMs (`n = 0` when there are none).
    shared: [Gemm; 2],
    /// The routed experts are MXFP4 (the engine layer's MXFP4 scales apply to their
    /// roofline time).
    mxfp4: bool,
    /// The routed experts are FP8 (the engine layer's `fp8-moe-*` terms, where set,
    /// price them by the roofline).
    fp8: bool,
}

/// Step cost of one instance: a model on TP GPUs of one kind.
///
/// `tp` must have passed [`crate::memory::check_tp`]; 0 is treated as 1.
#[derive(Clone, Debug)]
pub struct CostModel {
    arch: ModelArch,
    gpu: GpuSpec,
    tp: u32,
    par: Parallelism,
    /// Dispatch/combine all-to-alls per step (DP-attention with MoE; else 0), the latency
    /// of one, its seconds per byte sent by one GPU, and the bytes one GPU sends per
    /// token of its attention rank.
    a2a_calls: f64,
    a2a_latency_s: f64,
    a2a_s_per_byte: f64,
    a2a_bytes_per_token: f64,
    weights: Dtype,
    kv: Dtype,
    eff: Efficiencies,
    // Precomputed, per GPU.
    layers: f64,
    dense_layers: f64,
    moe_layers: f64,
    hidden: f64,
    attn_gemms: [Gemm; 5],
    ffn_gemms: [Gemm; 2],
    moe: Option<MoeConsts>,
    prefill_flops_per_pair: f64,
    decode_flops_per_ctx: f64,
    kv_bytes_per_ctx: f64,
    elementwise_bytes_per_token: f64,
    elementwise_kernels: f64,
    allreduce_calls: f64,
    allreduce_latency_s: f64,
    allreduce_s_per_byte: f64,
    /// The inter-node part of each TP all-reduce when the group spans nodes.
    allreduce_net: AllreduceNet,
    lm_head: Gemm,
    wbytes: f64,
    gemm_flops_per_s: f64,
    attn_flops_per_s: f64,
    mem_bytes_per_s: f64,
    /// Memory-bound bytes per token of one fused add+RMSNorm, rotary, KV-cache write and
    /// (dense layers) SiLU-and-mul; and the MoE-only bytes per token, all layers.
    mb_norm: f64,
    mb_rotary: f64,
    mb_kv_write: f64,
    mb_silu_dense: f64,
    mb_moe: f64,
    /// The profile lookups, when a profile is in use.
    cal: Option<Calibration>,
    /// The engine layer, when one is in use ([`CostModel::with_engine`]).
    engine: Option<crate::EngineParams>,
    /// Speculative decoding, when in use ([`CostModel::with_speculative`]).
    spec: Option<Speculative>,
    /// The busiest expert rank's routed pairs over the mean ([`CostModel::with_expert_imbalance`]).
    expert_imbalance: f64,
    /// The routed-expert kernel family ([`CostModel::with_moe_kernel`]).
    moe_kernel: MoeKernel,
    /// MLA decode attention priced by the profile's measured kernel rather than the
    /// roofline ([`CostModel::with_mla_decode_measured`]).
    mla_decode_measured: bool,
    /// Two-batch overlap of the all-to-all with compute ([`CostModel::with_two_batch_overlap`]).
    two_batch_overlap: bool,
}

impl CostModel {
    /// The cost model of one instance: calibrated from the GPU's shipped profile where
    /// one exists ([`crate::calibrated::builtin_profile`]), the roofline otherwise.
    /// `par` is a TP degree or a [`Parallelism`] that passed [`Parallelism::check`].
    pub fn new(
        arch: ModelArch,
        gpu: GpuSpec,
        par: impl Into<Parallelism>,
        weights: Dtype,
        kv: Dtype,
        eff: Efficiencies,
    ) -> CostModel {
        let par = par.into();
        let tp = par.gpus;
        // Attention, dense layers, router, shared experts and lm_head split over one
        // attention rank's GPUs (all of them without DP-attention).
        let at = par.attention_tp();
        let t = f64::from(at);
        let h = f64::from(arch.hidden_size);
        let nh_gpu = f64::from(arch.num_heads) / t;
        let wbytes = weights.bytes();

        // Attention projections, memory-bound bytes of rotary and KV write, and attention
        // FLOPs/bytes, per layer per GPU.
        let mut attn_gemms = [Gemm::default(); 5];
        let (prefill_flops_per_pair, decode_flops_per_ctx, rotary_elems, kv_write_elems) =
            match &arch.mla {
                Some(m) => {
                    let rope = f64::from(m.qk_rope_head_dim);
                    let nope = f64::from(m.qk_nope_head_dim);
                    let v = f64::from(m.v_head_dim);
                    let kvr = f64::from(m.kv_lora_rank);
                    let qk = nope + rope;
                    if m.q_lora_rank > 0 {
                        let qr = f64::from(m.q_lora_rank);
                        attn_gemms[0] = Gemm { n: qr, k: h };
                        attn_gemms[1] = Gemm {
                            n: nh_gpu * qk,
                            k: qr,
                        };
                    } else {
                        attn_gemms[0] = Gemm {
                            n: nh_gpu * qk,
                            k: h,
                        };
                    }
                    attn_gemms[2] = Gemm {
                        n: kvr + rope,
                        k: h,
                    };
                    attn_gemms[3] = Gemm {
                        n: nh_gpu * (nope + v),
                        k: kvr,
                    };
                    attn_gemms[4] = Gemm {
                        n: h,
                        k: nh_gpu * v,
                    };
                    (
                        2.0 * nh_gpu * (qk + v),
                        2.0 * nh_gpu * (kvr + rope) + 2.0 * nh_gpu * kvr,
                        (nh_gpu + 1.0) * rope,
                        kvr + rope,
                    )
                }
                None => {
                    let hd = f64::from(arch.head_dim);
                    let kvh_gpu = f64::from(arch.kv_heads_per_gpu(at));
                    attn_gemms[0] = Gemm {
                        n: (nh_gpu + 2.0 * kvh_gpu) * hd,
                        k: h,
                    };
                    attn_gemms[1] = Gemm {
                        n: h,
                        k: nh_gpu * hd,
                    };
                    (
                        4.0 * nh_gpu * hd,
                        4.0 * nh_gpu * hd,
                        (nh_gpu + kvh_gpu) * hd,
                        2.0 * kvh_gpu * hd,
                    )
                }
            };
        let layers = f64::from(arch.num_layers);
        let dense_layers = f64::from(arch.num_dense_ffn_layers());
        let moe_layers = f64::from(arch.num_moe_layers());
        let i_dense = f64::from(arch.intermediate_size) / t;
        let ffn_gemms = [
            Gemm {
                n: 2.0 * i_dense,
                k: h,
            },
            Gemm { n: h, k: i_dense },
        ];

        let moe = arch.moe.as_ref().map(|m| {
            let e = f64::from(m.num_experts);
            let k = f64::from(m.experts_per_token);
            let ep = f64::from(par.ep_ranks());
            let ie = f64::from(m.expert_intermediate_size) / f64::from(par.moe_tp());
            let is =
                f64::from(m.num_shared_experts) * f64::from(m.shared_expert_intermediate_size) / t;
            let shared = if is > 0.0 {
                [Gemm { n: 2.0 * is, k: h }, Gemm { n: h, k: is }]
            } else {
                [Gemm::default(); 2]
            };
            MoeConsts {
                experts: e / ep,
                pair_share: 1.0 / ep,
                top_k: k,
                miss: 1.0 - k / e,
                expert_weight_bytes: 3.0 * h * ie * m.expert_weights.bytes(weights),
                expert_flops: 2.0 * 3.0 * h * ie,
                expert_act_bytes: (2.0 * h + 3.0 * ie) * ACT_BYTES,
                router: Gemm { n: e, k: h },
                shared,
                mxfp4: m.expert_weights == crate::arch::ExpertWeights::Mxfp4,
                fp8: m.expert_weights.row_dtype(weights) == crate::ExpertDtype::Fp8,
            }
        });

        // Memory-bound bytes per token, all layers (see the module docs).
        let per_layer_common =
            ELEMENTWISE_HIDDEN_PASSES * h + 2.0 * rotary_elems + 2.0 * kv_write_elems;
        let act_ffn_moe = arch.moe.as_ref().map_or(0.0, |m| {
            (f64::from(m.experts_per_token) * f64::from(m.expert_intermediate_size)
                + f64::from(m.num_shared_experts) * f64::from(m.shared_expert_intermediate_size))
                / t
        });
        let top_k = arch
            .moe
            .as_ref()
            .map_or(0.0, |m| f64::from(m.experts_per_token));
        let elementwise_bytes_per_token = ACT_BYTES
            * (layers * per_layer_common
                + dense_layers * ELEMENTWISE_FFN_PASSES * i_dense
                // MoE: SiLU-mul over the activated experts, and the top-k reduction that
                // reads the k expert outputs of each token and writes one (the grouped
                // GEMM already reads its inputs and writes its outputs).
                + moe_layers * (ELEMENTWISE_FFN_PASSES * act_ffn_moe + (top_k + 1.0) * h)
                // Embedding lookup (read + write) and final norm (read + write).
                + 4.0 * h);
        let elementwise_kernels = layers * ELEMENTWISE_KERNELS_PER_LAYER
            + moe_layers * ELEMENTWISE_KERNELS_PER_MOE_LAYER
            + 2.0;

        let allreduce_latency_s = match gpu.interconnect.kind {
            crate::InterconnectKind::Nvlink => NVLINK_ALLREDUCE_LATENCY_S,
            crate::InterconnectKind::Pcie => PCIE_ALLREDUCE_LATENCY_S,
        };
        let (a2a_calls, a2a_s_per_byte, a2a_bytes_per_token) = all_to_all(&arch, &gpu, &par, &eff);
        let (allreduce_calls, allreduce_s_per_byte) = if t > 1.0 {
            (2.0 * layers, node_allreduce_s_per_byte(&gpu, at, &eff))
        } else {
            (0.0, 0.0)
        };
        let allreduce_net = AllreduceNet::new(&gpu, at, &eff);

        let model = CostModel {
            mb_norm: ELEMENTWISE_HIDDEN_PASSES / 2.0 * h * ACT_BYTES,
            mb_rotary: 2.0 * rotary_elems * ACT_BYTES,
            mb_kv_write: 2.0 * kv_write_elems * ACT_BYTES,
            mb_silu_dense: ELEMENTWISE_FFN_PASSES * i_dense * ACT_BYTES,
            mb_moe: ACT_BYTES
                * moe_layers
                * (ELEMENTWISE_FFN_PASSES * act_ffn_moe + (top_k + 1.0) * h),
            cal: None,
            engine: None,
            spec: None,
            expert_imbalance: 1.0,
            moe_kernel: MoeKernel::Fastest,
            mla_decode_measured: false,
            two_batch_overlap: false,
            par,
            a2a_calls,
            a2a_latency_s: allreduce_latency_s,
            a2a_s_per_byte,
            a2a_bytes_per_token,
            layers,
            dense_layers,
            moe_layers,
            hidden: h,
            attn_gemms,
            ffn_gemms,
            moe,
            prefill_flops_per_pair,
            decode_flops_per_ctx,
            kv_bytes_per_ctx: kv_write_elems * kv.bytes(),
            elementwise_bytes_per_token,
            elementwise_kernels,
            allreduce_calls,
            allreduce_latency_s,
            allreduce_s_per_byte,
            allreduce_net,
            lm_head: Gemm {
                n: f64::from(arch.vocab_size) / t,
                k: h,
            },
            wbytes,
            gemm_flops_per_s: gpu.peak_flops(weights) * eff.gemm_flops,
            attn_flops_per_s: gpu.peak_flops(Dtype::Bf16) * eff.attention_flops,
            mem_bytes_per_s: gpu.memory_bandwidth_bytes_s() * eff.memory_bandwidth,
            arch,
            gpu,
            tp,
            weights,
            kv,
            eff,
        };
        let origin = format!("builtin:{}", model.gpu.id);
        let builtin = builtin_profile(&model.gpu.id);
        model.with_profile_named(builtin, &origin)
    }

    /// The same instance with another calibration profile, or none (`None`: the pure
    /// roofline). The origin reported is `builtin:<gpu>` for a shipped profile, else
    /// `<gpu id> profile of <date>` from its header; see [`Self::with_profile_named`].
    pub fn with_profile(self, profile: Option<Arc<Profile>>) -> CostModel {
        let origin = match &profile {
            Some(p) => match builtin_profile(&p.header().gpu_id) {
                Some(b) if Arc::ptr_eq(&b, p) => {
                    format!("builtin:{}", p.header().gpu_id)
                }
                _ => format!("{} profile of {}", p.header().gpu_id, p.header().date_utc),
            },
            None => String::new(),
        };
        self.with_profile_named(profile, &origin)
    }

    /// [`Self::with_profile`] with the origin to report (a file path, say).
    pub fn with_profile_named(mut self, profile: Option<Arc<Profile>>, origin: &str) -> CostModel {
        self.cal = profile.map(|p| {
            let int = |x: f64| x.round() as u64;
            let plain = self.arch.mla.is_none();
            let dense = self.dense_layers > 0.0;
            let nk = |g: Gemm| Some((int(g.n), int(g.k)));
            let gemm_nk = [
                if plain { nk(self.attn_gemms[0]) } else { None },
                if plain { nk(self.attn_gemms[1]) } else { None },
                if dense { nk(self.ffn_gemms[0]) } else { None },
                if dense { nk(self.ffn_gemms[1]) } else { None },
                nk(self.lm_head),
            ];
            let h = self.hidden * ACT_BYTES;
            let memory = [
                self.mb_norm,
                self.mb_rotary,
                self.mb_kv_write,
                if dense { self.mb_silu_dense } else { 0.0 },
                2.0 * h,
                2.0 * h,
            ];
            let (l, d) = (self.layers, self.dense_layers);
            Calibration::new(
                p,
                origin.to_string(),
                &self.arch,
                self.par,
                self.weights,
                self.kv,
                InstanceShapes {
                    gemm_nk,
                    gemm_counts: if plain {
                        [l, l, d, d]
                    } else {
                        [0.0, 0.0, d, d]
                    },
                    memory_bytes_per_token: memory,
                    memory_counts: [2.0 * l, l, l, if dense { d } else { 0.0 }, 1.0, 1.0],
                    expert_imbalance: self.expert_imbalance,
                    moe_kernel: self.moe_kernel,
                    mla_decode_measured: self.mla_decode_measured,
                    gpus_per_node: self.gpu.gpus_per_node,
                },
            )
        });
        self
    }

    /// Where the calibration profile in use came from (`builtin:h100`, a path), or
    /// `None` when every term is the roofline.
    pub fn profile_origin(&self) -> Option<&str> {
        self.cal.as_ref().map(|c| c.origin.as_str())
    }

    /// The same instance with an engine layer ([`crate::engine`]) above the kernels, or
    /// none. With one, every kernel term of a step is multiplied by its
    /// [`EngineParams::kernel_factor`](crate::EngineParams::kernel_factor) and the
    /// overhead is the engine's (source `fitted`). `params` must have passed
    /// [`EngineParams::check`](crate::EngineParams::check).
    pub fn with_engine(mut self, params: Option<crate::EngineParams>) -> CostModel {
        self.engine = params;
        self
    }

    /// The same instance with hot experts: under expert parallelism the busiest expert
    /// rank computes `f` times the mean rank's routed token-expert pairs, and every rank
    /// waits for it (`f` in `[1, ep]`; 1: balanced routing, the default; EPLB's redundant
    /// experts lower it). Without expert parallelism every GPU holds a slice of every
    /// expert and `f` has no effect.
    pub fn with_expert_imbalance(mut self, f: f64) -> CostModel {
        let f = if self.par.ep_ranks() > 1 {
            f.max(1.0)
        } else {
            1.0
        };
        if f == self.expert_imbalance {
            return self;
        }
        self.expert_imbalance = f;
        if let Some(m) = self.moe.as_mut() {
            m.pair_share = f / f64::from(self.par.ep_ranks());
        }
        self.recalibrated()
    }

    /// The same instance with its routed experts priced by the measured kernel family an
    /// engine runs ([`MoeKernel`]); the profile's fastest rows when it has none of that
    /// family for the shape.
    pub fn with_moe_kernel(mut self, k: MoeKernel) -> CostModel {
        if k == self.moe_kernel {
            return self;
        }
        self.moe_kernel = k;
        self.recalibrated()
    }

    /// The same instance with its profile lookups rebuilt (after a change to what they
    /// depend on: expert imbalance, expert kernel, MLA decode kernel).
    fn recalibrated(mut self) -> CostModel {
        match self.cal.take() {
            Some(c) => {
                let origin = c.origin.clone();
                self.with_profile_named(Some(c.profile), &origin)
            }
            None => self,
        }
    }

    /// The same instance with MLA decode attention (DeepSeek-V3/R1, absorbed form) priced
    /// by the calibration profile's `attention_decode_mla` rows, our own NVRTC kernel, when
    /// `measured`; by the roofline otherwise (the default). The engines run
    /// FlashMLA-class kernels (FlashMLA, FlashInfer's MLA, TensorRT-LLM's own), and ours
    /// is slower than those: 2.4 TB/s of latent on an H200 at 16 heads per GPU (TP 8),
    /// 108 TFLOP/s at 128 (DP-attention), where FlashMLA publishes about 3 TB/s and 660
    /// TFLOP/s on an H800 (docs/calibration.md). Replayed against the engines' measured
    /// runs, the roofline is the closer of the two (README, `validate --serving`).
    pub fn with_mla_decode_measured(mut self, measured: bool) -> CostModel {
        if measured == self.mla_decode_measured {
            return self;
        }
        self.mla_decode_measured = measured;
        self.recalibrated()
    }

    /// Whether MLA decode attention is priced by the profile's measured kernel
    /// ([`CostModel::with_mla_decode_measured`]).
    pub fn mla_decode_measured(&self) -> bool {
        self.mla_decode_measured
    }

    /// The routed-expert kernel family in use.
    pub fn moe_kernel(&self) -> MoeKernel {
        self.moe_kernel
    }

    /// The same instance with two-batch overlap (SGLang `--enable-two-batch-overlap`, vLLM
    /// `--enable-dbo`): each step runs as two micro-batches so that one's dispatch/combine
    /// all-to-all runs during the other's compute, a two-stage pipeline that hides half of
    /// the shorter of the two. Only the all-to-all of DP-attention with EP is hidden;
    /// without it the step is unchanged.
    pub fn with_two_batch_overlap(mut self, on: bool) -> CostModel {
        self.two_batch_overlap = on;
        self
    }

    /// The engine layer in use, if any.
    pub fn engine(&self) -> Option<&crate::EngineParams> {
        self.engine.as_ref()
    }

    /// The calibration profile in use, if any.
    pub fn profile(&self) -> Option<&Arc<Profile>> {
        self.cal.as_ref().map(|c| &c.profile)
    }

    /// The architecture.
    pub fn arch(&self) -> &ModelArch {
        &self.arch
    }

    /// The GPU.
    pub fn gpu(&self) -> &GpuSpec {
        &self.gpu
    }

    /// The TP degree: the instance's GPUs.
    pub fn tp(&self) -> u32 {
        self.tp
    }

    /// How the instance splits the model over its GPUs.
    pub fn parallelism(&self) -> Parallelism {
        self.par
    }

    /// Weight dtype.
    pub fn weights(&self) -> Dtype {
        self.weights
    }

    /// KV-cache dtype.
    pub fn kv(&self) -> Dtype {
        self.kv
    }

    /// The efficiencies the roofline assumes.
    pub fn efficiencies(&self) -> &Efficiencies {
        &self.eff
    }

    /// Where the step costs come from for typical steps: [`CostSource::Calibrated`] when
    /// a profile covers this instance's projection GEMMs and both attention kernels (MLA:
    /// the MLA projections, MLA prefill and absorbed-MLA decode) (then steps within the
    /// measured ranges report calibrated), else the roofline.
    pub fn source(&self) -> CostSource {
        let attention = |c: &Calibration| match self.arch.mla {
            Some(_) => {
                c.v2.mla_gemms_isolated.is_some()
                    && c.v2.mla_prefill.is_some()
                    && c.mla_decode.is_some()
            }
            None => {
                c.gemms[GEMM_QKV..=GEMM_O].iter().all(Option::is_some)
                    && c.prefill.is_some()
                    && c.decode_covered
            }
        };
        match &self.cal {
            Some(c)
                if attention(c)
                    && (self.dense_layers == 0.0
                        || c.gemms[GEMM_GATE_UP..=GEMM_DOWN]
                            .iter()
                            .all(Option::is_some))
                    && (self.moe.is_none() || c.v2.moe_covered()) =>
            {
                CostSource::Calibrated
            }
            _ => CostSource::Roofline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The roofline model (these tests pin the roofline; calibrated costs are tested in
    /// `models/tests/cost_calibrated.rs`).
    pub(super) fn model(id: &str, gpu: &str, tp: u32, w: Dtype) -> CostModel {
        CostModel::new(
            ModelArch::builtin(id).unwrap(),
            GpuSpec::builtin(gpu).unwrap(),
            tp,
            w,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_profile(None)
    }

    pub(super) fn decode(seqs: u32, ctx_each: u64) -> StepShape {
        StepShape {
            decode_seqs: seqs,
            decode_context_tokens: u64::from(seqs) * ctx_each,
            ..StepShape::default()
        }
    }

    pub(super) fn prefill(tokens: u64) -> StepShape {
        StepShape {
            prefill_tokens: tokens,
            prefill_seqs: 1,
            prefill_attn_pairs: tokens * (tokens + 1) / 2,
            ..StepShape::default()
        }
    }

    pub(super) fn ms(c: &CostModel, s: &StepShape) -> f64 {
        let cost = c.step(s);
        eprintln!(
            "{} {} tp{} {}: {:.3} ms {:?}",
            c.arch().id,
            c.gpu().id,
            c.tp(),
            c.weights().name(),
            cost.seconds * 1e3,
            cost.breakdown
        );
        cost.seconds * 1e3
    }

    #[test]
    fn empty_step_costs_nothing() {
        let c = model("llama-3.1-70b", "h100", 4, Dtype::Bf16);
        let s = c.step(&StepShape::default());
        assert_eq!(s.seconds, 0.0);
        assert_eq!(s.breakdown, CostBreakdown::default());
        assert_eq!(s.source, CostSource::Roofline);
    }

    #[test]
    fn breakdown_sums_to_total() {
        let c = model("qwen3-32b", "h100", 4, Dtype::Bf16);
        let shape = StepShape {
            prefill_tokens: 1000,
            prefill_seqs: 2,
            prefill_attn_pairs: 700_000,
            decode_seqs: 64,
            decode_context_tokens: 64 * 3000,
        };
        let s = c.step(&shape);
        let b = s.breakdown;
        let sum = b.gemm_s
            + b.attention_prefill_s
            + b.attention_decode_s
            + b.memory_bound_s
            + b.allreduce_s
            + b.lm_head_s
            + b.overhead_s;
        assert!((sum - s.seconds).abs() <= 1e-12 * s.seconds);
        assert_eq!(c.step_seconds(&shape), s.seconds);
        for term in [
            b.gemm_s,
            b.attention_prefill_s,
            b.attention_decode_s,
            b.memory_bound_s,
            b.allreduce_s,
            b.lm_head_s,
            b.overhead_s,
        ] {
            assert!(term > 0.0);
        }
    }

    fn shape_strategy() -> impl Strategy<Value = StepShape> {
        (
            0u64..20_000,
            0u32..8,
            0u64..50_000_000,
            0u32..512,
            0u64..2_000_000,
        )
            .prop_map(
                |(
                    prefill_tokens,
                    prefill_seqs,
                    prefill_attn_pairs,
                    decode_seqs,
                    decode_context_tokens,
                )| StepShape {
                    prefill_tokens,
                    prefill_seqs,
                    prefill_attn_pairs,
                    decode_seqs,
                    decode_context_tokens,
                },
            )
    }

    proptest! {
        #[test]
        fn more_work_is_never_cheaper(s in shape_strategy(), field in 0usize..5, extra in 1u64..10_000) {
            let models = [
                model("llama-3.1-8b", "h100", 1, Dtype::Bf16),
                model("qwen3-32b", "l20", 4, Dtype::Fp8),
                model("qwen3-235b-a22b", "h200", 8, Dtype::Fp8),
                model("deepseek-v3", "b200", 8, Dtype::Fp8),
            ];
            let mut more = s;
            match field {
                0 => more.prefill_tokens += extra,
                1 => more.prefill_seqs += 1,
                2 => more.prefill_attn_pairs += extra,
                3 => more.decode_seqs += 1,
                _ => more.decode_context_tokens += extra,
            }
            for c in &models {
                let a = c.step(&s);
                let b = c.step(&more);
                prop_assert!(a.seconds.is_finite() && a.seconds >= 0.0);
                prop_assert!(b.seconds >= a.seconds, "{:?} -> {:?}: {} > {}", s, more, a.seconds, b.seconds);
            }
        }
    }
}
