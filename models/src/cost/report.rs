//! The report of one step's predicted time, as `xpyd cost` prints it: the total in
//! milliseconds with its per-term breakdown, where each term comes from, and the model,
//! GPU, TP and formats it was priced for; as JSON ([`StepReport`] serialises) or text
//! ([`StepReport::to_text`]).
//!
//! Invariants: a report only reads its [`CostModel`]; its numbers are those of
//! [`CostModel::step`], converted from seconds to milliseconds once, here.

use super::{CostBreakdown, CostModel, StepShape};
use crate::CostSources;
use serde::Serialize;
use std::fmt::Write as _;

/// [`CostBreakdown`] in milliseconds.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct BreakdownMs {
    /// GEMMs.
    pub gemm: f64,
    /// Prefill attention.
    pub attention_prefill: f64,
    /// Decode attention.
    pub attention_decode: f64,
    /// Memory-bound kernels.
    pub memory_bound: f64,
    /// TP all-reduce.
    pub allreduce: f64,
    /// lm_head and sampling.
    pub lm_head: f64,
    /// Per-step and per-sequence overhead.
    pub overhead: f64,
}

impl From<CostBreakdown> for BreakdownMs {
    fn from(b: CostBreakdown) -> BreakdownMs {
        BreakdownMs {
            gemm: b.gemm_s * 1e3,
            attention_prefill: b.attention_prefill_s * 1e3,
            attention_decode: b.attention_decode_s * 1e3,
            memory_bound: b.memory_bound_s * 1e3,
            allreduce: b.allreduce_s * 1e3,
            lm_head: b.lm_head_s * 1e3,
            overhead: b.overhead_s * 1e3,
        }
    }
}

/// One step's predicted time with what it depends on (fields in output order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepReport {
    /// Total milliseconds.
    pub ms: f64,
    /// `calibrated` or `roofline` (see [`super::CostSource`]).
    pub source: &'static str,
    /// Per-term milliseconds.
    pub breakdown: BreakdownMs,
    /// Per term: `calibrated`, `extrapolated`, `roofline`, `partial`, `assumed` or `none`.
    pub sources: CostSources,
    /// The calibration profile in use (`builtin:h100`, a path), `null` for the roofline.
    pub profile: Option<String>,
    /// Model id.
    pub model: String,
    /// GPU id.
    pub gpu: String,
    /// TP degree.
    pub tp: u32,
    /// DP-attention ranks (written when above 1).
    #[serde(skip_serializing_if = "is_one")]
    pub dp: u32,
    /// Expert-parallel ranks (written when above 1).
    #[serde(skip_serializing_if = "is_one")]
    pub ep: u32,
    /// Weight format.
    pub weights: &'static str,
    /// KV-cache format.
    pub kv_cache: &'static str,
    /// The step priced.
    pub shape: StepShape,
    /// The engine layer above the kernels (absent: kernels with the assumed overheads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineLayerReport>,
}

/// The engine layer a step was priced with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineLayerReport {
    /// Its parameters.
    pub params: crate::EngineParams,
    /// The factor on this step's kernel terms (already in the breakdown).
    pub kernel_factor: f64,
}

impl StepReport {
    /// Price `shape` with `cm`.
    pub fn new(cm: &CostModel, shape: StepShape) -> StepReport {
        let cost = cm.step(&shape);
        StepReport {
            ms: cost.seconds * 1e3,
            source: cost.source.name(),
            breakdown: cost.breakdown.into(),
            sources: cost.sources,
            profile: cm.profile_origin().map(str::to_string),
            model: cm.arch().id.clone(),
            gpu: cm.gpu().id.clone(),
            tp: cm.tp(),
            dp: cm.parallelism().dp_ranks(),
            ep: cm.parallelism().ep_ranks(),
            weights: cm.weights().name(),
            kv_cache: cm.kv().name(),
            shape,
            engine: cm.engine().map(|e| EngineLayerReport {
                params: e.clone(),
                kernel_factor: e.kernel_factor(shape.prefill_tokens, shape.decode_seqs),
            }),
        }
    }

    /// The text form: a headline, the profile, then one line per term with its source.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let b = &self.breakdown;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{} on {} x {} ({}), weights {}, KV {}: {:.3} ms per step ({})",
            self.model,
            self.tp,
            self.gpu,
            crate::Parallelism {
                gpus: self.tp,
                dp: self.dp,
                ep: self.ep,
            }
            .label(),
            self.weights,
            self.kv_cache,
            self.ms,
            self.source
        );
        match &self.profile {
            Some(p) => {
                let _ = writeln!(out, "  profile: {p}");
            }
            None => {
                let _ = writeln!(out, "  profile: none (roofline)");
            }
        }
        if let Some(e) = &self.engine {
            let p = &e.params;
            let _ = writeln!(
                out,
                "  engine layer: kernel terms x {:.4} (prefill-scale {}, decode-scale {}), CPU {} ms + {} us per sequence, {}% of it hidden behind the kernels at most",
                e.kernel_factor,
                p.prefill_scale,
                p.decode_scale,
                p.step_overhead_ms,
                p.per_seq_overhead_us,
                p.cpu_overlap * 100.0
            );
        }
        let src = self.sources;
        for (name, v, s) in [
            ("gemm", b.gemm, src.gemm),
            (
                "attention (prefill)",
                b.attention_prefill,
                src.attention_prefill,
            ),
            (
                "attention (decode)",
                b.attention_decode,
                src.attention_decode,
            ),
            ("memory-bound ops", b.memory_bound, src.memory_bound),
            ("TP all-reduce", b.allreduce, src.allreduce),
            ("lm_head + sampling", b.lm_head, src.lm_head),
            ("overhead", b.overhead, src.overhead),
        ] {
            let _ = writeln!(out, "  {name:<22}{v:>10.3} ms  {}", s.label());
        }
        out
    }
}

fn is_one(n: &u32) -> bool {
    *n == 1
}
