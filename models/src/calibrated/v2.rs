//! Format-2 profile terms of one instance: MoE layers (grouped expert GEMMs, router,
//! shared experts; split when DP-attention or hot experts price their parts at different
//! token counts), MLA projections and prefill attention, and the sustained-clock factor
//! the GEMM and attention curves are scaled by.

use super::{LogCurve, gemm_curve};
use crate::profile::Profile;
use crate::{Dtype, ModelArch, Parallelism};

/// The lookups that profile format 2 added, for one instance: the MoE FFN of one MoE layer,
/// MLA prefill attention, and the projection GEMMs corrected to sustained clocks.
///
/// Invariants: every table is a [`LogCurve`] (non-decreasing, exact at measured points
/// before the sustained factor); the sustained factor is at least 1 (a GEMM stack replayed
/// at the power limit is never credited with running faster than its isolated kernels:
/// below 1 the difference is kernel overlap inside a graph, which the gap term covers).
#[derive(Clone, Debug, Default)]
pub(crate) struct V2Terms {
    /// Seconds of one MoE layer over tokens, as measured (`[0]`) and times the sustained
    /// factor (`[1]`): router GEMM, the two grouped expert GEMMs (this GPU's share under
    /// expert parallelism: the grouped GEMM of all experts at the expert rank's TP width
    /// over `ep`) and (when the model has them) the shared experts' gate/up and down
    /// GEMMs; `None` unless the profile has every part at this split and weight dtype.
    /// Without DP-attention only (all parts then see the same tokens).
    pub(crate) moe_layer: [Option<LogCurve>; 2],
    /// With DP-attention or hot experts, the same parts apart: the routed experts (over
    /// the instance's tokens, times the imbalance) and the router plus shared experts
    /// (over one attention rank's).
    pub(crate) moe_split: Option<MoeSplit>,
    /// Kernels per MoE layer in `moe_layer` (for the graph gap).
    pub(crate) moe_kernels: f64,
    /// Seconds of one layer's MLA prefill attention over its FLOPs (fastest measured MLA
    /// kernel), and that kernel's name.
    pub(crate) mla_prefill: Option<(LogCurve, String)>,
    /// Seconds of one layer's MLA projections (q down/up, kv down/up, O) over tokens, at
    /// sustained clocks, and as measured; with the number of kernels.
    pub(crate) mla_gemms: Option<LogCurve>,
    pub(crate) mla_gemms_isolated: Option<LogCurve>,
    pub(crate) mla_kernels: f64,
    /// `layer_gemms` times the sustained factor.
    pub(crate) layer_gemms: Option<LogCurve>,
    /// QKV, O, gate/up and down curves times the sustained factor.
    pub(crate) gemms: [Option<LogCurve>; 4],
    /// Whether a sustained factor was applied (the profile has `gemm_sustained` rows).
    pub(crate) sustained: bool,
}

/// One MoE layer's curves with DP-attention ([`V2Terms::moe_split`]), as measured
/// (`[0]`) and at sustained clocks (`[1]`).
#[derive(Clone, Debug, Default)]
pub(crate) struct MoeSplit {
    /// The routed experts' grouped GEMMs (this GPU's share).
    pub(crate) experts: [Option<LogCurve>; 2],
    /// The router and shared-expert GEMMs.
    pub(crate) dense: [Option<LogCurve>; 2],
}

impl V2Terms {
    /// Whether the profile prices this instance's MoE layers.
    pub(crate) fn moe_covered(&self) -> bool {
        match &self.moe_split {
            None => self.moe_layer[0].is_some(),
            Some(s) => s.experts[0].is_some() && s.dense[0].is_some(),
        }
    }
}

/// The sustained-clock factor `max(1, ratio)` over tokens, from `gemm_sustained` rows:
/// piecewise linear in `ln m`, flat outside the measured range; `None` without rows.
#[derive(Clone, Debug)]
pub(crate) struct SustainedFactor {
    /// `(ln m, factor)`, strictly increasing in `ln m`.
    pts: Vec<(f64, f64)>,
}

impl SustainedFactor {
    pub(crate) fn new(p: &Profile) -> Option<SustainedFactor> {
        Self::from_ratios(
            p.data()
                .gemm_sustained
                .iter()
                .map(|r| (r.m as f64, r.ratio))
                .collect(),
        )
    }

    /// The prefill attention factor over the step's prefill tokens, from the
    /// `attention_sustained` rows of the profile's default prefill kernel (all rows when
    /// none of them is of that kernel); `None` without rows.
    pub(crate) fn attention(p: &Profile) -> Option<SustainedFactor> {
        let rows = &p.data().attention_sustained;
        let kernel = p.default_prefill_kernel();
        let of_kernel = rows.iter().any(|r| Some(r.kernel.as_str()) == kernel);
        Self::from_ratios(
            rows.iter()
                .filter(|r| !of_kernel || Some(r.kernel.as_str()) == kernel)
                .map(|r| (f64::from(r.new_tokens), r.ratio))
                .collect(),
        )
    }

    /// `max(1, ratio)` over `x > 0`, piecewise linear in `ln x`.
    fn from_ratios(xr: Vec<(f64, f64)>) -> Option<SustainedFactor> {
        let mut pts: Vec<(f64, f64)> = xr
            .into_iter()
            .filter(|&(x, r)| x > 0.0 && r.is_finite() && r > 0.0)
            .map(|(x, r)| (x.ln(), r.max(1.0)))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.dedup_by(|later, earlier| later.0 == earlier.0);
        (!pts.is_empty()).then_some(SustainedFactor { pts })
    }

    /// The factor at `m` tokens (`m > 0`).
    pub(crate) fn at(&self, m: f64) -> f64 {
        let lx = m.ln();
        let (first, last) = (self.pts[0], self.pts[self.pts.len() - 1]);
        if lx <= first.0 {
            return first.1;
        }
        if lx >= last.0 {
            return last.1;
        }
        let i = self.pts.partition_point(|p| p.0 < lx);
        let (a, b) = (self.pts[i - 1], self.pts[i]);
        a.1 + (lx - a.0) / (b.0 - a.0) * (b.1 - a.1)
    }

    /// `c` times the factor, sampled at `c`'s grid and the factor's, inside `c`'s range
    /// (then non-decreasing again by [`LogCurve::new`]); `c`'s ends are kept.
    pub(crate) fn apply(&self, c: &LogCurve) -> Option<LogCurve> {
        let (lo, hi) = (c.x_min, c.x_max);
        let mut xs: Vec<f64> = c.ln_x.iter().map(|l| l.exp()).collect();
        xs.extend(
            self.pts
                .iter()
                .map(|p| p.0.exp())
                .filter(|&x| x > lo && x < hi),
        );
        let pts = xs
            .into_iter()
            .map(|x| Some((x, c.eval(x).ok()? * self.at(x))))
            .collect::<Option<Vec<_>>>()?;
        let mut out = LogCurve::new(pts, c.floor_below)?;
        out.max_factor = c.max_factor;
        Some(out)
    }
}

impl V2Terms {
    pub(crate) fn new(
        p: &Profile,
        arch: &ModelArch,
        par: Parallelism,
        (expert_imbalance, moe_kernel): (f64, crate::MoeKernel),
        weights: Dtype,
        gemms: &[Option<LogCurve>; 5],
        layer_gemms: Option<&LogCurve>,
    ) -> V2Terms {
        let tp = par.attention_tp();
        let factor = SustainedFactor::new(p);
        let sustain = |c: &LogCurve| match &factor {
            Some(f) => f.apply(c),
            None => Some(c.clone()),
        };
        let mut out = V2Terms {
            sustained: factor.is_some(),
            layer_gemms: layer_gemms.and_then(sustain),
            ..V2Terms::default()
        };
        for (slot, c) in out.gemms.iter_mut().zip(gemms.iter()) {
            *slot = c.as_ref().and_then(sustain);
        }
        if let Some(m) = &arch.moe {
            let h = u64::from(arch.hidden_size);
            let ie = u64::from(m.expert_intermediate_size) / u64::from(par.moe_tp());
            // Expert parallelism: this GPU's E / ep experts take 1 / ep of the pairs, the
            // grouped GEMM of all E experts' work over ep (same tokens per expert). Hot
            // experts (`expert_imbalance`) are priced at more tokens in `moe_term`.
            let ep = f64::from(par.ep_ranks());
            // MXFP4 experts (gpt-oss) by the profile's `mxfp4` rows where it has them.
            let experts = moe_experts_curve(
                p,
                h,
                ie,
                m.num_experts,
                m.experts_per_token,
                m.expert_weights.row_dtype(weights),
                moe_kernel,
            )
            .and_then(|c| LogCurve::weighted_sum(&[(&c, 1.0 / ep)]));
            // Router weights stay bf16 in fp8 checkpoints.
            let router = gemm_curve(p, u64::from(m.num_experts), h, Dtype::Bf16);
            let is = u64::from(m.num_shared_experts) * u64::from(m.shared_expert_intermediate_size)
                / u64::from(tp);
            let shared = if is > 0 {
                Some((
                    gemm_curve(p, 2 * is, h, weights),
                    gemm_curve(p, h, is, weights),
                ))
            } else {
                None
            };
            out.moe_kernels = if is > 0 { 5.0 } else { 3.0 };
            let sum = |parts: Option<Vec<LogCurve>>| {
                parts.and_then(|parts| {
                    let w: Vec<(&LogCurve, f64)> = parts.iter().map(|c| (c, 1.0)).collect();
                    LogCurve::weighted_sum(&w)
                })
            };
            let both = |c: Option<LogCurve>| {
                let s = c.as_ref().and_then(sustain);
                [c, s]
            };
            if par.dp_ranks() == 1 && expert_imbalance == 1.0 {
                let parts: Option<Vec<LogCurve>> = match shared {
                    Some((gu, d)) => [experts, router, gu, d].into_iter().collect(),
                    None => [experts, router].into_iter().collect(),
                };
                out.moe_layer = both(sum(parts));
            } else {
                let dense: Option<Vec<LogCurve>> = match shared {
                    Some((gu, d)) => [router, gu, d].into_iter().collect(),
                    None => [router].into_iter().collect(),
                };
                out.moe_split = Some(MoeSplit {
                    experts: both(experts),
                    dense: both(sum(dense)),
                });
            }
        }
        if let Some(m) = &arch.mla {
            out.mla_prefill =
                mla_prefill_curve(p, m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim);
            let h = u64::from(arch.hidden_size);
            let nh = u64::from(arch.num_heads / tp);
            let (rope, nope, v) = (
                u64::from(m.qk_rope_head_dim),
                u64::from(m.qk_nope_head_dim),
                u64::from(m.v_head_dim),
            );
            let (kvr, qr) = (u64::from(m.kv_lora_rank), u64::from(m.q_lora_rank));
            // The same GEMMs as the cost model's MLA roofline (`CostModel::new`, models/src/cost/mod.rs).
            let mut nk = Vec::new();
            if qr > 0 {
                nk.push((qr, h));
                nk.push((nh * (nope + rope), qr));
            } else {
                nk.push((nh * (nope + rope), h));
            }
            nk.push((kvr + rope, h));
            nk.push((nh * (nope + v), kvr));
            nk.push((h, nh * v));
            out.mla_kernels = nk.len() as f64;
            let parts: Option<Vec<LogCurve>> = nk
                .iter()
                .map(|&(n, k)| gemm_curve(p, n, k, weights))
                .collect();
            out.mla_gemms_isolated = parts.and_then(|parts| {
                let w: Vec<(&LogCurve, f64)> = parts.iter().map(|c| (c, 1.0)).collect();
                LogCurve::weighted_sum(&w)
            });
            out.mla_gemms = out.mla_gemms_isolated.as_ref().and_then(sustain);
        }
        out
    }
}

/// Seconds of one MoE layer's grouped expert GEMMs over tokens, for the exact shape and
/// dtype: the rows of the engine's kernel family where the profile has them for this
/// shape ([`crate::MoeKernel`]), else of every kernel; the fastest row at each token count.
fn moe_experts_curve(
    p: &Profile,
    hidden: u64,
    inter: u64,
    experts: u32,
    top_k: u32,
    dtype: crate::ExpertDtype,
    kernel: crate::MoeKernel,
) -> Option<LogCurve> {
    let rows: Vec<&crate::profile::MoeExpertsRow> = p
        .data()
        .moe_experts
        .iter()
        .filter(|r| {
            r.hidden == hidden
                && r.inter == inter
                && r.experts == experts
                && r.top_k == top_k
                && r.dtype == dtype
        })
        .collect();
    let family: Vec<&&crate::profile::MoeExpertsRow> =
        rows.iter().filter(|r| kernel.runs(&r.kernel)).collect();
    let pts: Vec<(f64, f64)> = if family.is_empty() {
        rows.iter().map(|r| (r.tokens as f64, r.seconds)).collect()
    } else {
        family
            .iter()
            .map(|r| (r.tokens as f64, r.seconds))
            .collect()
    };
    LogCurve::new(pts, false)
}

/// Seconds of one MLA prefill attention call over its FLOPs, for the fastest measured
/// kernel (highest peak TFLOP/s) among rows with q/k width `qk` and v width `v`; the
/// smallest call's time is a floor below.
fn mla_prefill_curve(p: &Profile, qk: u32, v: u32) -> Option<(LogCurve, String)> {
    let rows = || {
        p.data()
            .attention_prefill
            .iter()
            .filter(move |r| r.head_dim == qk && r.v_head_dim == Some(v))
    };
    let mut best: Option<(&str, f64)> = None;
    for r in rows() {
        if best.is_none_or(|(k, t)| r.tflops > t || (r.tflops == t && r.kernel.as_str() < k)) {
            best = Some((r.kernel.as_str(), r.tflops));
        }
    }
    let (kernel, _) = best?;
    let pts: Vec<(f64, f64)> = rows()
        .filter(|r| r.kernel == kernel)
        .map(|r| (r.flops(), r.seconds))
        .collect();
    LogCurve::new(pts, true).map(|c| (c, kernel.to_string()))
}
