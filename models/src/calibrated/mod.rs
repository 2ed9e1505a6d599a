//! Calibrated step costs: the per-instance lookups that let [`crate::CostModel`] take
//! each term of a step from a measured [`Profile`] where the profile covers the shape.
//!
//! A `Calibration` is built once per cost model (per instance of a given model, GPU,
//! TP and dtypes). It samples the profile at its own measured grid points for exactly
//! the GEMMs, attention kernel and collectives this instance runs, and keeps them as
//! small sorted tables in log space, so that a lookup in the hot path is one binary
//! search, one logarithm and one exponential, with no allocation.
//!
//! # Interpolation (the same as [`Profile`]'s lookups)
//!
//! - GEMMs: seconds over `m` at the exact per-GPU `(n, k)` and weight dtype, log-log
//!   between measured `m`, linear above the largest up to [`MAX_EXTRAPOLATION`] × it.
//! - Prefill attention: seconds over the call's FLOPs for the profile's default kernel
//!   and this head dimension, log-log between measured calls (which is the profile's
//!   log-log interpolation of the achieved rate), linear above, the smallest call's time
//!   as a floor below.
//! - Decode attention and memory-bound kernels: the profile's own lookups. MLA decode
//!   attention (absorbed, `MlaDecodeCall`), when the cost model asks for the measured
//!   kernel (`CostModel::with_mla_decode_measured`; the roofline by default): the
//!   profile's `attention_decode_mla` grid at the model's heads per GPU (the nearest
//!   measured head count at or above), latent widths and KV dtype.
//! - MoE layers (format 2, `V2Terms`): the grouped expert GEMMs' seconds over tokens at
//!   the exact `(hidden, expert intermediate / TP, experts, top-k, dtype)`, summed with the
//!   router and shared-expert GEMM curves, log-log. MLA projections: the sum of their GEMM
//!   curves. MLA prefill: seconds over FLOPs of the fastest kernel with the model's q/k
//!   and v widths. Sustained clocks: those curves and the projection GEMM curves times
//!   `max(1, ratio)` of the `gemm_sustained` stacks, piecewise linear in `ln m`.
//! - All-reduce: seconds over message bytes for the TP size, log-log, a floor below and
//!   linear above. A TP size the profile lacks is **extrapolated** from the two largest
//!   measured sizes `g1 < g2 = 2 g1` when `t = 2 g2`: with `τ_g = t_g / (2(g-1)/g)` (time
//!   per byte of bus traffic) the trend `τ_t = τ_g2 · (τ_g2 / τ_g1)` is continued
//!   geometrically in `log2 g`, its ratio clamped to `[1, 2]`. Ring all-reduce latency
//!   (`2(g-1)` steps) and a flat bus bandwidth both satisfy this exactly.
//!
//! # Invariants
//!
//! - Every table is non-decreasing in its argument: a measured point below an earlier
//!   one is raised to it (a running maximum), so calibrated terms never get cheaper with
//!   more work; outside coverage the caller falls back to the roofline, never below the
//!   table's last value.
//! - At a measured grid point a GEMM or all-reduce lookup returns the profile's value.
//! - Nothing here allocates after construction.

use crate::profile::{MAX_EXTRAPOLATION, Profile, prefill_attention_flops};
use crate::{Dtype, ModelArch, Parallelism};
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// Where one term of a step cost comes from.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TermSource {
    /// The term is zero for this step (no prefill attention in a decode step, no
    /// all-reduce at TP 1).
    #[default]
    None,
    /// Roofline with stated efficiencies.
    Roofline,
    /// Measured kernels, interpolated within (or at most 4× beyond) the measured range.
    Calibrated,
    /// Derived from measurements of a different size (TP 8 all-reduce from 2- and
    /// 4-GPU data).
    Extrapolated,
    /// Measured on a sibling GPU with the same interconnect: H100 all-reduce from the
    /// H200 node (both NVLink 4 through NVSwitch, 450 GB/s per direction per GPU), until
    /// a multi-H100 node is measured.
    Borrowed,
    /// Partly measured, partly roofline (MoE routing kernels are roofline).
    Partial,
    /// A stated assumption, not a kernel (the per-step CPU overhead).
    Assumed,
    /// Fitted on measured serving runs (the engine layer's overheads).
    Fitted,
}

impl TermSource {
    /// The label reports print (`calibrated`, `roofline`, ...).
    pub fn label(self) -> &'static str {
        match self {
            TermSource::None => "none",
            TermSource::Roofline => "roofline",
            TermSource::Calibrated => "calibrated",
            TermSource::Extrapolated => "extrapolated",
            TermSource::Borrowed => "borrowed",
            TermSource::Partial => "partial",
            TermSource::Assumed => "assumed",
            TermSource::Fitted => "fitted",
        }
    }

    /// Whether the term comes from measurements (calibrated, extrapolated or borrowed).
    pub fn is_measured(self) -> bool {
        matches!(
            self,
            TermSource::Calibrated | TermSource::Extrapolated | TermSource::Borrowed
        )
    }

    /// The source of a sum of two parts.
    pub(crate) fn combine(self, other: TermSource) -> TermSource {
        use TermSource::*;
        match (self, other) {
            (None, x) | (x, None) => x,
            (a, b) if a == b => a,
            (Calibrated | Extrapolated | Borrowed, Calibrated | Extrapolated | Borrowed) => {
                Extrapolated
            }
            _ => Partial,
        }
    }
}

/// Per-term sources of one step, parallel to [`crate::CostBreakdown`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CostSources {
    /// Projection and FFN GEMMs.
    pub gemm: TermSource,
    /// Prefill attention.
    pub attention_prefill: TermSource,
    /// Decode attention.
    pub attention_decode: TermSource,
    /// Memory-bound kernels.
    pub memory_bound: TermSource,
    /// TP all-reduce.
    pub allreduce: TermSource,
    /// lm_head GEMM.
    pub lm_head: TermSource,
    /// CPU overhead per step.
    pub overhead: TermSource,
}

impl CostSources {
    /// The terms as `(name, source)` pairs, in breakdown order.
    pub fn as_pairs(&self) -> [(&'static str, TermSource); 7] {
        [
            ("gemm", self.gemm),
            ("attention_prefill", self.attention_prefill),
            ("attention_decode", self.attention_decode),
            ("memory_bound", self.memory_bound),
            ("allreduce", self.allreduce),
            ("lm_head", self.lm_head),
            ("overhead", self.overhead),
        ]
    }
}

/// The parsed built-in profiles, shared by every cost model of the process.
///
/// This is the one process-wide cache in the library: it holds immutable data parsed
/// from constants compiled into the binary (`models/profiles/*.json`), so it cannot make
/// two runs differ; it only spares each instance's cost model a 1 MB JSON parse.
fn builtin_profiles() -> &'static [(&'static str, Arc<Profile>)] {
    static CELL: OnceLock<Vec<(&'static str, Arc<Profile>)>> = OnceLock::new();
    CELL.get_or_init(|| {
        Profile::builtin_ids()
            .into_iter()
            .filter_map(|id| Profile::builtin(id).map(|p| (id, Arc::new(p))))
            .collect()
    })
}

/// The shipped profile for a catalog GPU id (`h100`, `h200`), parsed once per process
/// and shared.
pub fn builtin_profile(gpu_id: &str) -> Option<Arc<Profile>> {
    builtin_profiles()
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(gpu_id))
        .map(|(_, p)| Arc::clone(p))
}

/// A non-decreasing table `y(x)` with `x, y > 0`, interpolated in log-log space.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LogCurve {
    /// `ln x`, strictly increasing.
    ln_x: Vec<f64>,
    /// `ln y`, non-decreasing.
    ln_y: Vec<f64>,
    /// What happens below the smallest x: `None` (no coverage) or the smallest y.
    floor_below: bool,
    /// The smallest and largest x, as given.
    x_min: f64,
    x_max: f64,
    /// How far above `x_max` the table extrapolates linearly (factor).
    max_factor: f64,
}

impl LogCurve {
    /// From points in any order; equal x keep the smallest y (the fastest measurement);
    /// y is then raised to a running maximum. `None` without a positive finite point.
    pub(crate) fn new(mut pts: Vec<(f64, f64)>, floor_below: bool) -> Option<LogCurve> {
        pts.retain(|&(x, y)| x.is_finite() && y.is_finite() && x > 0.0 && y > 0.0);
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pts.dedup_by(|later, earlier| later.0 == earlier.0);
        if pts.is_empty() {
            return None;
        }
        let mut ln_x = Vec::with_capacity(pts.len());
        let mut ln_y = Vec::with_capacity(pts.len());
        let mut top = f64::NEG_INFINITY;
        let (x_min, x_max) = (pts[0].0, pts[pts.len() - 1].0);
        for (x, y) in pts {
            top = top.max(y.ln());
            ln_x.push(x.ln());
            ln_y.push(top);
        }
        Some(LogCurve {
            ln_x,
            ln_y,
            floor_below,
            x_min,
            x_max,
            max_factor: MAX_EXTRAPOLATION,
        })
    }

    /// The weighted sum `Σ w_i y_i(x)` of tables over the same x, as one table: exact at
    /// every part's grid points inside the common coverage, log-log between them, no
    /// extrapolation above the common upper end (the smallest `max_factor x_max`), a floor
    /// below only when every part has one. `None` when the parts share no coverage.
    pub(crate) fn weighted_sum(parts: &[(&LogCurve, f64)]) -> Option<LogCurve> {
        let parts: Vec<(&LogCurve, f64)> = parts.iter().copied().filter(|p| p.1 > 0.0).collect();
        let floor_below = parts.iter().all(|(c, _)| c.floor_below);
        let lo = if floor_below {
            parts
                .iter()
                .map(|(c, _)| c.x_min)
                .fold(f64::INFINITY, f64::min)
        } else {
            parts
                .iter()
                .filter(|(c, _)| !c.floor_below)
                .map(|(c, _)| c.x_min)
                .fold(0.0, f64::max)
        };
        let hi = parts
            .iter()
            .map(|(c, _)| c.x_max * c.max_factor)
            .fold(f64::INFINITY, f64::min);
        if parts.is_empty() || lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let mut xs: Vec<f64> = parts
            .iter()
            .flat_map(|(c, _)| c.ln_x.iter().map(|l| l.exp()))
            .filter(|&x| x > lo && x < hi)
            .collect();
        xs.push(lo);
        xs.push(hi);
        let pts = xs
            .into_iter()
            .map(|x| {
                let y: Result<f64, f64> = parts.iter().map(|(c, w)| c.eval(x).map(|y| w * y)).sum();
                y.map(|y| (x, y)).ok()
            })
            .collect::<Option<Vec<_>>>()?;
        let mut c = LogCurve::new(pts, floor_below)?;
        c.max_factor = 1.0;
        Some(c)
    }

    /// `y(x)`: exact at grid points, log-log between, linear above the largest x up to
    /// [`MAX_EXTRAPOLATION`] × it; `Err(y at the edge)` beyond (the caller's floor for
    /// its fallback); below the smallest x the smallest y when `floor_below`, else
    /// `Err(0)`.
    pub(crate) fn eval(&self, x: f64) -> Result<f64, f64> {
        if x.is_nan() || x <= 0.0 {
            return Err(0.0);
        }
        self.eval_ln(x, x.ln())
    }

    /// [`Self::eval`] with `lx = ln x` computed by the caller (shared between tables
    /// over the same `x`); `x > 0`.
    pub(crate) fn eval_ln(&self, x: f64, lx: f64) -> Result<f64, f64> {
        let n = self.ln_x.len();
        if n == 0 {
            return Err(0.0);
        }
        if lx < self.ln_x[0] {
            return if self.floor_below {
                Ok(self.ln_y[0].exp())
            } else {
                Err(0.0)
            };
        }
        let (xl, yl) = (self.ln_x[n - 1], self.ln_y[n - 1]);
        if lx > xl {
            let y = (yl + lx - xl).exp();
            return if x <= self.x_max * self.max_factor {
                Ok(y)
            } else {
                Err((yl + self.max_factor.ln()).exp())
            };
        }
        let i = self.ln_x.partition_point(|&a| a < lx);
        if self.ln_x[i] == lx {
            return Ok(self.ln_y[i].exp());
        }
        let (x0, x1, y0, y1) = (
            self.ln_x[i - 1],
            self.ln_x[i],
            self.ln_y[i - 1],
            self.ln_y[i],
        );
        let y = y0 + (lx - x0) / (x1 - x0) * (y1 - y0);
        Ok(y.clamp(y0, y1).exp())
    }
}

/// Index of the GEMMs a dense layer runs, in [`Calibration::gemms`].
pub(crate) const GEMM_QKV: usize = 0;
/// O projection.
pub(crate) const GEMM_O: usize = 1;
/// Gate/up projection.
pub(crate) const GEMM_GATE_UP: usize = 2;
/// Down projection.
pub(crate) const GEMM_DOWN: usize = 3;
/// lm_head.
pub(crate) const GEMM_LM_HEAD: usize = 4;

/// What a [`Calibration`] samples the profile for: the kernels of one instance.
#[derive(Clone, Debug)]
pub(crate) struct InstanceShapes {
    /// Per-GPU `(n, k)` of QKV, O, gate/up, down and lm_head (`None`: no such plain
    /// GEMM, as for MLA projections).
    pub(crate) gemm_nk: [Option<(u64, u64)>; 5],
    /// Calls per step of QKV, O, gate/up and down (layers, dense layers).
    pub(crate) gemm_counts: [f64; 4],
    /// Bytes per token of each [`MEMORY_KERNELS`] entry (0: not run).
    pub(crate) memory_bytes_per_token: [f64; 6],
    /// Calls per step of each [`MEMORY_KERNELS`] entry.
    pub(crate) memory_counts: [f64; 6],
    /// The busiest expert rank's routed pairs over the mean (1: balanced).
    pub(crate) expert_imbalance: f64,
    /// Which measured routed-expert kernel prices the MoE layers.
    pub(crate) moe_kernel: crate::MoeKernel,
    /// Whether the profile's `attention_decode_mla` rows price MLA decode attention
    /// (otherwise the roofline does).
    pub(crate) mla_decode_measured: bool,
    /// GPUs of one node: an all-reduce group larger than a node is priced by the
    /// measured curve of one node's GPUs (the inter-node part is the cost model's).
    pub(crate) gpus_per_node: u32,
}

/// The profile lookups of one cost model: a model on `tp` GPUs with given dtypes.
#[derive(Clone)]
pub(crate) struct Calibration {
    /// Where the profile came from (`builtin:h100`, a path).
    pub(crate) origin: String,
    pub(crate) profile: Arc<Profile>,
    /// QKV, O, gate/up, down, lm_head seconds over m; `None` where the profile lacks
    /// the shape (or the model is MLA / has no such GEMM).
    pub(crate) gemms: [Option<LogCurve>; 5],
    /// Seconds of one layer's prefill attention over its FLOPs.
    pub(crate) prefill: Option<LogCurve>,
    /// Decode attention call parameters per GPU: heads, kv heads, head dim, KV dtype;
    /// `None` for MLA (not in the profiles).
    pub(crate) decode: Option<(u32, u32, u32, Dtype)>,
    /// Whether the decode grid has rows for `decode`.
    pub(crate) decode_covered: bool,
    /// Sequences per decode attention call within the measured grid: the largest
    /// measured `batch × kv_heads` of the rows the profile uses, over this model's KV
    /// heads per GPU (at least 1). A larger batch is costed as several calls.
    pub(crate) decode_max_batch: u32,
    /// Prefill attention's sustained-clock factor over the step's prefill tokens, when
    /// the profile has `attention_sustained` rows (applied as `1 + (r - 1) f`, like the
    /// GEMMs').
    pub(crate) attention_sustained: Option<SustainedFactor>,
    /// MLA decode attention call parameters when the profile has absorbed-MLA decode
    /// rows for this model's heads per GPU, latent widths and KV dtype.
    pub(crate) mla_decode: Option<MlaDecodeCall>,
    /// All-reduce seconds over bytes for this TP size, and whether it is extrapolated.
    pub(crate) allreduce: Option<(LogCurve, TermSource)>,
    /// Seconds over tokens of all memory-bound kernels of a step (the sum of the
    /// [`MEMORY_KERNELS`] tables times their counts), when the profile has every op.
    pub(crate) memory: Option<LogCurve>,
    /// Memory-bound kernels per step.
    pub(crate) memory_kernels: f64,
    /// Seconds over tokens of all layers' projection GEMMs (QKV, O, and gate/up, down
    /// when the model has dense FFN layers), when every one is in the profile.
    pub(crate) layer_gemms: Option<LogCurve>,
    /// GEMM kernels per step in `layer_gemms`.
    pub(crate) layer_gemm_kernels: f64,
    /// Measured gap between two kernels replayed in a CUDA graph, seconds (0 when the
    /// profile has none), added once per calibrated kernel: the profile times kernels
    /// alone, a forward pass runs them back to back.
    pub(crate) gap_s: f64,
    /// MoE FFN, MLA prefill attention and sustained-GEMM lookups (format 2 tables).
    pub(crate) v2: V2Terms,
}

impl std::fmt::Debug for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calibration")
            .field("origin", &self.origin)
            .field(
                "gemms",
                &self.gemms.iter().map(Option::is_some).collect::<Vec<_>>(),
            )
            .field("prefill", &self.prefill.is_some())
            .field("decode", &self.decode_covered)
            .field("allreduce", &self.allreduce.as_ref().map(|a| a.1))
            .finish()
    }
}

/// The memory-bound kernels of a step, each a profile op at a number of bytes per token:
/// fused add+RMSNorm (twice per layer), rotary, KV-cache write (per layer), SiLU-and-mul
/// (per dense layer), embedding lookup and final norm (once).
pub(crate) const MEMORY_KERNELS: [&str; 6] =
    ["rmsnorm", "rotary", "copy", "silu_mul", "copy", "rmsnorm"];

impl Calibration {
    /// Sample `profile` for this instance. `gemm_nk` are the per-GPU `(n, k)` of QKV, O,
    /// gate/up, down and lm_head (`None` where the model has no such plain GEMM).
    pub(crate) fn new(
        profile: Arc<Profile>,
        origin: String,
        arch: &ModelArch,
        par: Parallelism,
        weights: Dtype,
        kv: Dtype,
        shapes: InstanceShapes,
    ) -> Calibration {
        // Attention, dense layers and the all-reduce group: one attention rank's GPUs.
        let tp = par.attention_tp();
        let InstanceShapes {
            gemm_nk,
            gemm_counts,
            memory_bytes_per_token,
            memory_counts,
            expert_imbalance,
            moe_kernel,
            mla_decode_measured,
            gpus_per_node,
        } = shapes;
        let p = &*profile;
        // lm_head stays BF16 in FP8 checkpoints (`ModelArch::weight_bytes`).
        let mut gemms = gemm_nk.map(|nk| nk.and_then(|(n, k)| gemm_curve(p, n, k, weights)));
        gemms[GEMM_LM_HEAD] =
            gemm_nk[GEMM_LM_HEAD].and_then(|(n, k)| gemm_curve(p, n, k, Dtype::Bf16));
        let mla = arch.mla.is_some();
        let heads = arch.num_heads / tp;
        let kv_heads = arch.kv_heads_per_gpu(tp);
        let hd = arch.head_dim;
        let prefill = if mla || heads == 0 {
            None
        } else {
            prefill_curve(p, heads, kv_heads, hd)
        };
        let decode = (!mla && heads > 0).then_some((heads, kv_heads, hd, kv));
        let decode_covered = decode.is_some_and(|(h, kvh, d, dt)| {
            p.decode_attention_seconds(1, 1024, h, kvh, d, dt).is_some()
        });
        let decode_max_batch = decode.map_or(1, |(h, kvh, d, dt)| {
            decode_grid_max_seqs(p, h / kvh.max(1), d, dt) / kvh.max(1)
        });
        let decode_max_batch = decode_max_batch.max(1);
        let node_tp = tp.min(gpus_per_node.max(1));
        let allreduce = if node_tp > 1 {
            allreduce_curve(p, node_tp).or_else(|| borrowed_allreduce(p, node_tp))
        } else {
            None
        };
        let mut memory: [Option<LogCurve>; 6] = Default::default();
        let mut memory_ok = true;
        for ((slot, op), bpt) in memory
            .iter_mut()
            .zip(MEMORY_KERNELS)
            .zip(memory_bytes_per_token)
        {
            if bpt > 0.0 {
                *slot = memory_curve(p, op, bpt);
                memory_ok &= slot.is_some();
            }
        }
        let memory_parts: Vec<(&LogCurve, f64)> = memory
            .iter()
            .zip(memory_counts)
            .filter_map(|(c, n)| Some((c.as_ref()?, n)))
            .collect();
        let memory_kernels: f64 = memory_parts.iter().map(|p| p.1).sum();
        let memory = if memory_ok {
            LogCurve::weighted_sum(&memory_parts)
        } else {
            None
        };
        let gemm_parts: Option<Vec<(&LogCurve, f64)>> = gemms[..4]
            .iter()
            .zip(gemm_counts)
            .filter(|(_, n)| *n > 0.0)
            .map(|(c, n)| Some((c.as_ref()?, n)))
            .collect();
        let layer_gemm_kernels: f64 = gemm_counts.iter().sum();
        let layer_gemms = gemm_parts
            .filter(|p| !p.is_empty())
            .and_then(|p| LogCurve::weighted_sum(&p));
        let gap_s = p.launch_gap_s().unwrap_or(0.0);
        let mla_decode = mla_decode_measured
            .then(|| MlaDecodeCall::new(p, arch, tp, kv))
            .flatten();
        let attention_sustained = SustainedFactor::attention(p);
        let v2 = V2Terms::new(
            p,
            arch,
            par,
            (expert_imbalance, moe_kernel),
            weights,
            &gemms,
            layer_gemms.as_ref(),
        );
        Calibration {
            v2,
            gap_s,
            origin,
            profile,
            gemms,
            prefill,
            decode,
            decode_covered,
            decode_max_batch,
            mla_decode,
            attention_sustained,
            allreduce,
            memory,
            memory_kernels,
            layer_gemms,
            layer_gemm_kernels,
        }
    }
}

/// One absorbed MLA decode attention call as the profile measured it (per GPU).
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct MlaDecodeCall {
    /// Query heads per GPU (`num_heads / tp`).
    pub(crate) heads: u32,
    /// Latent (value) width of a cache row.
    pub(crate) kv_lora_rank: u32,
    /// Rotary width of a cache row.
    pub(crate) rope_dim: u32,
    /// Latent cache format.
    pub(crate) kv: Dtype,
    /// Sequences per call to try, in order: the largest measured batch, then the largest
    /// batch measured at the largest context (the grid may lack its largest corner). A
    /// larger batch is costed as several calls.
    pub(crate) max_batch: [u32; 2],
}

impl MlaDecodeCall {
    /// `None` unless `arch` is MLA and the profile has rows for its heads per GPU (or
    /// more), latent widths and `kv`.
    fn new(p: &Profile, arch: &ModelArch, tp: u32, kv: Dtype) -> Option<MlaDecodeCall> {
        let m = arch.mla.as_ref()?;
        let heads = arch.num_heads / tp.max(1);
        if heads == 0 {
            return None;
        }
        let (lora, rope) = (m.kv_lora_rank, m.qk_rope_head_dim);
        let chosen = p
            .mla_decode_heads(lora, rope, kv)
            .into_iter()
            .filter(|&h| h >= heads)
            .min()?;
        let rows = || {
            p.data().attention_decode_mla.iter().filter(move |r| {
                (r.heads, r.kv_lora_rank, r.rope_dim, r.kv_dtype) == (chosen, lora, rope, kv)
            })
        };
        let max_all = rows().map(|r| r.batch).max()?;
        let max_ctx = rows().map(|r| r.context).max()?;
        let max_at_ctx = rows()
            .filter(|r| r.context == max_ctx)
            .map(|r| r.batch)
            .max()?;
        p.mla_decode_seconds(1, 1024, heads, lora, rope, kv)?;
        Some(MlaDecodeCall {
            heads,
            kv_lora_rank: lora,
            rope_dim: rope,
            kv,
            max_batch: [max_all.max(1), max_at_ctx.max(1)],
        })
    }

    /// Seconds of one layer's MLA decode attention over `seqs` sequences of `ctx` cached
    /// tokens each, and the number of calls; `None` outside the measured coverage.
    pub(crate) fn seconds(&self, p: &Profile, seqs: u32, ctx: u32) -> Option<(f64, u32)> {
        self.max_batch.iter().find_map(|&cap| {
            let calls = seqs.div_ceil(cap);
            let batch = seqs.div_ceil(calls);
            p.mla_decode_seconds(
                batch,
                ctx,
                self.heads,
                self.kv_lora_rank,
                self.rope_dim,
                self.kv,
            )
            .map(|s| (s * f64::from(calls), calls))
        })
    }
}

/// The largest measured `batch × kv_heads` among the decode rows that
/// [`Profile::decode_attention_seconds`] uses for GQA group `group` (the nearest
/// measured group at or above it, else the largest), 0 without rows.
fn decode_grid_max_seqs(p: &Profile, group: u32, head_dim: u32, kv: Dtype) -> u32 {
    let rows = || {
        p.data()
            .attention_decode
            .iter()
            .filter(move |r| r.head_dim == head_dim && r.kv_dtype == kv)
    };
    let group_of = |r: &crate::profile::DecodeAttentionRow| r.heads / r.kv_heads.max(1);
    let chosen = rows()
        .map(group_of)
        .filter(|&g| g >= group)
        .min()
        .or_else(|| rows().map(group_of).max());
    let Some(chosen) = chosen else { return 0 };
    rows()
        .filter(|r| group_of(r) == chosen)
        .map(|r| r.batch.saturating_mul(r.kv_heads))
        .max()
        .unwrap_or(0)
}

/// Seconds over m for GEMM `(n, k, dtype)`, sampled at the profile's measured m.
fn gemm_curve(p: &Profile, n: u64, k: u64, dtype: Dtype) -> Option<LogCurve> {
    let pts: Vec<(f64, f64)> = p
        .data()
        .gemm
        .iter()
        .filter(|r| r.n == n && r.k == k && r.dtype == dtype)
        .filter_map(|r| Some((r.m as f64, p.gemm_seconds(r.m, n, k, dtype)?)))
        .collect();
    LogCurve::new(pts, false)
}

/// Seconds of op `op` over tokens, at `bytes_per_token` (> 0), sampled at the
/// profile's measured sizes.
fn memory_curve(p: &Profile, op: &str, bytes_per_token: f64) -> Option<LogCurve> {
    let pts: Vec<(f64, f64)> = p
        .data()
        .memory_bound
        .iter()
        .filter(|r| r.op == op)
        .filter_map(|r| {
            Some((
                r.bytes as f64 / bytes_per_token,
                p.memory_bound_seconds(op, r.bytes)?,
            ))
        })
        .collect();
    LogCurve::new(pts, true)
}

/// Seconds of one prefill attention call over its FLOPs, for the profile's default
/// kernel at head dimension `hd`, sampled at the measured calls.
fn prefill_curve(p: &Profile, heads: u32, kv_heads: u32, hd: u32) -> Option<LogCurve> {
    let kernel = p.default_prefill_kernel()?;
    let pts: Vec<(f64, f64)> = p
        .data()
        .attention_prefill
        .iter()
        .filter(|r| r.kernel == kernel && r.head_dim == hd)
        .filter_map(|r| {
            let flops =
                prefill_attention_flops(r.batch, r.new_tokens, r.context, r.heads, r.head_dim);
            let s = p.prefill_attention_seconds(
                r.batch,
                r.new_tokens,
                r.context,
                r.heads,
                r.kv_heads,
                r.head_dim,
            )?;
            Some((flops, s))
        })
        .collect();
    let _ = (heads, kv_heads); // the profile's rate depends on FLOPs alone
    LogCurve::new(pts, true)
}

/// GPUs whose all-reduce may come from another GPU's profile when their own has none:
/// same NVLink generation and NVSwitch topology.
const ALLREDUCE_SIBLINGS: &[(&str, &str)] = &[("h100", "h200")];

/// All-reduce of `tp` GPUs from the sibling GPU's shipped profile, labelled borrowed.
fn borrowed_allreduce(p: &Profile, tp: u32) -> Option<(LogCurve, TermSource)> {
    if !p.data().allreduce.is_empty() {
        return None;
    }
    let own = p.header().gpu_id.to_ascii_lowercase();
    let (_, sibling) = ALLREDUCE_SIBLINGS.iter().find(|(g, _)| *g == own)?;
    let other = builtin_profile(sibling)?;
    allreduce_curve(&other, tp).map(|(c, src)| {
        let label = if src == TermSource::Calibrated {
            TermSource::Borrowed
        } else {
            src
        };
        (c, label)
    })
}

/// Bus-normalised all-reduce time factor `2(g-1)/g`.
fn bus_factor(g: u32) -> f64 {
    2.0 * f64::from(g - 1) / f64::from(g)
}

/// All-reduce seconds over bytes for `tp` GPUs: measured, or extrapolated from the two
/// largest measured sizes when `tp` is twice the largest and that is twice the next.
fn allreduce_curve(p: &Profile, tp: u32) -> Option<(LogCurve, TermSource)> {
    let bytes_for = |g: u32| -> Vec<u64> {
        let mut b: Vec<u64> = p
            .data()
            .allreduce
            .iter()
            .filter(|r| r.gpus == g)
            .map(|r| r.bytes)
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    };
    let gpus = p.allreduce_gpus();
    if gpus.contains(&tp) {
        let pts = bytes_for(tp)
            .into_iter()
            .filter_map(|b| Some((b as f64, p.allreduce_seconds(tp, b)?)))
            .collect();
        return LogCurve::new(pts, true).map(|c| (c, TermSource::Calibrated));
    }
    let (&g2, rest) = gpus.split_last()?;
    let &g1 = rest.last()?;
    if g2 != 2 * g1 || tp != 2 * g2 {
        return None;
    }
    let pts = bytes_for(g2)
        .into_iter()
        .filter_map(|b| {
            let t1 = p.allreduce_seconds(g1, b)?;
            let t2 = p.allreduce_seconds(g2, b)?;
            let (tau1, tau2) = (t1 / bus_factor(g1), t2 / bus_factor(g2));
            let ratio = (tau2 / tau1).clamp(1.0, 2.0);
            Some((b as f64, tau2 * ratio * bus_factor(tp)))
        })
        .collect();
    LogCurve::new(pts, true).map(|c| (c, TermSource::Extrapolated))
}

mod v2;
pub(crate) use v2::{SustainedFactor, V2Terms};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_curve_is_exact_monotone_and_bounded() {
        let c = LogCurve::new(vec![(1.0, 10.0), (16.0, 8.0), (256.0, 40.0)], false).unwrap();
        let close = |a: Result<f64, f64>, b: f64| (a.unwrap() / b - 1.0).abs() < 1e-12;
        assert!(close(c.eval(1.0), 10.0));
        // The dip at 16 is raised to the running maximum.
        assert!(close(c.eval(16.0), 10.0));
        assert!((c.eval(256.0).unwrap() - 40.0).abs() < 1e-9);
        let mut last = 0.0;
        for x in 1..=1024 {
            let y = c.eval(f64::from(x)).unwrap();
            assert!(y >= last, "{x}: {y} < {last}");
            last = y;
        }
        assert!((c.eval(512.0).unwrap() - 80.0).abs() < 1e-9);
        assert!(c.eval(1025.0).is_err());
        assert_eq!(c.eval(0.5), Err(0.0));
        let f = LogCurve::new(vec![(2.0, 3.0)], true).unwrap();
        assert!(close(f.eval(1.0), 3.0));
        assert!(LogCurve::new(vec![(0.0, 1.0)], true).is_none());
        // Two kernels measured at the same x: the faster one counts (moe_experts rows of
        // the torch grouped GEMM and of the Triton fused-MoE kernel, in any order).
        let k =
            LogCurve::new(vec![(2.0, 5.0), (1.0, 10.0), (1.0, 4.0), (2.0, 9.0)], false).unwrap();
        assert!(close(k.eval(1.0), 4.0));
        assert!(close(k.eval(2.0), 5.0));
    }

    #[test]
    fn weighted_sum_is_exact_at_grid_points_and_bounded() {
        let a = LogCurve::new(vec![(1.0, 1.0), (4.0, 2.0), (16.0, 8.0)], false).unwrap();
        let b = LogCurve::new(vec![(2.0, 3.0), (8.0, 5.0)], true).unwrap();
        let s = LogCurve::weighted_sum(&[(&a, 2.0), (&b, 1.0)]).unwrap();
        for x in [1.0, 2.0, 4.0, 8.0, 16.0, 32.0] {
            let want = 2.0 * a.eval(x).unwrap() + b.eval(x).unwrap();
            assert!((s.eval(x).unwrap() / want - 1.0).abs() < 1e-12, "{x}");
        }
        // Common upper end: b stops at 4 x 8 = 32; no extrapolation beyond.
        assert!(s.eval(32.0).is_ok() && s.eval(33.0).is_err());
        assert!(s.eval(0.5).is_err(), "a has no floor");
    }

    #[test]
    fn sources_combine() {
        use TermSource::*;
        assert_eq!(None.combine(Calibrated), Calibrated);
        assert_eq!(Calibrated.combine(Calibrated), Calibrated);
        assert_eq!(Calibrated.combine(Extrapolated), Extrapolated);
        assert_eq!(Calibrated.combine(Roofline), Partial);
        assert_eq!(Roofline.combine(Roofline), Roofline);
    }

    #[test]
    fn builtin_profiles_are_shared() {
        let a = builtin_profile("h100").unwrap();
        let b = builtin_profile("H100").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(builtin_profile("l20").is_none());
    }
}
