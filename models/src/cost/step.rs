//! One engine step: what it computes ([`StepShape`]), what it costs ([`StepCost`], with
//! its [`CostBreakdown`] and [`CostSource`]), and the [`CostModel`] methods that price it.
//!
//! Invariants: an empty step (no tokens) costs exactly 0, overhead included; the
//! breakdown sums to the total; [`CostModel::step_seconds_memo`] is bit-identical to
//! [`CostModel::step_seconds`] (the same terms, summed in the same order).

use super::CostModel;
use super::sustained::RawTerms;
use crate::{CostSources, StepMemo, TermSource};
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

impl StepShape {
    /// One prefill chunk of `tokens` new prompt tokens after `context` tokens already in
    /// KV (causal: `tokens * context + tokens * (tokens + 1) / 2` attention pairs).
    pub fn prefill_chunk(tokens: u64, context: u64) -> StepShape {
        StepShape {
            prefill_tokens: tokens,
            prefill_seqs: 1,
            prefill_attn_pairs: tokens * context + tokens * (tokens + 1) / 2,
            ..StepShape::default()
        }
    }

    /// A decode step of `seqs` sequences with `context` tokens of KV each.
    pub fn decode_batch(seqs: u32, context: u64) -> StepShape {
        StepShape {
            decode_seqs: seqs,
            decode_context_tokens: u64::from(seqs) * context,
            ..StepShape::default()
        }
    }
}

/// Whether a term comes from the roofline or from a calibration profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostSource {
    /// Roofline with the efficiencies in [`Efficiencies`](super::Efficiencies).
    Roofline,
    /// Measured kernels.
    Calibrated,
}

impl CostSource {
    /// Its name in outputs (`roofline`, `calibrated`), as serialised.
    pub fn name(self) -> &'static str {
        match self {
            CostSource::Roofline => "roofline",
            CostSource::Calibrated => "calibrated",
        }
    }
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
    /// Where the numbers come from: [`CostSource::Calibrated`] when the GEMMs and every
    /// non-zero attention term came from a profile.
    pub source: CostSource,
    /// Where each term comes from.
    pub sources: CostSources,
}

impl CostBreakdown {
    /// Sum of the terms, seconds.
    pub fn total(&self) -> f64 {
        self.gemm_s
            + self.attention_prefill_s
            + self.attention_decode_s
            + self.memory_bound_s
            + self.allreduce_s
            + self.lm_head_s
            + self.overhead_s
    }
}

impl CostModel {
    /// The time of one step with its breakdown and per-term sources.
    pub fn step(&self, shape: &StepShape) -> StepCost {
        let (breakdown, sources) = self.terms(shape);
        let attention_ok = |s: TermSource| s == TermSource::None || s.is_measured();
        let source = if sources.gemm.is_measured()
            && attention_ok(sources.attention_prefill)
            && attention_ok(sources.attention_decode)
        {
            CostSource::Calibrated
        } else {
            CostSource::Roofline
        };
        StepCost {
            seconds: breakdown.total(),
            breakdown,
            source,
            sources,
        }
    }

    /// The time of one step in seconds (hot path: same as `step(shape).seconds`).
    pub fn step_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).total()
    }

    /// [`Self::step_seconds`] with the terms that depend on the token count alone (GEMMs,
    /// memory-bound kernels, all-reduce) and on the sequence count alone (lm_head) taken
    /// from `memo`, computed once per count. Bit-identical to [`Self::step_seconds`]:
    /// the stored terms are the ones it computes, summed in the same order. `memo` must
    /// be used with this model only (see [`crate::step_memo`]).
    pub fn step_seconds_memo(&self, shape: &StepShape, memo: &mut StepMemo) -> f64 {
        // With DP-attention a rank's share depends on more than the token count; a
        // speculative step prices a verify shape.
        if self.par.dp_ranks() > 1 || self.spec.is_some() {
            return self.step_seconds(shape);
        }
        let tokens_n = shape.prefill_tokens + u64::from(shape.decode_seqs);
        if tokens_n == 0 {
            return CostBreakdown::default().total();
        }
        let sustained = matches!(&self.cal, Some(c) if c.v2.sustained);
        let [gemm_s, gemm_isolated_s, memory_bound_s, allreduce_s] = memo.tokens(tokens_n, || {
            [
                self.gemm_term(shape).0,
                if sustained {
                    self.gemm_term_with(shape, false).0
                } else {
                    f64::NAN
                },
                self.memory_bound_term(shape).0,
                self.allreduce_term(shape).0,
            ]
        });
        let seqs_n = u64::from(shape.prefill_seqs) + u64::from(shape.decode_seqs);
        let lm_head_s = memo.seqs(seqs_n, || self.lm_head_term(shape).0);
        let (attention_prefill_s, attention_prefill) = self.attention_prefill_term(shape);
        let attention_decode_s = self
            .attention_decode_windowed(shape, Some(memo))
            .unwrap_or_else(|| self.rf_attention_decode_windowed(shape));
        let (gemm_s, attention_prefill_s) = self.at_sustained_clocks(
            shape,
            RawTerms {
                gemm_s,
                gemm_isolated_s: if sustained { gemm_isolated_s } else { gemm_s },
                attention_prefill_s,
                attention_prefill_calibrated: attention_prefill == TermSource::Calibrated,
                attention_decode_s,
                memory_bound_s,
                allreduce_s,
                lm_head_s,
            },
        );
        self.engine_scaled(
            shape,
            CostBreakdown {
                gemm_s,
                attention_prefill_s,
                attention_decode_s,
                memory_bound_s,
                allreduce_s,
                lm_head_s,
                overhead_s: self.overhead_seconds(shape),
            },
        )
        .total()
    }

    /// `b` with its kernel terms times the engine layer's
    /// [`EngineParams::kernel_factor`](crate::EngineParams::kernel_factor), its all-reduce
    /// latency per call added to the all-reduce term, every kernel term raised in
    /// proportion to the layer floor and, in a step with prompt tokens, the MoE layers'
    /// eager floor
    /// ([`EngineParams::floored_kernels_s`](crate::EngineParams::floored_kernels_s)), and
    /// its overhead (already the engine's CPU time) reduced to the part the kernels do not
    /// hide ([`EngineParams::exposed_overhead_s`](crate::EngineParams::exposed_overhead_s));
    /// unchanged without an engine layer.
    fn engine_scaled(&self, shape: &StepShape, b: CostBreakdown) -> CostBreakdown {
        let Some(e) = &self.engine else {
            return b;
        };
        let f = e.kernel_factor(shape.prefill_tokens, shape.decode_seqs);
        let mut out = CostBreakdown {
            gemm_s: b.gemm_s * f,
            attention_prefill_s: b.attention_prefill_s * f,
            attention_decode_s: b.attention_decode_s * f,
            memory_bound_s: b.memory_bound_s * f,
            allreduce_s: b.allreduce_s * f,
            lm_head_s: b.lm_head_s * f,
            overhead_s: 0.0,
        };
        let kernels = out.total();
        // Steps with prompt tokens run without CUDA graphs on engines that capture decode
        // batches only: their MoE layers' eager floor applies.
        let eager_moe_layers = if shape.prefill_tokens > 0 {
            self.moe_layers
        } else {
            0.0
        };
        let target =
            e.floored_kernels_s(kernels, self.layers, self.allreduce_calls, eager_moe_layers);
        if target > kernels {
            out.allreduce_s += self.allreduce_calls * e.allreduce_latency_us * 1e-6;
            let raise = target / out.total();
            if raise > 1.0 {
                for t in [
                    &mut out.gemm_s,
                    &mut out.attention_prefill_s,
                    &mut out.attention_decode_s,
                    &mut out.memory_bound_s,
                    &mut out.allreduce_s,
                    &mut out.lm_head_s,
                ] {
                    *t *= raise;
                }
            }
        }
        out.overhead_s = e.exposed_overhead_s(b.overhead_s, out.total());
        out
    }

    /// Per-term seconds of one step (all zero for an empty step).
    pub fn breakdown(&self, shape: &StepShape) -> CostBreakdown {
        self.terms(shape).0
    }

    /// Per-term seconds and sources of one step (with speculative decoding when in use).
    fn terms(&self, shape: &StepShape) -> (CostBreakdown, CostSources) {
        if tokens(shape) == 0.0 {
            return (CostBreakdown::default(), CostSources::default());
        }
        let (mut raw, sources) = match &self.spec {
            Some(s) if shape.decode_seqs > 0 => self.speculative_terms(s, shape),
            _ => self.raw_terms(shape),
        };
        if self.two_batch_overlap && self.a2a_calls > 0.0 {
            // Two micro-batches: half the shorter of the all-to-all and the compute hides.
            let comm = self.a2a_seconds(&self.rank(shape)).min(raw.allreduce_s);
            let compute = raw.gemm_s
                + raw.attention_prefill_s
                + raw.attention_decode_s
                + raw.memory_bound_s
                + raw.lm_head_s;
            raw.allreduce_s -= comm.min(compute) / 2.0;
        }
        (self.engine_scaled(shape, raw), sources)
    }

    /// Per-term seconds and sources of one step without speculative decoding and before
    /// the engine layer's scaling ([`Self::engine_scaled`]).
    pub(super) fn raw_terms(&self, shape: &StepShape) -> (CostBreakdown, CostSources) {
        if tokens(shape) == 0.0 {
            return (CostBreakdown::default(), CostSources::default());
        }
        let (gemm_s, gemm) = self.gemm_term(shape);
        let (attention_prefill_s, attention_prefill) = self.attention_prefill_term(shape);
        let (attention_decode_s, attention_decode) = self.attention_decode_term(shape);
        let (memory_bound_s, memory_bound) = self.memory_bound_term(shape);
        let (allreduce_s, allreduce) = self.allreduce_term(shape);
        let (lm_head_s, lm_head) = self.lm_head_term(shape);
        let gemm_isolated_s = match &self.cal {
            Some(c) if c.v2.sustained => self.gemm_term_with(shape, false).0,
            _ => gemm_s,
        };
        let (gemm_s, attention_prefill_s) = self.at_sustained_clocks(
            &self.rank(shape),
            RawTerms {
                gemm_s,
                gemm_isolated_s,
                attention_prefill_s,
                attention_prefill_calibrated: attention_prefill == TermSource::Calibrated,
                attention_decode_s,
                memory_bound_s,
                allreduce_s,
                lm_head_s,
            },
        );
        let overhead_s = self.overhead_seconds(shape);
        (
            CostBreakdown {
                gemm_s,
                attention_prefill_s,
                attention_decode_s,
                memory_bound_s,
                allreduce_s,
                lm_head_s,
                overhead_s,
            },
            CostSources {
                gemm,
                attention_prefill,
                attention_decode,
                memory_bound,
                allreduce,
                lm_head,
                overhead: match (overhead_s > 0.0, self.engine.is_some()) {
                    (false, _) => TermSource::None,
                    (true, false) => TermSource::Assumed,
                    (true, true) => TermSource::Fitted,
                },
            },
        )
    }
}

impl CostModel {
    /// The busiest attention rank's share of a step (the step itself without
    /// DP-attention): decode sequences split evenly, their context in proportion (both
    /// rounded up); a prefill chunk stays on one rank, so the prefill tokens and
    /// attention pairs divide by `min(dp, prefill_seqs)`. With DP-attention, spreading the
    /// same prefill tokens over more chunks can thus make a step cheaper (they run on
    /// more ranks at once).
    pub(super) fn rank(&self, shape: &StepShape) -> StepShape {
        let dp = self.par.dp_ranks();
        if dp == 1 {
            return *shape;
        }
        let chunks = u64::from(shape.prefill_seqs.clamp(1, dp));
        let decode_seqs = shape.decode_seqs.div_ceil(dp);
        let decode_context_tokens = if shape.decode_seqs == 0 {
            0
        } else {
            let c = u128::from(shape.decode_context_tokens) * u128::from(decode_seqs);
            u64::try_from(c.div_ceil(u128::from(shape.decode_seqs))).unwrap_or(u64::MAX)
        };
        StepShape {
            prefill_tokens: shape.prefill_tokens.div_ceil(chunks),
            prefill_seqs: shape.prefill_seqs.div_ceil(dp),
            prefill_attn_pairs: shape.prefill_attn_pairs.div_ceil(chunks),
            decode_seqs,
            decode_context_tokens,
        }
    }
}

/// Tokens computed in the step: `prefill_tokens + decode_seqs`.
pub(super) fn tokens(shape: &StepShape) -> f64 {
    shape.prefill_tokens as f64 + f64::from(shape.decode_seqs)
}

/// Sequences that produce logits: `prefill_seqs + decode_seqs`.
pub(super) fn seqs(shape: &StepShape) -> f64 {
    f64::from(shape.prefill_seqs) + f64::from(shape.decode_seqs)
}
