//! Memoised step-cost terms of one instance: the terms of a step that depend on its
//! token count alone, kept per token count so that a simulation computes each once.
//!
//! A simulated instance runs millions of steps whose token counts repeat (a decode step
//! of `n` sequences has `n` tokens; prefill chunks fill the same token budget). The GEMM,
//! memory-bound and all-reduce terms of [`crate::CostModel`] are functions of the step's
//! token count `m` only, and the lm_head term of its logit-producing sequence count only;
//! each is a calibrated-table lookup (a logarithm, a binary search, an exponential) or a
//! roofline formula. [`StepMemo`] stores them the first time a count is seen. With a
//! profile that measured GEMMs at sustained clocks, the GEMM term is stored both ways
//! (sustained and as measured) and weighted per step by the step's tensor-core share,
//! exactly as [`crate::CostModel::step_seconds`] does.
//!
//! # Invariants
//!
//! - A memo belongs to one cost model: it is filled by
//!   [`crate::CostModel::step_seconds_memo`] of that model only (an instance keeps its
//!   model and its memo side by side).
//! - A stored value is bit-identical to the one the model computes, because it *is* the
//!   one it computed; [`crate::CostModel::step_seconds_memo`] sums the terms in the
//!   order of [`crate::CostBreakdown::total`], so it returns exactly
//!   [`crate::CostModel::step_seconds`].
//! - Memory is bounded: counts up to [`MAX_MEMO_TOKENS`] are stored (grown on demand to
//!   the largest count seen); larger ones are computed every time.
//!
//! Decode attention depends on the decode sequence count and the mean context, which
//! changes every step: the memo keeps, per sequence count, where the batch falls on the
//! calibrated table ([`crate::profile::DecodeBatch`]: the table, its bracketing rows
//! and their log-space weight), so a step only locates its context. The lookup is split,
//! not changed: the same operations in the same order, so the result is bit-identical.

use crate::profile::DecodeBatch;

/// Largest token (or sequence) count whose terms are stored: 64 Ki, far above any
/// engine's per-step token budget.
pub const MAX_MEMO_TOKENS: usize = 1 << 16;

/// Token-count-indexed step terms of one instance's cost model; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct StepMemo {
    /// GEMM (sustained where measured), GEMM as measured (NaN without a sustained
    /// table), memory-bound and all-reduce seconds per token count; a NaN GEMM: not
    /// computed yet.
    by_tokens: Vec<[f64; 4]>,
    /// lm_head seconds per sequence count; NaN: not computed yet.
    by_seqs: Vec<f64>,
    /// Decode attention's table position per decode sequence count; `None`: not
    /// resolved yet.
    decode_batches: Vec<Option<DecodeBatch>>,
}

impl StepMemo {
    /// An empty memo.
    pub fn new() -> StepMemo {
        StepMemo::default()
    }

    /// The terms of token count `n`, computed by `f` the first time.
    pub(crate) fn tokens(&mut self, n: u64, f: impl FnOnce() -> [f64; 4]) -> [f64; 4] {
        let Some(i) = index(n) else { return f() };
        if i >= self.by_tokens.len() {
            self.by_tokens.resize(i + 1, [f64::NAN; 4]);
        }
        let slot = &mut self.by_tokens[i];
        if slot[0].is_nan() {
            *slot = f();
        }
        *slot
    }

    /// The term of sequence count `n`, computed by `f` the first time.
    pub(crate) fn seqs(&mut self, n: u64, f: impl FnOnce() -> f64) -> f64 {
        let Some(i) = index(n) else { return f() };
        if i >= self.by_seqs.len() {
            self.by_seqs.resize(i + 1, f64::NAN);
        }
        let slot = &mut self.by_seqs[i];
        if slot.is_nan() {
            *slot = f();
        }
        *slot
    }
}

impl StepMemo {
    /// The decode-attention table position of `n` decode sequences, resolved by `f` the
    /// first time.
    pub(crate) fn decode_batch(&mut self, n: u64, f: impl FnOnce() -> DecodeBatch) -> DecodeBatch {
        let Some(i) = index(n) else { return f() };
        if i >= self.decode_batches.len() {
            self.decode_batches.resize(i + 1, None);
        }
        *self.decode_batches[i].get_or_insert_with(f)
    }
}

/// The slot of count `n`, when it is stored.
fn index(n: u64) -> Option<usize> {
    usize::try_from(n).ok().filter(|&i| i < MAX_MEMO_TOKENS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_per_count_and_not_beyond_the_bound() {
        let mut m = StepMemo::new();
        let mut calls = 0;
        for _ in 0..3 {
            let v = m.tokens(7, || {
                calls += 1;
                [1.0, 2.0, 3.0, 4.0]
            });
            assert_eq!(v, [1.0, 2.0, 3.0, 4.0]);
        }
        assert_eq!(calls, 1);
        assert_eq!(m.by_tokens.len(), 8);
        let big = MAX_MEMO_TOKENS as u64;
        assert_eq!(m.seqs(big, || 5.0), 5.0);
        assert!(
            m.by_seqs.is_empty(),
            "counts beyond the bound are not stored"
        );
    }
}
