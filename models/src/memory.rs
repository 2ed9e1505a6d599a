//! How the memory of one instance (TP GPUs) divides into weights, activations and KV cache.

use crate::{Dtype, GpuSpec, ModelArch};
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
    /// Weights (plus the reserve) exceed the usable memory.
    #[error(
        "{model} weights need {weights_gib:.1} GiB per GPU at TP {tp} ({dtype}), but {gpu} has {usable_gib:.1} GiB usable ({memory_gib:.0} GiB x {mem_util} utilisation - {reserve_gib:.1} GiB reserve)"
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
        tp: u32,
        weights: Dtype,
        kv: Dtype,
        gpu_memory_utilization: f64,
        reserve_gib: f64,
    ) -> Result<MemoryPlan, FitError> {
        let _ = (
            arch,
            gpu,
            tp,
            weights,
            kv,
            gpu_memory_utilization,
            reserve_gib,
        );
        todo!()
    }
}
