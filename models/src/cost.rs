//! The time of one engine step: one forward pass of a batch on one instance of TP degree t.
//!
//! The step is described by aggregates ([`StepShape`]) so that its cost is O(1) in the
//! batch size. Each term is a roofline (max of compute and memory time at stated
//! efficiencies) unless a calibration profile covers it.

use crate::{Dtype, GpuSpec, ModelArch};
use serde::Serialize;

/// What one step computes, as aggregates over the sequences in the batch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StepShape {
    /// New (not cached) prompt tokens computed this step, summed over prefill chunks.
    pub prefill_tokens: u64,
    /// Prefill chunks (sequences) in the step.
    pub prefill_seqs: u32,
    /// Causal attention query-key pairs of the prefill chunks: sum over chunks of
    /// `new * context_before + new * (new + 1) / 2`.
    pub prefill_attn_pairs: u64,
    /// Sequences decoding one token this step.
    pub decode_seqs: u32,
    /// Sum over decoding sequences of their context length (KV tokens read).
    pub decode_context_tokens: u64,
}

/// Whether a term comes from the roofline or from a calibration profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostSource {
    /// Roofline with the efficiencies in [`Efficiencies`].
    Roofline,
    /// Measured kernels.
    Calibrated,
}

/// Seconds per term of one step.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize)]
pub struct CostBreakdown {
    /// QKV, O, gate/up, down projections (and MoE experts), all layers.
    pub gemm_s: f64,
    /// Prefill attention, all layers.
    pub attention_prefill_s: f64,
    /// Decode attention (KV reads), all layers.
    pub attention_decode_s: f64,
    /// Norms, activations, rotary and other memory-bound kernels.
    pub memory_bound_s: f64,
    /// TP all-reduce (two per layer).
    pub allreduce_s: f64,
    /// lm_head and sampling for the sequences that emit a token.
    pub lm_head_s: f64,
    /// Fixed per-step overhead (scheduling, launch) plus per-sequence overhead.
    pub overhead_s: f64,
}

/// The predicted time of one step.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct StepCost {
    /// Total seconds.
    pub seconds: f64,
    /// Per-term seconds (sums to `seconds`).
    pub breakdown: CostBreakdown,
    /// Where the numbers come from.
    pub source: CostSource,
}

/// Fractions of peak that the roofline assumes kernels achieve. Documented defaults.
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
}

impl Default for Efficiencies {
    fn default() -> Self {
        todo!()
    }
}

/// Step cost of one instance: a model on TP GPUs of one kind.
#[derive(Clone, Debug)]
pub struct CostModel {
    arch: ModelArch,
    gpu: GpuSpec,
    tp: u32,
    weights: Dtype,
    kv: Dtype,
    eff: Efficiencies,
}

impl CostModel {
    /// A roofline cost model.
    pub fn new(
        arch: ModelArch,
        gpu: GpuSpec,
        tp: u32,
        weights: Dtype,
        kv: Dtype,
        eff: Efficiencies,
    ) -> CostModel {
        CostModel {
            arch,
            gpu,
            tp,
            weights,
            kv,
            eff,
        }
    }

    /// The time of one step with its breakdown.
    pub fn step(&self, shape: &StepShape) -> StepCost {
        let _ = (
            shape,
            &self.arch,
            &self.gpu,
            self.tp,
            self.weights,
            self.kv,
            &self.eff,
        );
        todo!()
    }

    /// The time of one step in seconds (hot path: same as `step(shape).seconds`).
    pub fn step_seconds(&self, shape: &StepShape) -> f64 {
        self.step(shape).seconds
    }
}
