//! Speculative decoding (DeepSeek MTP heads, EAGLE-style draft layers) in the step cost.
//!
//! A decoding sequence proposes `k` draft tokens with a one-layer draft head, and the
//! target model verifies them in one forward pass of `1 + k` query tokens per sequence;
//! position `i` of the drafts is accepted with probability `a` given that the ones before
//! it were, so a step emits `E = 1 + a + a^2 + ... + a^k` tokens on average.
//!
//! The simulator's decode step emits one token per sequence, so a step with decoding
//! sequences stands for `1 / E` of a real one: its decode part costs
//! `(T(verify) + k x T(draft)) / E`, where `T(verify)` prices the `B x k` draft tokens as
//! extra query tokens of the `B` sequences (each attends to its context and the drafts
//! before it; logits for all `B (1 + k)` positions) and one draft token costs one layer of
//! a `B`-sequence decode step plus its lm_head. Prefill chunks in the same step keep their
//! marginal cost: `T(step) = T(verify with prefill) - (1 - 1/E) T(verify without)`.
//! TPOT and the inter-token gaps are therefore the real ones averaged over the `E` tokens a
//! step emits (the real gaps alternate between a step and nothing).
//!
//! Invariants: without speculative decoding, and for steps without decoding sequences, the
//! step cost is exactly the plain one; every term stays non-negative.

use super::CostModel;
use super::step::CostBreakdown;
use crate::{CostSources, StepShape};
use serde::Serialize;

/// Speculative decoding of every decoding sequence (see the module docs).
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Speculative {
    /// Draft tokens proposed per step, `k` (at least 1).
    pub draft_tokens: u32,
    /// Probability that a draft token is accepted given that the ones before it were,
    /// in `[0, 1]`.
    pub acceptance: f64,
}

impl Speculative {
    /// Tokens one step emits per sequence on average: `1 + a + ... + a^k`.
    pub fn tokens_per_step(&self) -> f64 {
        let mut sum = 1.0;
        let mut p = 1.0;
        for _ in 0..self.draft_tokens {
            p *= self.acceptance;
            sum += p;
        }
        sum
    }
}

impl CostModel {
    /// The same instance with speculative decoding of every decoding sequence, or none.
    /// `s` must have `draft_tokens >= 1` and `acceptance` in `[0, 1]`.
    pub fn with_speculative(mut self, s: Option<Speculative>) -> CostModel {
        self.spec = s;
        self
    }

    /// The speculative decoding in use, if any.
    pub fn speculative(&self) -> Option<&Speculative> {
        self.spec.as_ref()
    }

    /// Per-term seconds and sources of one step with speculative decoding (module docs);
    /// `plain` prices a step without it.
    pub(super) fn speculative_terms(
        &self,
        s: &Speculative,
        shape: &StepShape,
        plain: impl Fn(&StepShape) -> (CostBreakdown, CostSources),
    ) -> (CostBreakdown, CostSources) {
        let b = shape.decode_seqs;
        if b == 0 {
            return plain(shape);
        }
        let k = u64::from(s.draft_tokens);
        let drafts = u64::from(b) * k;
        let verify = |with_prefill: bool| StepShape {
            prefill_tokens: if with_prefill {
                shape.prefill_tokens
            } else {
                0
            } + drafts,
            prefill_seqs: (if with_prefill { shape.prefill_seqs } else { 0 })
                .saturating_add(u32::try_from(drafts).unwrap_or(u32::MAX)),
            prefill_attn_pairs: (if with_prefill {
                shape.prefill_attn_pairs
            } else {
                0
            })
            .saturating_add(k.saturating_mul(shape.decode_context_tokens))
            .saturating_add(u64::from(b) * k * (k + 1) / 2),
            decode_seqs: b,
            decode_context_tokens: shape.decode_context_tokens,
        };
        let (with, sources) = plain(&verify(true));
        let (without, _) = plain(&verify(false));
        let (one, _) = plain(&StepShape::decode_batch(b, 0).with_context(shape));
        let e = s.tokens_per_step();
        let keep = 1.0 - 1.0 / e;
        // One draft token: one layer of the B-sequence decode step, plus its lm_head.
        let per_layer = 1.0 / self.layers;
        let draft = |x: f64, lm: bool| k as f64 * if lm { x } else { x * per_layer };
        let term = |w: f64, wo: f64, d: f64| (w - keep * wo).max(0.0) + d / e;
        (
            CostBreakdown {
                gemm_s: term(with.gemm_s, without.gemm_s, draft(one.gemm_s, false)),
                attention_prefill_s: term(
                    with.attention_prefill_s,
                    without.attention_prefill_s,
                    draft(one.attention_prefill_s, false),
                ),
                attention_decode_s: term(
                    with.attention_decode_s,
                    without.attention_decode_s,
                    draft(one.attention_decode_s, false),
                ),
                memory_bound_s: term(
                    with.memory_bound_s,
                    without.memory_bound_s,
                    draft(one.memory_bound_s, false),
                ),
                allreduce_s: term(
                    with.allreduce_s,
                    without.allreduce_s,
                    draft(one.allreduce_s, false),
                ),
                lm_head_s: term(
                    with.lm_head_s,
                    without.lm_head_s,
                    draft(one.lm_head_s, true),
                ),
                overhead_s: term(
                    with.overhead_s,
                    without.overhead_s,
                    draft(one.overhead_s, false),
                ),
            },
            sources,
        )
    }
}

impl StepShape {
    /// This decode batch with the decoding context of `of`.
    fn with_context(mut self, of: &StepShape) -> StepShape {
        self.decode_context_tokens = of.decode_context_tokens;
        self
    }
}
