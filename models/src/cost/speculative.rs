//! Speculative decoding (DeepSeek MTP heads, EAGLE-style draft layers) in the step cost.
//!
//! A decoding sequence proposes `k` draft tokens with a one-layer draft head, and the
//! target model verifies them in one forward pass of `1 + k` query tokens per sequence;
//! position `i` of the drafts is accepted with probability `a_i` given that the ones before
//! it were (one rate for all positions, or one per position), so a step emits
//! `E = 1 + a_1 + a_1 a_2 + ... + a_1 ... a_k` tokens on average (`1 + a + ... + a^k`).
//!
//! The simulator's decode step emits one token per sequence, so a step with decoding
//! sequences stands for `1 / E` of a real one: its decode part costs
//! `(T(verify) + k x T(draft)) / E`, where `T(verify)` prices the `B x k` draft tokens as
//! extra query tokens of the `B` sequences (each attends to its context and the drafts
//! before it; logits for all `B (1 + k)` positions) and one draft token costs one layer of
//! a `B`-sequence decode step plus its lm_head. Prefill chunks in the same step keep their
//! marginal cost over the plain decode step: `T = T(step) - T(decode) + (T(verify) + k
//! T(draft)) / E`, per term. The engine layer scales the result as it scales the plain
//! step (its prefill/decode mix is the step's, not the verify pass's); the per-sequence CPU
//! time of the verify pass counts every verified position.
//! TPOT and the inter-token gaps are therefore the real ones averaged over the `E` tokens a
//! step emits (the real gaps alternate between a step and nothing).
//!
//! Invariants: without speculative decoding, and for steps without decoding sequences, the
//! step cost is exactly the plain one; every term stays non-negative.

use super::CostModel;
use super::step::CostBreakdown;
use crate::{CostSources, StepShape};
use serde::Serialize;

/// The most draft tokens a step may propose.
pub const MAX_DRAFT_TOKENS: usize = 16;

/// Speculative decoding of every decoding sequence (see the module docs).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Speculative {
    /// Draft tokens proposed per step, `k` (1 to [`MAX_DRAFT_TOKENS`]).
    pub draft_tokens: u32,
    /// `rates[i]`: probability that draft position `i + 1` is accepted given that the ones
    /// before it were, in `[0, 1]`; positions from `k` on are unused.
    rates: [f64; MAX_DRAFT_TOKENS],
}

impl Speculative {
    /// `k` draft tokens, each accepted with probability `a` given the ones before it were.
    /// `None` unless `1 <= k <= 16` and `a` is in `[0, 1]`.
    pub fn uniform(k: u32, a: f64) -> Option<Speculative> {
        let n = usize::try_from(k).ok()?;
        Speculative::per_position(&vec![a; n])
    }

    /// One conditional acceptance rate per draft position (position `i + 1` accepted with
    /// probability `rates[i]` given the ones before it were), as engines report them
    /// (SGLang's and vLLM's per-position acceptance metrics). `None` unless there are 1 to
    /// 16 rates, each in `[0, 1]`.
    pub fn per_position(rates: &[f64]) -> Option<Speculative> {
        if rates.is_empty()
            || rates.len() > MAX_DRAFT_TOKENS
            || !rates.iter().all(|a| (0.0..=1.0).contains(a))
        {
            return None;
        }
        let mut r = [0.0; MAX_DRAFT_TOKENS];
        r[..rates.len()].copy_from_slice(rates);
        Some(Speculative {
            draft_tokens: rates.len() as u32,
            rates: r,
        })
    }

    /// The conditional acceptance rate of each draft position.
    pub fn acceptance(&self) -> &[f64] {
        &self.rates[..self.draft_tokens as usize]
    }

    /// Tokens one step emits per sequence on average: `1 + a1 + a1 a2 + ... + a1 ... ak`
    /// (`1 + a + ... + a^k` with one rate).
    pub fn tokens_per_step(&self) -> f64 {
        let mut sum = 1.0;
        let mut p = 1.0;
        for a in self.acceptance() {
            p *= a;
            sum += p;
        }
        sum
    }
}

impl Serialize for Speculative {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = ser.serialize_struct("Speculative", 2)?;
        st.serialize_field("draft_tokens", &self.draft_tokens)?;
        st.serialize_field("acceptance", self.acceptance())?;
        st.end()
    }
}

impl CostModel {
    /// The same instance with speculative decoding of every decoding sequence, or none.
    pub fn with_speculative(mut self, s: Option<Speculative>) -> CostModel {
        self.spec = s;
        self
    }

    /// The speculative decoding in use, if any.
    pub fn speculative(&self) -> Option<&Speculative> {
        self.spec.as_ref()
    }

    /// Per-term seconds and sources of one step with decoding sequences under speculative
    /// decoding (module docs), before the engine layer's scaling; the sources are the
    /// plain step's.
    pub(super) fn speculative_terms(
        &self,
        s: &Speculative,
        shape: &StepShape,
    ) -> (CostBreakdown, CostSources) {
        let b = shape.decode_seqs;
        let k = u64::from(s.draft_tokens);
        let drafts = u64::from(b) * k;
        let decode_only = StepShape {
            prefill_tokens: 0,
            prefill_seqs: 0,
            prefill_attn_pairs: 0,
            ..*shape
        };
        // The verify pass: the drafts as extra query tokens of their sequences (one chunk
        // each, so that DP-attention spreads them with their sequences).
        let verify = StepShape {
            prefill_tokens: drafts,
            prefill_seqs: u32::try_from(drafts).unwrap_or(u32::MAX),
            prefill_attn_pairs: k
                .saturating_mul(shape.decode_context_tokens)
                .saturating_add(u64::from(b) * k * (k + 1) / 2),
            ..decode_only
        };
        let (step, sources) = self.raw_terms(shape);
        let (dec, _) = self.raw_terms(&decode_only);
        let (ver, _) = self.raw_terms(&verify);
        let e = s.tokens_per_step();
        let kf = k as f64;
        let per_layer = 1.0 / self.layers;
        // Prefill chunks keep their marginal cost over the plain decode step; the decode
        // part is the verify pass plus k drafts (one layer of the decode step each, and
        // its lm_head), over the tokens emitted.
        let term = |st: f64, d: f64, v: f64, lm: bool| {
            let draft = kf * if lm { d } else { d * per_layer };
            (st - d).max(0.0) + (v + draft) / e
        };
        (
            CostBreakdown {
                gemm_s: term(step.gemm_s, dec.gemm_s, ver.gemm_s, false),
                attention_prefill_s: term(
                    step.attention_prefill_s,
                    dec.attention_prefill_s,
                    ver.attention_prefill_s,
                    false,
                ),
                attention_decode_s: term(
                    step.attention_decode_s,
                    dec.attention_decode_s,
                    ver.attention_decode_s,
                    false,
                ),
                memory_bound_s: term(
                    step.memory_bound_s,
                    dec.memory_bound_s,
                    ver.memory_bound_s,
                    false,
                ),
                allreduce_s: term(step.allreduce_s, dec.allreduce_s, ver.allreduce_s, false),
                lm_head_s: term(step.lm_head_s, dec.lm_head_s, ver.lm_head_s, true),
                overhead_s: term(step.overhead_s, dec.overhead_s, ver.overhead_s, false),
            },
            sources,
        )
    }
}
