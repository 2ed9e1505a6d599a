//! The sustained-clock weighting of a step: calibrated GEMMs (and prefill attention)
//! slow down when replayed back to back at the power limit, and a step pays that
//! slowdown in proportion to the share of its GPU time spent in them.
//!
//! Invariants: only the GEMMs and calibrated prefill attention are weighted. Without
//! sustained rows in the profile the terms pass through unchanged; with them, a term
//! moves from its isolated value by the share `f` in `[0, 1]` of the measured slowdown,
//! and the GEMM term never falls below its isolated value.

use super::{CostModel, StepShape};

/// A step's terms before the sustained-clock weighting ([`CostModel::at_sustained_clocks`]).
#[derive(Copy, Clone, Debug)]
pub(super) struct RawTerms {
    /// GEMMs at sustained clocks where the profile measured the factor, else as measured.
    pub(super) gemm_s: f64,
    /// GEMMs as measured one kernel at a time.
    pub(super) gemm_isolated_s: f64,
    pub(super) attention_prefill_s: f64,
    /// Whether the prefill attention came from a calibrated table.
    pub(super) attention_prefill_calibrated: bool,
    pub(super) attention_decode_s: f64,
    pub(super) memory_bound_s: f64,
    pub(super) allreduce_s: f64,
    pub(super) lm_head_s: f64,
}

impl CostModel {
    /// The GEMM and prefill-attention seconds of a step at sustained clocks, from its
    /// terms as measured one kernel at a time (shared by [`Self::step_seconds`] and
    /// [`Self::step_seconds_memo`], so both compute bit-identical values).
    ///
    /// The GEMM stack factor was measured with the GPU in GEMMs all the time; a step
    /// spends only the share `f` of its GPU time in tensor-core-bound work (GEMMs,
    /// prefill attention) and the rest below the power limit, so the GEMMs pay `f` of the
    /// measured slowdown. Calibrated prefill attention pays the same share of its
    /// measured slowdown when replayed back to back (`attention_sustained`, over the
    /// step's prefill tokens).
    pub(super) fn at_sustained_clocks(&self, shape: &StepShape, t: RawTerms) -> (f64, f64) {
        match &self.cal {
            Some(c) if c.v2.sustained || c.attention_sustained.is_some() => {
                let isolated = t.gemm_isolated_s;
                let busy = isolated + t.attention_prefill_s;
                let all =
                    busy + t.attention_decode_s + t.memory_bound_s + t.allreduce_s + t.lm_head_s;
                let f = if all > 0.0 { busy / all } else { 0.0 };
                let attention = match &c.attention_sustained {
                    Some(r) if t.attention_prefill_calibrated && shape.prefill_tokens > 0 => {
                        let ratio = r.at(shape.prefill_tokens as f64);
                        t.attention_prefill_s * (1.0 + (ratio - 1.0) * f)
                    }
                    _ => t.attention_prefill_s,
                };
                (isolated + (t.gemm_s - isolated).max(0.0) * f, attention)
            }
            _ => (t.gemm_s, t.attention_prefill_s),
        }
    }
}
