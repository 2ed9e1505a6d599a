//! How the memory of one instance (TP GPUs) divides into weights, activations and KV cache.
//!
//! Per GPU: `usable = memory_gib x GiB x gpu_memory_utilization - reserve`; weights take
//! `ModelArch::weight_bytes / tp` of it (every parameter at the weights' dtype but the
//! embedding and lm_head, BF16 in FP8 checkpoints, and routed experts in their own
//! format; the embedding and lm_head are vocab-parallel in vLLM and SGLang, so they
//! split across TP ranks like every other weight); the rest
//! is KV cache. With attention data parallelism ([`Parallelism`]: `dp` ranks of TP
//! `tp / dp`), every weight but the routed experts is held once per rank, split by the
//! rank's TP, the routed experts are split over all GPUs, and each rank caches its own
//! requests' KV: the instance holds `dp` times the tokens one rank's GPUs have room for.
//!
//! Invariants of a [`MemoryPlan`] (checked by [`MemoryPlan::new`]):
//!
//! - `tp >= 1`, `tp` divides the attention heads, and for GQA models `tp` divides the KV
//!   heads or the KV heads divide `tp` (then each KV head is replicated on `tp / kv_heads`
//!   GPUs); MLA models only need `tp` to divide the heads (the latent is replicated);
//! - `weight_bytes_per_gpu + kv_bytes_per_gpu + reserve_bytes_per_gpu` equals
//!   `memory x utilisation` (less the sliding-window KV of the running sequences once
//!   [`MemoryPlan::reserve_windows`] took it), and `kv_bytes_per_gpu > 0` before that;
//! - `kv_capacity_tokens = dp x floor(kv_bytes_per_gpu / kv_bytes_per_token_per_gpu)`:
//!   every GPU of an attention rank holds its share of every token that rank caches
//!   (`dp = 1`: of every token of the instance).

use crate::gpu::GIB;
use crate::{Dtype, GpuSpec, ModelArch, Parallelism};
use serde::Serialize;

/// The memory plan of one instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemoryPlan {
    /// Weight bytes resident on each GPU.
    pub weight_bytes_per_gpu: f64,
    /// Bytes per GPU reserved for activations, CUDA graphs and the runtime.
    pub reserve_bytes_per_gpu: f64,
    /// Bytes per GPU left for the KV cache.
    pub kv_bytes_per_gpu: f64,
    /// KV bytes one token occupies on each GPU.
    pub kv_bytes_per_token_per_gpu: f64,
    /// Tokens of KV cache the instance holds.
    pub kv_capacity_tokens: u64,
    /// Sliding-window KV bytes one running sequence holds on each GPU (0 without
    /// sliding-window layers); see [`MemoryPlan::reserve_windows`].
    #[serde(skip_serializing_if = "is_zero")]
    pub kv_window_bytes_per_seq_per_gpu: f64,
    /// Running sequences whose windows are reserved (0: none).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub windows_reserved: u32,
    /// Attention data-parallel ranks the plan is for.
    #[serde(skip)]
    dp: u32,
}

/// Why a deployment does not fit. Fatal for the scenario; the message carries the numbers.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// TP does not divide the attention heads (or KV heads do not split or replicate evenly).
    #[error(
        "tensor parallel {tp} does not divide the {heads} attention heads / {kv_heads} KV heads of {model}"
    )]
    TpHeads {
        /// Model id.
        model: String,
        /// TP degree.
        tp: u32,
        /// Query heads.
        heads: u32,
        /// KV heads.
        kv_heads: u32,
    },
    /// The split of the GPUs does not suit the model ([`Parallelism::check`]).
    #[error("{model}: {message}")]
    Parallelism {
        /// Model id.
        model: String,
        /// What does not fit.
        message: String,
    },
    /// Weights (plus the reserve) exceed the usable memory.
    #[error(
        "{model} weights need {weights_gib:.1} GiB per GPU at TP {tp} ({dtype}), but {gpu} has {usable_gib:.1} GiB usable ({memory_gib:.1} GiB x {mem_util} utilisation - {reserve_gib:.1} GiB reserve)"
    )]
    Weights {
        /// Model id.
        model: String,
        /// GPU id.
        gpu: String,
        /// TP degree.
        tp: u32,
        /// Weight dtype name.
        dtype: &'static str,
        /// Weight GiB per GPU.
        weights_gib: f64,
        /// Usable GiB for weights + KV.
        usable_gib: f64,
        /// Device memory GiB.
        memory_gib: f64,
        /// Memory utilisation fraction.
        mem_util: f64,
        /// Reserve GiB.
        reserve_gib: f64,
    },
}

impl MemoryPlan {
    /// Plan the memory of one instance: `gpu_memory_utilization` (vLLM's
    /// `--gpu-memory-utilization`, SGLang's `--mem-fraction-static`) of each GPU, minus
    /// `reserve_gib` for activations, minus weights/TP, is KV cache.
    pub fn new(
        arch: &ModelArch,
        gpu: &GpuSpec,
        par: impl Into<Parallelism>,
        weights: Dtype,
        kv: Dtype,
        gpu_memory_utilization: f64,
        reserve_gib: f64,
    ) -> Result<MemoryPlan, FitError> {
        let par = par.into();
        par.check(arch)?;
        let tp = par.gpus;
        let weight_bytes_per_gpu = weight_bytes_per_gpu(arch, &par, weights);
        let reserve_bytes_per_gpu = reserve_gib * GIB;
        let usable = gpu.memory_bytes() * gpu_memory_utilization - reserve_bytes_per_gpu;
        // Also rejects NaN from a nonsensical utilisation or reserve.
        if usable.is_nan() || usable <= weight_bytes_per_gpu {
            return Err(FitError::Weights {
                model: arch.id.clone(),
                gpu: gpu.id.clone(),
                tp,
                dtype: weights.name(),
                weights_gib: weight_bytes_per_gpu / GIB,
                usable_gib: usable / GIB,
                memory_gib: gpu.memory_gib,
                mem_util: gpu_memory_utilization,
                reserve_gib,
            });
        }
        let kv_bytes_per_gpu = usable - weight_bytes_per_gpu;
        let kv_bytes_per_token_per_gpu = arch.kv_bytes_per_token_per_gpu(kv, par.attention_tp());
        // Finite and non-negative here, so the cast saturates rather than wraps.
        let kv_capacity_tokens = kv_tokens(kv_bytes_per_gpu, kv_bytes_per_token_per_gpu, &par);
        Ok(MemoryPlan {
            weight_bytes_per_gpu,
            reserve_bytes_per_gpu,
            kv_bytes_per_gpu,
            kv_bytes_per_token_per_gpu,
            kv_capacity_tokens,
            kv_window_bytes_per_seq_per_gpu: arch
                .kv_window_bytes_per_seq_per_gpu(kv, par.attention_tp()),
            windows_reserved: 0,
            dp: par.dp_ranks(),
        })
    }

    /// Plan the memory of one TensorRT-LLM instance: weights/TP and `reserve_gib` for
    /// activations come first; the KV cache takes `free_fraction` of what is left
    /// (`kv_cache_config.free_gpu_memory_fraction`, applied to the memory free after the
    /// model is loaded and the activation profiling run: `KvCacheCreator` in
    /// `tensorrt_llm/_torch/pyexecutor/_util.py`). The rest stays unused.
    pub fn of_free_memory(
        arch: &ModelArch,
        gpu: &GpuSpec,
        par: impl Into<Parallelism>,
        weights: Dtype,
        kv: Dtype,
        free_fraction: f64,
        reserve_gib: f64,
    ) -> Result<MemoryPlan, FitError> {
        let par = par.into();
        par.check(arch)?;
        let tp = par.gpus;
        let weight_bytes_per_gpu = weight_bytes_per_gpu(arch, &par, weights);
        let reserve_bytes_per_gpu = reserve_gib * GIB;
        let free = gpu.memory_bytes() - reserve_bytes_per_gpu - weight_bytes_per_gpu;
        // Also rejects NaN from a nonsensical fraction or reserve.
        let kv_bytes_per_gpu = free * free_fraction;
        if free.is_nan() || kv_bytes_per_gpu.is_nan() || free <= 0.0 || kv_bytes_per_gpu <= 0.0 {
            return Err(FitError::Weights {
                model: arch.id.clone(),
                gpu: gpu.id.clone(),
                tp,
                dtype: weights.name(),
                weights_gib: weight_bytes_per_gpu / GIB,
                usable_gib: (gpu.memory_bytes() - reserve_bytes_per_gpu) / GIB,
                memory_gib: gpu.memory_gib,
                mem_util: 1.0,
                reserve_gib,
            });
        }
        let kv_bytes_per_token_per_gpu = arch.kv_bytes_per_token_per_gpu(kv, par.attention_tp());
        // Finite and positive here, so the cast saturates rather than wraps.
        let kv_capacity_tokens = kv_tokens(kv_bytes_per_gpu, kv_bytes_per_token_per_gpu, &par);
        Ok(MemoryPlan {
            weight_bytes_per_gpu,
            reserve_bytes_per_gpu,
            kv_bytes_per_gpu,
            kv_bytes_per_token_per_gpu,
            kv_capacity_tokens,
            kv_window_bytes_per_seq_per_gpu: arch
                .kv_window_bytes_per_seq_per_gpu(kv, par.attention_tp()),
            windows_reserved: 0,
            dp: par.dp_ranks(),
        })
    }

    /// The plan with the sliding-window KV of `max_num_seqs` running sequences (spread
    /// over the attention ranks) taken from the KV cache before it is counted in tokens:
    /// vLLM's and SGLang's sliding-window pools hold a window per running request. Without
    /// sliding-window layers the plan is unchanged.
    pub fn reserve_windows(mut self, max_num_seqs: u32) -> MemoryPlan {
        if self.kv_window_bytes_per_seq_per_gpu == 0.0 {
            return self;
        }
        let dp = self.dp.max(1);
        let per_gpu = f64::from(max_num_seqs.div_ceil(dp)) * self.kv_window_bytes_per_seq_per_gpu;
        self.kv_bytes_per_gpu = (self.kv_bytes_per_gpu - per_gpu).max(0.0);
        self.windows_reserved = max_num_seqs;
        self.kv_capacity_tokens =
            ((self.kv_bytes_per_gpu / self.kv_bytes_per_token_per_gpu).floor() as u64)
                .saturating_mul(u64::from(dp));
        self
    }

    /// KV-cache GiB per GPU.
    pub fn kv_gib_per_gpu(&self) -> f64 {
        self.kv_bytes_per_gpu / GIB
    }

    /// Weight GiB per GPU.
    pub fn weight_gib_per_gpu(&self) -> f64 {
        self.weight_bytes_per_gpu / GIB
    }
}

/// Weight bytes on each GPU: everything split by TP over all GPUs, or with attention data
/// parallelism everything but the routed experts once per attention rank (split by its
/// TP) and the routed experts over all GPUs (module docs).
fn weight_bytes_per_gpu(arch: &ModelArch, par: &Parallelism, weights: Dtype) -> f64 {
    let total = arch.weight_bytes(weights);
    if par.dp_ranks() == 1 {
        return total / f64::from(par.gpus);
    }
    let routed = arch.moe.as_ref().map_or(0.0, |m| {
        arch.routed_expert_params() * m.expert_weights.bytes(weights)
    });
    (total - routed) / f64::from(par.attention_tp()) + routed / f64::from(par.gpus)
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero_u32(x: &u32) -> bool {
    *x == 0
}

/// Tokens the instance caches: `dp` ranks of `floor(kv bytes / bytes per token)` each.
fn kv_tokens(kv_bytes_per_gpu: f64, per_token: f64, par: &Parallelism) -> u64 {
    ((kv_bytes_per_gpu / per_token).floor() as u64).saturating_mul(u64::from(par.dp_ranks()))
}

/// Whether `tp` splits the heads of `arch` evenly (see the module invariants).
pub fn check_tp(arch: &ModelArch, tp: u32) -> Result<(), FitError> {
    let heads = arch.num_heads;
    let kv_heads = arch.num_kv_heads;
    let ok = tp >= 1
        && heads.is_multiple_of(tp)
        && (arch.mla.is_some() || kv_heads.is_multiple_of(tp) || tp.is_multiple_of(kv_heads));
    if ok {
        Ok(())
    } else {
        Err(FitError::TpHeads {
            model: arch.id.clone(),
            tp,
            heads,
            kv_heads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arch(id: &str) -> ModelArch {
        ModelArch::builtin(id).unwrap()
    }
    fn gpu(id: &str) -> GpuSpec {
        GpuSpec::builtin(id).unwrap()
    }

    #[test]
    fn qwen3_32b_fits_tp2_on_h100() {
        let a = arch("qwen3-32b");
        let p = MemoryPlan::new(&a, &gpu("h100"), 2, Dtype::Bf16, Dtype::Bf16, 0.9, 2.0).unwrap();
        // 32.8B x 2 B / 2 = 30.5 GiB of weights per GPU.
        assert!(
            (p.weight_gib_per_gpu() - 30.5).abs() < 0.2,
            "{}",
            p.weight_gib_per_gpu()
        );
        let total = p.weight_bytes_per_gpu + p.kv_bytes_per_gpu + p.reserve_bytes_per_gpu;
        assert!((total - 0.9 * 79.18 * GIB).abs() < 1.0);
        // 64 layers x 2 x (8 / 2) heads x 128 x 2 B = 131,072 B per token per GPU.
        assert_eq!(p.kv_bytes_per_token_per_gpu, 131_072.0);
        assert_eq!(
            p.kv_capacity_tokens,
            (p.kv_bytes_per_gpu / 131_072.0).floor() as u64
        );
        assert!(p.kv_capacity_tokens > 250_000, "{}", p.kv_capacity_tokens);
    }

    #[test]
    fn free_fraction_applies_to_memory_left_after_weights() {
        let a = arch("qwen3-32b");
        let h = gpu("h100");
        let p = MemoryPlan::of_free_memory(&a, &h, 2, Dtype::Bf16, Dtype::Bf16, 0.9, 2.0).unwrap();
        let free = h.memory_bytes() - 2.0 * GIB - p.weight_bytes_per_gpu;
        assert!((p.kv_bytes_per_gpu - 0.9 * free).abs() < 1.0);
        // More KV than vLLM's 0.9 of the whole GPU, which also leaves 10% of the weights' share.
        let v = MemoryPlan::new(&a, &h, 2, Dtype::Bf16, Dtype::Bf16, 0.9, 2.0).unwrap();
        assert!(p.kv_capacity_tokens > v.kv_capacity_tokens);
        // Weights that leave nothing free do not fit.
        let e = MemoryPlan::of_free_memory(&a, &h, 1, Dtype::Bf16, Dtype::Bf16, 0.9, 20.0);
        assert!(e.is_err());
    }

    #[test]
    fn qwen3_32b_does_not_fit_tp1_on_l20() {
        let e = MemoryPlan::new(
            &arch("qwen3-32b"),
            &gpu("l20"),
            1,
            Dtype::Bf16,
            Dtype::Bf16,
            0.9,
            1.0,
        )
        .unwrap_err();
        let msg = e.to_string();
        // 65.5e9 B = 61.0 GiB of weights; 44.5 x 0.9 - 1 = 39.05 GiB usable.
        assert!(msg.contains("61.0 GiB"), "{msg}");
        assert!(
            msg.contains("39.1 GiB") && msg.contains("44.5 GiB x 0.9"),
            "{msg}"
        );
        assert!(
            msg.contains("l20") && msg.contains("qwen3-32b") && msg.contains("TP 1"),
            "{msg}"
        );
        assert!(matches!(e, FitError::Weights { .. }));
    }

    #[test]
    fn tp_must_split_heads() {
        let l = arch("llama-3.1-70b");
        let h = gpu("h100");
        let e = MemoryPlan::new(&l, &h, 3, Dtype::Bf16, Dtype::Bf16, 0.9, 1.0).unwrap_err();
        assert!(
            matches!(
                e,
                FitError::TpHeads {
                    tp: 3,
                    heads: 64,
                    kv_heads: 8,
                    ..
                }
            ),
            "{e}"
        );
        assert!(MemoryPlan::new(&l, &h, 0, Dtype::Bf16, Dtype::Bf16, 0.9, 1.0).is_err());
        // 16 > 8 KV heads: replicated, allowed; one KV head per GPU.
        let p = MemoryPlan::new(&l, &h, 16, Dtype::Bf16, Dtype::Bf16, 0.9, 1.0).unwrap();
        assert_eq!(p.kv_bytes_per_token_per_gpu, 80.0 * 2.0 * 128.0 * 2.0);
        // Qwen3-235B has 4 KV heads: TP 8 replicates each KV head twice.
        let q = arch("qwen3-235b-a22b");
        let p = MemoryPlan::new(&q, &gpu("h200"), 8, Dtype::Fp8, Dtype::Bf16, 0.9, 2.0).unwrap();
        assert_eq!(p.kv_bytes_per_token_per_gpu, 94.0 * 2.0 * 128.0 * 2.0);
    }

    #[test]
    fn mla_needs_only_heads_and_replicates_the_latent() {
        let d = arch("deepseek-v3");
        let p = MemoryPlan::new(&d, &gpu("h200"), 8, Dtype::Fp8, Dtype::Bf16, 0.9, 4.0).unwrap();
        assert_eq!(
            p.kv_bytes_per_token_per_gpu,
            d.kv_bytes_per_token(Dtype::Bf16)
        );
        // 671B at fp8 does not fit one 8-GPU H100 node.
        let e =
            MemoryPlan::new(&d, &gpu("h100"), 8, Dtype::Fp8, Dtype::Bf16, 0.9, 4.0).unwrap_err();
        assert!(matches!(e, FitError::Weights { .. }));
    }

    #[test]
    fn nonsense_utilisation_is_an_error_not_a_panic() {
        let a = arch("llama-3.1-8b");
        let h = gpu("h100");
        for util in [0.0, -1.0, f64::NAN] {
            assert!(MemoryPlan::new(&a, &h, 1, Dtype::Bf16, Dtype::Bf16, util, 1.0).is_err());
        }
        assert!(MemoryPlan::new(&a, &h, 1, Dtype::Bf16, Dtype::Bf16, 0.9, f64::NAN).is_err());
    }

    #[test]
    fn fp8_kv_doubles_capacity() {
        let a = arch("llama-3.1-8b");
        let h = gpu("h100");
        let b = MemoryPlan::new(&a, &h, 1, Dtype::Bf16, Dtype::Bf16, 0.9, 1.0).unwrap();
        let f = MemoryPlan::new(&a, &h, 1, Dtype::Bf16, Dtype::Fp8, 0.9, 1.0).unwrap();
        assert!(f.kv_capacity_tokens >= 2 * b.kv_capacity_tokens);
        assert!(f.kv_capacity_tokens <= 2 * b.kv_capacity_tokens + 1);
    }
}
