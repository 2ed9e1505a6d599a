//! The terms of a step (GEMMs, prefill and decode attention, memory-bound kernels,
//! all-reduce, lm_head, overhead): each from the calibration profile where it covers the
//! shape, from the roofline otherwise, with the source it came from.
//!
//! Invariants: a calibrated term adds its kernels' launch gaps to the measured time;
//! where a table hands over to the roofline (outside its range), the roofline value is
//! never below the table's edge value, so a term does not drop where a table ends.

use super::roofline::{ACT_BYTES, ELEMENTWISE_KERNELS_PER_MOE_LAYER};
use super::step::{seqs, tokens};
use super::{CostModel, MoeConsts, StepShape};
use crate::calibrated::{
    Calibration, GEMM_DOWN, GEMM_GATE_UP, GEMM_LM_HEAD, GEMM_O, GEMM_QKV, LogCurve,
};
use crate::{StepMemo, TermSource};

impl CostModel {
    /// A term's roofline seconds labelled, or [`TermSource::None`] when zero.
    fn roofline(s: f64) -> (f64, TermSource) {
        (
            s,
            if s > 0.0 {
                TermSource::Roofline
            } else {
                TermSource::None
            },
        )
    }

    /// A calibrated table at `x`, else the roofline `fallback()` (never below the
    /// table's edge value), with the source.
    fn lookup(
        curve: Option<&LogCurve>,
        x: f64,
        gap_s: f64,
        fallback: impl FnOnce() -> f64,
    ) -> (f64, TermSource) {
        Self::lookup_ln(
            curve,
            x,
            if x > 0.0 { x.ln() } else { 0.0 },
            gap_s,
            fallback,
        )
    }

    /// [`Self::lookup`] with `lx = ln x` given (0 < x).
    fn lookup_ln(
        curve: Option<&LogCurve>,
        x: f64,
        lx: f64,
        gap_s: f64,
        fallback: impl FnOnce() -> f64,
    ) -> (f64, TermSource) {
        if x.is_nan() || x <= 0.0 {
            return (fallback(), TermSource::Roofline);
        }
        match curve.map(|c| c.eval_ln(x, lx)) {
            Some(Ok(s)) => (s + gap_s, TermSource::Calibrated),
            Some(Err(edge)) => (fallback().max(edge), TermSource::Roofline),
            None => (fallback(), TermSource::Roofline),
        }
    }

    pub(super) fn gemm_term(&self, shape: &StepShape) -> (f64, TermSource) {
        self.gemm_term_with(shape, true)
    }

    /// The GEMM term with the projection and MoE GEMMs at sustained clocks (`sustained`,
    /// where the profile measured the factor) or as measured one kernel at a time.
    pub(super) fn gemm_term_with(&self, shape: &StepShape, sustained: bool) -> (f64, TermSource) {
        // Projections at one attention rank's tokens, routed experts at all of them.
        let m_all = tokens(shape);
        let m = tokens(&self.rank(shape));
        let Some(cal) = &self.cal else {
            return Self::roofline(self.rf_gemm_seconds(m, m_all));
        };
        let lm = m.ln();
        let w = self.wbytes;
        // Fast path: all projection GEMMs as one table (at sustained clocks when the
        // profile measured them).
        fn pick<'a>(
            sustained: bool,
            v2: Option<&'a LogCurve>,
            base: Option<&'a LogCurve>,
        ) -> Option<&'a LogCurve> {
            if sustained { v2.or(base) } else { base }
        }
        let layer = pick(
            sustained,
            cal.v2.layer_gemms.as_ref(),
            cal.layer_gemms.as_ref(),
        );
        if let Some(Ok(s)) = layer.map(|c| c.eval_ln(m, lm)) {
            let s = s + cal.gap_s * cal.layer_gemm_kernels;
            let (mut total, mut src) = (s, TermSource::Calibrated);
            if self.arch.mla.is_some() {
                let (s, t) = self.mla_gemm_term(cal, m, lm, sustained);
                total += s;
                src = src.combine(t);
            }
            if let Some(c) = &self.moe {
                let (s, t) = self.moe_term(cal, c, m, lm, m_all, sustained);
                total += s;
                src = src.combine(t);
            }
            return (total, src);
        }
        let curve = |i: usize| pick(sustained, cal.v2.gemms[i].as_ref(), cal.gemms[i].as_ref());
        let mut src = TermSource::None;
        let mut total = 0.0;
        if self.arch.mla.is_some() {
            let (s, t) = self.mla_gemm_term(cal, m, lm, sustained);
            total += s;
            src = src.combine(t);
        }
        for (i, &g) in self.attn_gemms.iter().enumerate() {
            if g.n == 0.0 || self.arch.mla.is_some() {
                continue;
            }
            let curve = match i {
                0 => curve(GEMM_QKV),
                1 => curve(GEMM_O),
                _ => None,
            };
            let (s, t) = Self::lookup_ln(curve, m, lm, cal.gap_s, || self.gemm(m, g, w));
            total += self.layers * s;
            src = src.combine(t);
        }
        if self.dense_layers > 0.0 {
            for (i, &g) in [GEMM_GATE_UP, GEMM_DOWN].iter().zip(&self.ffn_gemms) {
                let (s, t) = Self::lookup_ln(curve(*i), m, lm, cal.gap_s, || self.gemm(m, g, w));
                total += self.dense_layers * s;
                src = src.combine(t);
            }
        }
        if let Some(c) = &self.moe {
            let (s, t) = self.moe_term(cal, c, m, lm, m_all, sustained);
            total += s;
            src = src.combine(t);
        }
        (total, src)
    }

    /// All layers' MLA projections for `m` tokens: the profile's GEMMs at their per-GPU
    /// shapes when it has every one, else the roofline.
    fn mla_gemm_term(
        &self,
        cal: &Calibration,
        m: f64,
        lm: f64,
        sustained: bool,
    ) -> (f64, TermSource) {
        let curve = if sustained {
            cal.v2.mla_gemms.as_ref()
        } else {
            cal.v2.mla_gemms_isolated.as_ref()
        };
        let gaps = cal.gap_s * cal.v2.mla_kernels;
        let (s, t) = Self::lookup_ln(curve, m, lm, gaps, || {
            self.attn_gemms
                .iter()
                .filter(|g| g.n > 0.0)
                .map(|&g| self.gemm(m, g, self.wbytes))
                .sum()
        });
        (self.layers * s, t)
    }

    /// All MoE layers' router, routed-expert and shared-expert GEMMs for `m` tokens of
    /// one attention rank and `m_all` of the instance (equal without DP-attention): the
    /// profile's MoE table when it covers this expert split and dtype, else the roofline.
    fn moe_term(
        &self,
        cal: &Calibration,
        c: &MoeConsts,
        m: f64,
        lm: f64,
        m_all: f64,
        sustained: bool,
    ) -> (f64, TermSource) {
        if self.fp8_moe_roofline(c) {
            // The engine's FP8 expert kernels, not the ones the profile measured: the
            // roofline times the engine layer's fitted terms.
            return (
                self.moe_layers * self.moe_seconds(c, m, m_all),
                TermSource::Fitted,
            );
        }
        let gaps = cal.gap_s * cal.v2.moe_kernels;
        let i = usize::from(sustained);
        let s = match &cal.v2.moe_split {
            None => {
                let curve = cal.v2.moe_layer[i].as_ref();
                Self::lookup_ln(curve, m, lm, gaps, || self.moe_seconds(c, m, m_all))
            }
            // DP-attention: the routed experts over every rank's tokens, the router and
            // shared experts over this rank's; hot experts: the busiest expert rank's
            // experts see `expert_imbalance` times the mean tokens (its weights are read
            // once whatever the tokens, which the measured curve keeps).
            Some(split) => match (&split.experts[i], &split.dense[i]) {
                (Some(e), Some(d)) => {
                    match (e.eval(m_all * self.expert_imbalance), d.eval_ln(m, lm)) {
                        (Ok(a), Ok(b)) => (a + b + gaps, TermSource::Calibrated),
                        // Outside a table: the roofline, never below the tables' edges.
                        (a, b) => {
                            let edge = a.unwrap_or_else(|x| x) + b.unwrap_or_else(|x| x);
                            let r = self.moe_seconds(c, m, m_all).max(edge);
                            (r, TermSource::Roofline)
                        }
                    }
                }
                _ => (self.moe_seconds(c, m, m_all), TermSource::Roofline),
            },
        };
        (self.moe_layers * s.0, s.1)
    }

    pub(super) fn attention_prefill_term(&self, shape: &StepShape) -> (f64, TermSource) {
        let shape = &self.rank(shape);
        match self.windowed(shape) {
            None => self.attention_prefill_layers(shape),
            Some((win, f)) => {
                let (a, s) = self.attention_prefill_layers(shape);
                let (b, t) = self.attention_prefill_layers(&win);
                ((1.0 - f) * a + f * b, s.combine(t))
            }
        }
    }

    /// The step's shape as the sliding-window layers see it (each new token attends to
    /// at most the window, each decoding sequence reads at most the window) and the
    /// share of the layers that slide; `None` without sliding-window layers.
    fn windowed(&self, shape: &StepShape) -> Option<(StepShape, f64)> {
        let w = self.arch.sliding_window?;
        let win = u64::from(w.tokens);
        let share = f64::from(w.layers.min(self.arch.num_layers)) / self.layers;
        Some((
            StepShape {
                prefill_attn_pairs: shape
                    .prefill_attn_pairs
                    .min(shape.prefill_tokens.saturating_mul(win)),
                decode_context_tokens: shape
                    .decode_context_tokens
                    .min(u64::from(shape.decode_seqs).saturating_mul(win)),
                ..*shape
            },
            share,
        ))
    }

    /// Prefill attention of all layers as if every layer attended like a full one.
    fn attention_prefill_layers(&self, shape: &StepShape) -> (f64, TermSource) {
        let r = || self.rf_attention_prefill_seconds(shape);
        match self.cal.as_ref().and_then(|c| {
            c.prefill
                .as_ref()
                .or(c.v2.mla_prefill.as_ref().map(|m| &m.0))
                .map(|p| (p, c.gap_s))
        }) {
            Some((curve, gap_s)) if shape.prefill_attn_pairs > 0 => {
                let flops = shape.prefill_attn_pairs as f64 * self.prefill_flops_per_pair;
                let (s, t) = Self::lookup(Some(curve), flops, gap_s, || r() / self.layers);
                (self.layers * s, t)
            }
            _ => Self::roofline(r()),
        }
    }

    pub(super) fn attention_decode_term(&self, shape: &StepShape) -> (f64, TermSource) {
        let shape = &self.rank(shape);
        match self.attention_decode_windowed(shape, None) {
            Some(s) => (s, TermSource::Calibrated),
            None => Self::roofline(self.rf_attention_decode_windowed(shape)),
        }
    }

    /// [`Self::attention_decode_calibrated`] with the sliding-window layers reading at
    /// most their window.
    pub(super) fn attention_decode_windowed(
        &self,
        shape: &StepShape,
        mut memo: Option<&mut StepMemo>,
    ) -> Option<f64> {
        match self.windowed(shape) {
            None => self.attention_decode_calibrated(shape, memo),
            Some((win, f)) => {
                let a = self.attention_decode_calibrated(shape, memo.as_deref_mut())?;
                let b = self.attention_decode_calibrated(&win, memo)?;
                Some((1.0 - f) * a + f * b)
            }
        }
    }

    /// [`Self::rf_attention_decode_seconds`] with the sliding-window layers reading at
    /// most their window.
    pub(super) fn rf_attention_decode_windowed(&self, shape: &StepShape) -> f64 {
        match self.windowed(shape) {
            None => self.rf_attention_decode_seconds(shape),
            Some((win, f)) => {
                (1.0 - f) * self.rf_attention_decode_seconds(shape)
                    + f * self.rf_attention_decode_seconds(&win)
            }
        }
    }

    /// Decode attention priced by the calibrated tables for one attention rank's
    /// `shape` ([`Self::rank`]); `None` where they do not price it (no decode sequences,
    /// no table, out of range): the roofline applies. With a memo, the batch's position
    /// on the tables is resolved once per sequence count.
    pub(super) fn attention_decode_calibrated(
        &self,
        shape: &StepShape,
        memo: Option<&mut StepMemo>,
    ) -> Option<f64> {
        let cal = self.cal.as_ref()?;
        let seqs = shape.decode_seqs;
        if seqs == 0 {
            return None;
        }
        let mean_ctx = shape.decode_context_tokens as f64 / f64::from(seqs);
        let ctx = crate::num::round_u64(mean_ctx).min(u64::from(u32::MAX)) as u32;
        if let Some(mla) = &cal.mla_decode {
            let (s, calls) = mla.seconds(&cal.profile, seqs, ctx)?;
            return Some(self.layers * (s + f64::from(calls) * cal.gap_s));
        }
        let (h, kvh, hd, dt) = cal.decode.filter(|_| cal.decode_covered)?;
        // Beyond the measured batch range, `calls` calls of at most the largest measured
        // batch each (monotone in the batch when per-sequence time falls with batch).
        let calls = seqs.div_ceil(cal.decode_max_batch);
        let resolve = || {
            cal.profile
                .decode_attention_batch(seqs.div_ceil(calls), h, kvh, hd, dt)
        };
        let batch = match memo {
            Some(m) => m.decode_batch(u64::from(seqs), resolve),
            None => resolve(),
        };
        let s = cal.profile.decode_attention_at(&batch, ctx)?;
        Some(self.layers * f64::from(calls) * (s + cal.gap_s))
    }

    pub(super) fn memory_bound_term(&self, shape: &StepShape) -> (f64, TermSource) {
        let shape = &self.rank(shape);
        let r = || self.rf_memory_bound_seconds(shape);
        let Some(cal) = self.cal.as_ref() else {
            return Self::roofline(r());
        };
        let m = tokens(shape);
        let gaps = cal.gap_s * cal.memory_kernels;
        let (s, t) = Self::lookup(cal.memory.as_ref(), m, gaps, r);
        if self.moe_layers > 0.0 && t == TermSource::Calibrated {
            let moe = m * self.mb_moe / self.mem_bytes_per_s
                + self.moe_layers * ELEMENTWISE_KERNELS_PER_MOE_LAYER * self.eff.kernel_latency_s;
            (s + moe, TermSource::Partial)
        } else {
            (s, t)
        }
    }

    pub(super) fn allreduce_term(&self, shape: &StepShape) -> (f64, TermSource) {
        let shape = &self.rank(shape);
        let (s, t) = self.tp_allreduce_term(shape);
        if self.a2a_calls == 0.0 || tokens(shape) == 0.0 {
            return (s, t);
        }
        (s + self.a2a_seconds(shape), t.combine(TermSource::Roofline))
    }

    /// The TP all-reduces of one attention rank's `shape`.
    fn tp_allreduce_term(&self, shape: &StepShape) -> (f64, TermSource) {
        let r = || self.rf_allreduce_seconds(shape);
        match self
            .cal
            .as_ref()
            .and_then(|c| c.allreduce.as_ref().map(|a| (a, c.gap_s)))
        {
            Some(((curve, label), gap_s)) if self.allreduce_calls > 0.0 => {
                let bytes = tokens(shape) * self.hidden * ACT_BYTES;
                let net = self.allreduce_net.seconds(bytes);
                // The measured curve is one node's all-reduce; the roofline fallback
                // already holds the inter-node part.
                let (s, t) = Self::lookup(Some(curve), bytes, gap_s, || {
                    r() / self.allreduce_calls - net
                });
                let t = if t == TermSource::Calibrated {
                    *label
                } else {
                    t
                };
                let t = if net > 0.0 {
                    t.combine(TermSource::Roofline)
                } else {
                    t
                };
                (self.allreduce_calls * (s + net), t)
            }
            _ => Self::roofline(r()),
        }
    }

    pub(super) fn lm_head_term(&self, shape: &StepShape) -> (f64, TermSource) {
        let shape = &self.rank(shape);
        let r = || self.rf_lm_head_seconds(shape);
        match self
            .cal
            .as_ref()
            .and_then(|c| c.gemms[GEMM_LM_HEAD].as_ref().map(|g| (g, c.gap_s)))
        {
            Some((curve, gap_s)) => Self::lookup(Some(curve), seqs(shape), gap_s, r),
            None => Self::roofline(r()),
        }
    }

    /// Projection and FFN GEMMs of all layers (MoE experts included), seconds (calibrated where the profile covers it;
    /// each per-term method returns that term of [`Self::breakdown`], sustained clocks included).
    pub fn gemm_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).gemm_s
    }

    /// Prefill (causal, chunked) attention of all layers, seconds (calibrated where the profile covers it).
    pub fn attention_prefill_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).attention_prefill_s
    }

    /// Decode attention of all layers (KV reads), seconds (calibrated where the profile covers it).
    pub fn attention_decode_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).attention_decode_s
    }

    /// Norms, activation, rotary, KV-cache writes, MoE permutes, embedding, seconds (calibrated where the profile covers it).
    pub fn memory_bound_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).memory_bound_s
    }

    /// TP all-reduces (two per layer), seconds; 0 at TP 1 (calibrated where the profile covers it).
    pub fn allreduce_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).allreduce_s
    }

    /// lm_head GEMM for the sequences that produce logits, seconds (calibrated where the profile covers it).
    pub fn lm_head_seconds(&self, shape: &StepShape) -> f64 {
        self.breakdown(shape).lm_head_s
    }

    /// Fixed plus per-sequence CPU overhead, seconds (0 for an empty step): the engine
    /// layer's fitted overheads when the model has one, else the assumed
    /// [`Efficiencies`](super::Efficiencies) ones.
    pub fn overhead_seconds(&self, shape: &StepShape) -> f64 {
        if tokens(shape) == 0.0 {
            return 0.0;
        }
        // With DP-attention each rank schedules its own sequences, in parallel.
        let shape = &self.rank(shape);
        match &self.engine {
            Some(e) => e.overhead_s(seqs(shape)),
            None => self.eff.step_overhead_s + self.eff.per_seq_overhead_s * seqs(shape),
        }
    }
}
