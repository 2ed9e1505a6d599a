//! Calibration profiles: kernel timings measured on one GPU model by `xpyd-calibrate`,
//! and the lookups with interpolation that a cost model calls once per engine step.
//!
//! # Format (`format_version: 2`; version 1 files still load)
//!
//! Version 2 added the `moe_experts` table (grouped expert GEMMs), the `gemm_sustained`
//! table (layer GEMM stacks replayed at the power limit) and the optional `v_head_dim` of
//! prefill attention rows (MLA: q/k and v widths differ), and later the optional
//! `attention_decode_mla` table (absorbed MLA decode; omitted when empty). A version 1
//! file is a version 2 file with those tables empty, and loads unchanged.
//!
//! A profile is one JSON object ([`ProfileData`]): a [`ProfileHeader`] saying where and
//! how it was measured, then one table per kind of measurement. Every row carries its
//! full shape and the measured **median seconds of one call** (one layer, one kernel or
//! one collective), plus the achieved rate (TFLOP/s or GB/s, 1e12 / 1e9 per second) for
//! people reading the file. Unknown fields are rejected, so a typo never silently drops a
//! table. Units are in the field names.
//!
//! # Lookups
//!
//! [`Profile::new`] validates the data and builds sorted grids once; lookups then cost a
//! binary search and a logarithm or two, with no allocation.
//!
//! - GEMM: exact `(n, k, dtype)` from the table, log-log interpolation in `m` between
//!   grid points, linear-in-`m` extrapolation above the largest measured `m` up to
//!   [`MAX_EXTRAPOLATION`] times it, `None` outside that coverage.
//! - Prefill attention: the achieved TFLOP/s is interpolated log-log in the FLOPs of the
//!   call among rows of the same kernel and `head_dim`, and the time is FLOPs / rate.
//!   Below the smallest measured work the smallest row's time is a floor (launch-bound).
//!   Rows that share the work keep the fastest.
//! - Decode attention: rows of the same `head_dim`, KV dtype and GQA group
//!   `heads / kv_heads` (the nearest measured group at or above the one asked for) form
//!   a grid over (batch × kv_heads, context), interpolated bilinearly in log space; the
//!   achieved GB/s over bytes read covers holes in the grid.
//! - All-reduce and copies: log-log interpolation of seconds in bytes, the smallest
//!   row's time as a floor below, linear in bytes above up to [`MAX_EXTRAPOLATION`].
//!
//! # Invariants
//!
//! - Every lookup is exact at a measured grid point and monotone between two adjacent
//!   grid points (log-log interpolation of two positive values is monotone).
//! - A lookup never extrapolates beyond [`MAX_EXTRAPOLATION`] times the measured range;
//!   it returns `None` and the caller falls back to the roofline.
//! - Nothing here reads a clock, the environment or the network: the date in the header
//!   is written by the caller.

use crate::Dtype;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The profile format this code writes.
pub const FORMAT_VERSION: u32 = 2;

/// The profile formats this code reads (older versions are subsets of the newest).
pub const READABLE_VERSIONS: [u32; 2] = [1, 2];

/// How far above the largest measured size (GEMM `m`, collective bytes, attention work)
/// a lookup extrapolates linearly before it gives up (factor).
pub const MAX_EXTRAPOLATION: f64 = 4.0;

/// Where and how a profile was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileHeader {
    /// Device name as the driver reports it (`NVIDIA H100 80GB HBM3`).
    pub gpu_name: String,
    /// Catalog id of the GPU this profile stands for (`h100`, `h200`).
    pub gpu_id: String,
    /// Device memory, bytes.
    pub memory_bytes: u64,
    /// Multiprocessors on the device.
    pub sm_count: u32,
    /// Compute capability, `major.minor` (`9.0`).
    pub compute_capability: String,
    /// Maximum SM clock, MHz, as the driver reports it.
    pub sm_clock_mhz: u32,
    /// Memory clock, MHz, as the driver reports it.
    pub memory_clock_mhz: u32,
    /// GPUs visible during the run (multi-GPU tables need 2 or more).
    pub gpu_count: u32,
    /// CUDA driver version (`13000` means 13.0).
    pub driver_version: String,
    /// CUDA toolkit libraries used (cuBLASLt, NVRTC, NCCL versions).
    pub cuda_version: String,
    /// UTC date and time of the run (RFC 3339), written by the caller.
    pub date_utc: String,
    /// `xpyd-calibrate` version.
    pub tool_version: String,
    /// The command line of the run (and of merges, `;`-separated).
    pub command_line: String,
    /// Free-form notes (what was skipped, errors seen).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One GEMM `C[m,n] = A[m,k] · B[k,n]` (tokens × in-features times the weight).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmRow {
    /// Rows of A and C: tokens in the batch.
    pub m: u64,
    /// Output features.
    pub n: u64,
    /// Input features.
    pub k: u64,
    /// Operand format (`bf16`, or `fp8` e4m3 with per-tensor scales); output is bf16.
    pub dtype: Dtype,
    /// Median seconds of one GEMM.
    pub seconds: f64,
    /// Achieved TFLOP/s (2·m·n·k / seconds / 1e12).
    pub tflops: f64,
    /// Which layer this shape comes from (`qkv`, `o`, `gate_up`, `down`, `lm_head`),
    /// documentation only.
    #[serde(default)]
    pub label: String,
}

/// One prefill (context) attention call: `batch` sequences of `new_tokens` query tokens
/// each, attending causally to `context` cached tokens plus themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefillAttentionRow {
    /// Sequences in the call.
    pub batch: u32,
    /// New (query) tokens per sequence.
    pub new_tokens: u32,
    /// Tokens already in the KV cache per sequence before this call (0 = fresh prompt).
    pub context: u32,
    /// Query heads (per GPU, after the TP split).
    pub heads: u32,
    /// KV heads (per GPU).
    pub kv_heads: u32,
    /// Head dimension.
    pub head_dim: u32,
    /// Median seconds of one call.
    pub seconds: f64,
    /// Achieved TFLOP/s, counting [`prefill_attention_flops`].
    pub tflops: f64,
    /// The kernel measured (`xpyd-nvrtc`, `torch-sdpa`).
    pub kernel: String,
    /// Width of v per head when it differs from `head_dim` (MLA prefill: q/k 192, v
    /// 128); absent: v is `head_dim` wide. FLOPs then count `2 · pairs · heads ·
    /// (head_dim + v_head_dim)`. The plain-attention lookups ignore such rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v_head_dim: Option<u32>,
}

impl PrefillAttentionRow {
    /// FLOPs of the call (QKᵀ and PV, causal), with its own q/k and v widths.
    pub fn flops(&self) -> f64 {
        prefill_attention_flops_qk_v(
            self.batch,
            self.new_tokens,
            self.context,
            self.heads,
            self.head_dim,
            self.v_head_dim.unwrap_or(self.head_dim),
        )
    }
}

/// The routed experts of one MoE layer on one GPU: the grouped gate/up GEMM
/// `[T k, hidden] x [E, hidden, 2 inter]` and the grouped down GEMM `[T k, inter] x [E,
/// inter, hidden]`, `tokens` tokens routed top-k at random (uniform) over `experts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeExpertsRow {
    /// Hidden size.
    pub hidden: u64,
    /// Expert intermediate size on this GPU (the model's, split by TP).
    pub inter: u64,
    /// Routed experts held by the GPU.
    pub experts: u32,
    /// Experts per token.
    pub top_k: u32,
    /// Weight (and activation) format.
    pub dtype: Dtype,
    /// Tokens of the step (before routing).
    pub tokens: u64,
    /// Experts that received at least one token.
    pub touched: u32,
    /// Median seconds of both grouped GEMMs.
    pub seconds: f64,
    /// Achieved TFLOP/s (`2 · tokens · top_k · 3 · hidden · inter / seconds / 1e12`).
    pub tflops: f64,
    /// The kernel measured (`torch-grouped-mm`, `torch-scaled-grouped-mm`).
    pub kernel: String,
    /// Which model and TP split the shape comes from (documentation only).
    #[serde(default)]
    pub label: String,
}

/// A stack of projection GEMMs (`layers` × `shapes`, bf16) replayed back to back in a CUDA
/// graph for over a second, compared with the sum of the same GEMMs' isolated rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmSustainedRow {
    /// Tokens (GEMM `m`).
    pub m: u64,
    /// Layers in the stack.
    pub layers: u32,
    /// `(n, k)` of each GEMM of one layer.
    pub shapes: Vec<[u64; 2]>,
    /// Median seconds of one replay of the stack in the second half of the window.
    pub sequence_s: f64,
    /// `layers × Σ` of the profile's `gemm` rows for these shapes at `m` (bf16).
    pub isolated_s: f64,
    /// `sequence_s / isolated_s`.
    pub ratio: f64,
    /// Median SM clock during the second half, MHz (NVML), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_mhz: Option<f64>,
    /// Median board power during the second half, W (NVML), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
}

/// Prefill attention calls replayed back to back at the power limit
/// (`sustained_bench.py --attention-only`) against the profile's isolated row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttentionSustainedRow {
    /// Sequences per call.
    pub batch: u32,
    /// New (query) tokens per sequence (no cached context).
    pub new_tokens: u32,
    /// Query heads.
    pub heads: u32,
    /// KV heads.
    pub kv_heads: u32,
    /// Head dimension.
    pub head_dim: u32,
    /// The kernel replayed (`torch-sdpa-cudnn`).
    pub kernel: String,
    /// Calls in one replay.
    pub calls: u32,
    /// Median seconds of one call inside the replayed sequence.
    pub sequence_s: f64,
    /// The profile's isolated seconds for the same call.
    pub isolated_s: f64,
    /// `sequence_s / isolated_s`.
    pub ratio: f64,
    /// Median SM clock during the replay, MHz (NVML), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_mhz: Option<f64>,
    /// Median board power during the replay, W (NVML), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
}

/// One paged decode attention call: `batch` sequences of one query token each over
/// `context` cached tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeAttentionRow {
    /// Sequences in the call.
    pub batch: u32,
    /// Cached tokens per sequence.
    pub context: u32,
    /// Query heads (per GPU).
    pub heads: u32,
    /// KV heads (per GPU).
    pub kv_heads: u32,
    /// Head dimension.
    pub head_dim: u32,
    /// Tokens per KV-cache block (page).
    pub block_size: u32,
    /// KV cache format.
    pub kv_dtype: Dtype,
    /// Median seconds of one call.
    pub seconds: f64,
    /// Achieved GB/s of KV read ([`decode_attention_kv_bytes`] / seconds / 1e9).
    pub gb_s: f64,
    /// The kernel measured (`xpyd-nvrtc`).
    pub kernel: String,
}

/// One absorbed MLA decode attention call (DeepSeek-V2/V3 as FlashMLA runs it): `batch`
/// sequences of one query token each, `heads` query heads (per GPU) over a paged latent
/// cache of `context` rows of `kv_lora_rank + rope_dim` values shared by all heads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaDecodeRow {
    /// Sequences in the call.
    pub batch: u32,
    /// Cached tokens (latent rows) per sequence.
    pub context: u32,
    /// Query heads (per GPU, after the TP split).
    pub heads: u32,
    /// Latent width of a row that is also the value (512 for DeepSeek-V3).
    pub kv_lora_rank: u32,
    /// Decoupled rotary width of a row (64 for DeepSeek-V3).
    pub rope_dim: u32,
    /// Tokens per KV-cache block (page).
    pub block_size: u32,
    /// Latent cache format.
    pub kv_dtype: Dtype,
    /// Median seconds of one call (the split-K reduction included).
    pub seconds: f64,
    /// Achieved GB/s of latent cache read ([`mla_decode_kv_bytes`] / seconds / 1e9).
    pub gb_s: f64,
    /// The kernel measured (`xpyd-nvrtc-mla`).
    pub kernel: String,
}

/// Bytes of latent cache one MLA decode call must read (each row once for all heads):
/// `batch · context · (kv_lora_rank + rope_dim) · dtype bytes`.
pub fn mla_decode_kv_bytes(
    batch: u32,
    context: u32,
    kv_lora_rank: u32,
    rope_dim: u32,
    kv_dtype: Dtype,
) -> f64 {
    f64::from(batch) * f64::from(context) * f64::from(kv_lora_rank + rope_dim) * kv_dtype.bytes()
}

/// One memory-bound kernel (norm, activation, rotary embedding).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryBoundRow {
    /// Operation (`rmsnorm`, `silu_mul`, `rotary`, `copy`).
    pub op: String,
    /// Output elements.
    pub elements: u64,
    /// Bytes read plus bytes written.
    pub bytes: u64,
    /// Median seconds of one call.
    pub seconds: f64,
    /// Achieved GB/s (bytes / seconds / 1e9).
    pub gb_s: f64,
}

/// One all-reduce (sum, bf16) across `gpus` GPUs of one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllreduceRow {
    /// GPUs in the communicator.
    pub gpus: u32,
    /// Message size per GPU, bytes.
    pub bytes: u64,
    /// Median seconds of one all-reduce.
    pub seconds: f64,
    /// Bus bandwidth, GB/s (bytes · 2(g-1)/g / seconds / 1e9, as nccl-tests reports it).
    pub bus_gb_s: f64,
    /// Implementation (`nccl`, with its version).
    pub algorithm: String,
}

/// One GPU-to-GPU copy (peer memcpy).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pCopyRow {
    /// Bytes copied.
    pub bytes: u64,
    /// Median seconds of one copy.
    pub seconds: f64,
    /// Achieved GB/s.
    pub gb_s: f64,
}

/// Direction of a host copy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostCopyDirection {
    /// Pinned host memory to device.
    HostToDevice,
    /// Device to pinned host memory.
    DeviceToHost,
}

/// One pinned host <-> device copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCopyRow {
    /// Direction.
    pub direction: HostCopyDirection,
    /// Bytes copied.
    pub bytes: u64,
    /// Median seconds of one copy.
    pub seconds: f64,
    /// Achieved GB/s.
    pub gb_s: f64,
}

/// The serde mirror of a profile file (what `xpyd-calibrate` writes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileData {
    /// One of [`READABLE_VERSIONS`]; written as [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Where and how it was measured.
    pub header: ProfileHeader,
    /// GEMMs.
    #[serde(default)]
    pub gemm: Vec<GemmRow>,
    /// Prefill attention.
    #[serde(default)]
    pub attention_prefill: Vec<PrefillAttentionRow>,
    /// Paged decode attention.
    #[serde(default)]
    pub attention_decode: Vec<DecodeAttentionRow>,
    /// Memory-bound kernels.
    #[serde(default)]
    pub memory_bound: Vec<MemoryBoundRow>,
    /// Device-to-device copy bandwidth, GB/s, counting bytes read plus bytes written.
    #[serde(default)]
    pub hbm_bandwidth_gb_s: Option<f64>,
    /// Seconds between two small kernels replayed inside a CUDA graph.
    #[serde(default)]
    pub launch_gap_s: Option<f64>,
    /// All-reduce (needs 2+ GPUs).
    #[serde(default)]
    pub allreduce: Vec<AllreduceRow>,
    /// GPU-to-GPU copies (needs 2+ GPUs).
    #[serde(default)]
    pub p2p_copy: Vec<P2pCopyRow>,
    /// Pinned host copies.
    #[serde(default)]
    pub host_copy: Vec<HostCopyRow>,
    /// MoE routed experts as grouped GEMMs (format 2).
    #[serde(default)]
    pub moe_experts: Vec<MoeExpertsRow>,
    /// Sustained layer-GEMM stacks (format 2).
    #[serde(default)]
    pub gemm_sustained: Vec<GemmSustainedRow>,
    /// Absorbed MLA decode attention (format 2; absent in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention_decode_mla: Vec<MlaDecodeRow>,
    /// Sustained prefill attention sequences (format 2; absent in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention_sustained: Vec<AttentionSustainedRow>,
}

/// Why a profile could not be loaded or built. All variants are fatal for that profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON or does not match the format.
    #[error("{origin}: {field}: {message}")]
    Parse {
        /// The file (or `builtin:<id>`).
        origin: String,
        /// JSON path of the offending field (`gemm[3].seconds`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file was written in a format version this code does not read.
    #[error("{origin}: format_version: {found} is not supported (this build reads 1 and 2)")]
    Version {
        /// The file (or `builtin:<id>`).
        origin: String,
        /// The version found.
        found: u32,
    },
    /// A value is out of range (non-positive time, zero shape).
    #[error("{origin}: {field}: {message}")]
    Invalid {
        /// The file (or `builtin:<id>`).
        origin: String,
        /// JSON path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// FLOPs of one causal prefill attention call (QKᵀ and PV, 2 FLOPs per multiply-add):
/// `4 · batch · heads · head_dim · Σ_{i=1..new} (context + i)`.
pub fn prefill_attention_flops(
    batch: u32,
    new_tokens: u32,
    context: u32,
    heads: u32,
    head_dim: u32,
) -> f64 {
    prefill_attention_flops_qk_v(batch, new_tokens, context, heads, head_dim, head_dim)
}

/// FLOPs of one causal prefill attention call whose q/k are `qk_dim` and v `v_dim` wide
/// per head (MLA): `2 · batch · heads · (qk_dim + v_dim) · Σ_{i=1..new} (context + i)`.
pub fn prefill_attention_flops_qk_v(
    batch: u32,
    new_tokens: u32,
    context: u32,
    heads: u32,
    qk_dim: u32,
    v_dim: u32,
) -> f64 {
    let n = f64::from(new_tokens);
    let pairs = n * f64::from(context) + n * (n + 1.0) / 2.0;
    2.0 * f64::from(batch) * f64::from(heads) * (f64::from(qk_dim) + f64::from(v_dim)) * pairs
}

/// FLOPs of the routed experts of one MoE layer: `2 · tokens · top_k · 3 · hidden ·
/// inter` (gate, up and down).
pub fn moe_experts_flops(tokens: u64, top_k: u32, hidden: u64, inter: u64) -> f64 {
    2.0 * tokens as f64 * f64::from(top_k) * 3.0 * hidden as f64 * inter as f64
}

/// Bytes of KV cache one decode attention call must read:
/// `batch · context · 2 · kv_heads · head_dim · dtype bytes`.
pub fn decode_attention_kv_bytes(
    batch: u32,
    context: u32,
    kv_heads: u32,
    head_dim: u32,
    kv_dtype: Dtype,
) -> f64 {
    f64::from(batch)
        * f64::from(context)
        * 2.0
        * f64::from(kv_heads)
        * f64::from(head_dim)
        * kv_dtype.bytes()
}

/// A sorted curve of `(x, y)` points with `x > 0`, `y > 0`, interpolated log-log.
#[derive(Clone, Debug, Default, PartialEq)]
struct Curve {
    /// Strictly increasing x; y > 0. When a profile holds several rows at one x, the
    /// smallest y is kept (the fastest measurement).
    pts: Vec<(f64, f64)>,
}

/// What a curve does outside its measured x range.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Ends {
    /// None below the smallest x; y ∝ x above the largest x (bounded).
    NoneBelowLinearAbove,
    /// The smallest y below the smallest x; y ∝ x above the largest x (bounded).
    FloorBelowLinearAbove,
    /// The first / last y outside the range (bounded above).
    FlatBoth,
}

impl Curve {
    fn from_points(mut pts: Vec<(f64, f64)>) -> Curve {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pts.dedup_by(|later, earlier| later.0 == earlier.0);
        Curve { pts }
    }

    fn eval(&self, x: f64, ends: Ends) -> Option<f64> {
        let first = *self.pts.first()?;
        let last = *self.pts.last()?;
        if !(x.is_finite() && x > 0.0) {
            return None;
        }
        if x < first.0 {
            return match ends {
                Ends::NoneBelowLinearAbove => None,
                Ends::FloorBelowLinearAbove | Ends::FlatBoth => Some(first.1),
            };
        }
        if x > last.0 {
            if x > last.0 * MAX_EXTRAPOLATION {
                return None;
            }
            return match ends {
                Ends::NoneBelowLinearAbove | Ends::FloorBelowLinearAbove => {
                    Some(last.1 * x / last.0)
                }
                Ends::FlatBoth => Some(last.1),
            };
        }
        // first.0 <= x <= last.0: find the segment.
        let i = self.pts.partition_point(|p| p.0 < x);
        let hi = self.pts[i];
        if hi.0 == x {
            return Some(hi.1);
        }
        let lo = self.pts[i - 1];
        let t = (x.ln() - lo.0.ln()) / (hi.0.ln() - lo.0.ln());
        let y = (lo.1.ln() + t * (hi.1.ln() - lo.1.ln())).exp();
        // Keep the result inside the segment's bounds despite rounding (monotonicity).
        Some(y.clamp(lo.1.min(hi.1), lo.1.max(hi.1)))
    }
}

/// A 2-D table `v(x, y) > 0` on sorted axes, interpolated bilinearly in
/// `(ln x, ln y) → ln v`; cells may be missing.
#[derive(Clone, Debug, Default, PartialEq)]
struct Grid2 {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// Row-major `xs.len() × ys.len()`; the smallest value where rows repeat a cell.
    v: Vec<Option<f64>>,
    /// `ln` of `xs`, `ys` and `v`, computed once: the same values a lookup would compute
    /// (so lookups are unchanged bit for bit), without their cost per lookup.
    ln_xs: Vec<f64>,
    ln_ys: Vec<f64>,
    ln_v: Vec<Option<f64>>,
}

impl Grid2 {
    fn from_points(pts: &[(f64, f64, f64)]) -> Grid2 {
        let axis = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut a: Vec<f64> = pts.iter().map(f).collect();
            a.sort_by(f64::total_cmp);
            a.dedup();
            a
        };
        let xs = axis(|p| p.0);
        let ys = axis(|p| p.1);
        let mut v = vec![None; xs.len() * ys.len()];
        for &(x, y, val) in pts {
            let i = xs.partition_point(|&a| a < x);
            let j = ys.partition_point(|&a| a < y);
            let c: &mut Option<f64> = &mut v[i * ys.len() + j];
            *c = Some(c.map_or(val, |o: f64| o.min(val)));
        }
        let ln_xs = xs.iter().map(|a| a.ln()).collect();
        let ln_ys = ys.iter().map(|a| a.ln()).collect();
        let ln_v = v.iter().map(|c| c.map(f64::ln)).collect();
        Grid2 {
            xs,
            ys,
            v,
            ln_xs,
            ln_ys,
            ln_v,
        }
    }

    /// Bracketing indices and weight in log space for `t` on `axis` (already clamped
    /// into range); `ln_axis` is `ln` of `axis`.
    fn bracket(axis: &[f64], ln_axis: &[f64], t: f64) -> (usize, usize, f64) {
        let i = axis.partition_point(|&a| a < t);
        if axis[i] == t {
            return (i, i, 0.0);
        }
        let (a, b) = (ln_axis[i - 1], ln_axis[i]);
        (i - 1, i, (t.ln() - a) / (b - a))
    }

    /// `None` outside `[.., 4 × max]` on either axis or where a needed cell is missing.
    /// Below an axis' smallest value the smallest is used (a floor); above its largest,
    /// the value scales linearly.
    fn eval(&self, x: f64, y: f64) -> Option<f64> {
        self.eval_at(self.x_point(x)?, y)
    }

    /// The `x` half of [`Self::eval`], resolved once for many `y`: `None` when `x` (or
    /// the grid) is out of range.
    fn x_point(&self, x: f64) -> Option<AxisPoint> {
        let xmax = *self.xs.last()?;
        if x.is_nan() || x <= 0.0 || x > xmax * MAX_EXTRAPOLATION {
            return None;
        }
        let (i0, i1, t) = Self::bracket(&self.xs, &self.ln_xs, x.clamp(self.xs[0], xmax));
        Some(AxisPoint {
            i0,
            i1,
            t,
            scale: (x / xmax).max(1.0),
        })
    }

    /// [`Self::eval`] at a resolved `x`: the same operations in the same order.
    fn eval_at(&self, xp: AxisPoint, y: f64) -> Option<f64> {
        let ymax = *self.ys.last()?;
        if y.is_nan() || y <= 0.0 || y > ymax * MAX_EXTRAPOLATION {
            return None;
        }
        let scale = xp.scale * (y / ymax).max(1.0);
        let (i0, i1, tx) = (xp.i0, xp.i1, xp.t);
        let (j0, j1, ty) = Self::bracket(&self.ys, &self.ln_ys, y.clamp(self.ys[0], ymax));
        if i0 == i1 && j0 == j1 {
            // On a grid point: the measured value itself, exactly.
            return self.v[i0 * self.ys.len() + j0].map(|v| v * scale);
        }
        let at = |i: usize, j: usize| self.ln_v[i * self.ys.len() + j];
        let (a, b, c, d) = (at(i0, j0)?, at(i0, j1)?, at(i1, j0)?, at(i1, j1)?);
        let lo = a + ty * (b - a);
        let hi = c + ty * (d - c);
        Some((lo + tx * (hi - lo)).exp() * scale)
    }
}

/// One axis coordinate of a [`Grid2`] lookup: bracketing indices, the log-space weight
/// and the linear scale beyond the axis' end.
#[derive(Copy, Clone, Debug, PartialEq)]
struct AxisPoint {
    i0: usize,
    i1: usize,
    t: f64,
    scale: f64,
}

/// A decode-attention batch resolved against a profile's tables
/// ([`Profile::decode_attention_batch`]): which table prices it and where the batch
/// falls on it. A simulated instance keeps one per batch size, so each step only
/// locates its context ([`Profile::decode_attention_at`]).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct DecodeBatch {
    batch: u32,
    kv_heads: u32,
    head_dim: u32,
    kv_dtype: Dtype,
    /// Index of the `(head_dim, kv dtype, group)` table; `None` without one.
    table: Option<usize>,
    /// The batch on that table's grid; `None` outside it.
    x: Option<AxisPoint>,
}

/// Key of a GEMM curve.
type GemmKey = (u64, u64, Dtype);

/// Sorted grids built once from [`ProfileData`].
#[derive(Clone, Debug, Default, PartialEq)]
struct Index {
    /// `(n, k, dtype)` → seconds over m; sorted by key.
    gemm: Vec<(GemmKey, Curve)>,
    /// `(kernel, head_dim)` → achieved FLOP/s over FLOPs; sorted by key.
    prefill: Vec<((String, u32), Curve)>,
    /// `(kernel, head_dim)` → smallest measured seconds (launch floor); same order.
    prefill_floor: Vec<f64>,
    /// `(head_dim, kv dtype, group)` → seconds per byte over bytes; sorted by key.
    decode: Vec<((u32, Dtype, u32), Curve)>,
    /// Same order as `decode`: smallest measured seconds.
    decode_floor: Vec<f64>,
    /// Same order as `decode`: seconds over (batch × kv_heads, context).
    decode_grid: Vec<Grid2>,
    /// `(kv_lora_rank, rope_dim, kv dtype, heads)` → MLA decode seconds over
    /// (batch, context); sorted by key.
    mla_decode: Vec<((u32, u32, Dtype, u32), Grid2)>,
    /// gpus → seconds over bytes; sorted by gpus.
    allreduce: Vec<(u32, Curve)>,
    /// Seconds over bytes.
    p2p: Curve,
    /// direction → seconds over bytes.
    host: Vec<(HostCopyDirection, Curve)>,
    /// op → seconds over bytes.
    memory: Vec<(String, Curve)>,
}

/// A validated profile with its lookup grids. Build with [`Profile::new`],
/// [`Profile::load`] or [`Profile::builtin`].
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    data: ProfileData,
    index: Index,
    /// The prefill kernel lookups use by default.
    default_prefill_kernel: Option<String>,
}

impl Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.data.serialize(s)
    }
}

/// Built-in profiles: `(gpu id, JSON text)`, measured by `xpyd-calibrate` (see each
/// file's header for the machine, date and command line).
const BUILTIN: &[(&str, &str)] = &[
    ("h100", include_str!("../profiles/h100.json")),
    ("h200", include_str!("../profiles/h200.json")),
];

fn invalid(origin: &str, field: String, message: &str) -> ProfileError {
    ProfileError::Invalid {
        origin: origin.to_string(),
        field,
        message: message.to_string(),
    }
}

fn check_time(origin: &str, field: String, seconds: f64) -> Result<(), ProfileError> {
    if seconds.is_finite() && seconds > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            origin,
            field,
            &format!("{seconds} is not a positive finite number of seconds"),
        ))
    }
}

fn check_positive(origin: &str, field: String, v: u64) -> Result<(), ProfileError> {
    if v > 0 {
        Ok(())
    } else {
        Err(invalid(origin, field, "must be positive"))
    }
}

impl Profile {
    /// Validate `data` and build the lookup grids. `origin` names the source in errors
    /// (a path, or `builtin:h100`).
    pub fn new(data: ProfileData, origin: &str) -> Result<Profile, ProfileError> {
        if !READABLE_VERSIONS.contains(&data.format_version) {
            return Err(ProfileError::Version {
                origin: origin.to_string(),
                found: data.format_version,
            });
        }
        Self::validate(&data, origin)?;
        let index = Self::build_index(&data);
        // The fastest measured implementation: highest peak TFLOP/s (ties: first by name).
        let mut default_prefill_kernel: Option<(String, f64)> = None;
        for r in data
            .attention_prefill
            .iter()
            .filter(|r| r.v_head_dim.is_none())
        {
            let better = match &default_prefill_kernel {
                None => true,
                Some((k, best)) => r.tflops > *best || (r.tflops == *best && r.kernel < *k),
            };
            if better {
                default_prefill_kernel = Some((r.kernel.clone(), r.tflops));
            }
        }
        let default_prefill_kernel = default_prefill_kernel.map(|(k, _)| k);
        Ok(Profile {
            data,
            index,
            default_prefill_kernel,
        })
    }

    /// Parse a profile from JSON text; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let data: ProfileData =
            serde_path_to_error::deserialize(de).map_err(|e| ProfileError::Parse {
                origin: origin.to_string(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        Profile::new(data, origin)
    }

    /// Load a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Profile::from_json_str(&text, &path.display().to_string())
    }

    /// The profile shipped for a catalog GPU (`h100`, `h200`), if one ships.
    pub fn builtin(gpu_id: &str) -> Option<Profile> {
        let (id, text) = BUILTIN
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(gpu_id))?;
        // The shipped files are checked by tests; a broken one is a build bug.
        match Profile::from_json_str(text, &format!("builtin:{id}")) {
            Ok(p) => Some(p),
            Err(e) => panic!("shipped profile is broken: {e}"),
        }
    }

    /// GPU ids that have a shipped profile.
    pub fn builtin_ids() -> Vec<&'static str> {
        BUILTIN.iter().map(|(id, _)| *id).collect()
    }

    /// The measured data.
    pub fn data(&self) -> &ProfileData {
        &self.data
    }

    /// Where and how it was measured.
    pub fn header(&self) -> &ProfileHeader {
        &self.data.header
    }

    /// Serialize as pretty JSON (the file format).
    pub fn to_json_pretty(&self) -> String {
        // ProfileData holds only strings, numbers, enums and vectors: cannot fail.
        serde_json::to_string_pretty(&self.data).unwrap_or_default()
    }

    fn validate(d: &ProfileData, o: &str) -> Result<(), ProfileError> {
        for (i, r) in d.gemm.iter().enumerate() {
            check_positive(o, format!("gemm[{i}].m"), r.m)?;
            check_positive(o, format!("gemm[{i}].n"), r.n)?;
            check_positive(o, format!("gemm[{i}].k"), r.k)?;
            check_time(o, format!("gemm[{i}].seconds"), r.seconds)?;
        }
        for (i, r) in d.attention_prefill.iter().enumerate() {
            let f = |s: &str| format!("attention_prefill[{i}].{s}");
            check_positive(o, f("batch"), r.batch.into())?;
            check_positive(o, f("new_tokens"), r.new_tokens.into())?;
            check_positive(o, f("heads"), r.heads.into())?;
            check_positive(o, f("kv_heads"), r.kv_heads.into())?;
            check_positive(o, f("head_dim"), r.head_dim.into())?;
            check_time(o, f("seconds"), r.seconds)?;
        }
        for (i, r) in d.attention_decode.iter().enumerate() {
            let f = |s: &str| format!("attention_decode[{i}].{s}");
            check_positive(o, f("batch"), r.batch.into())?;
            check_positive(o, f("context"), r.context.into())?;
            check_positive(o, f("heads"), r.heads.into())?;
            check_positive(o, f("kv_heads"), r.kv_heads.into())?;
            check_positive(o, f("head_dim"), r.head_dim.into())?;
            check_positive(o, f("block_size"), r.block_size.into())?;
            check_time(o, f("seconds"), r.seconds)?;
        }
        for (i, r) in d.attention_sustained.iter().enumerate() {
            check_positive(
                o,
                format!("attention_sustained[{i}].new_tokens"),
                r.new_tokens.into(),
            )?;
            check_time(
                o,
                format!("attention_sustained[{i}].sequence_s"),
                r.sequence_s,
            )?;
            check_time(
                o,
                format!("attention_sustained[{i}].isolated_s"),
                r.isolated_s,
            )?;
        }
        for (i, r) in d.attention_decode_mla.iter().enumerate() {
            let f = |s: &str| format!("attention_decode_mla[{i}].{s}");
            check_positive(o, f("batch"), r.batch.into())?;
            check_positive(o, f("context"), r.context.into())?;
            check_positive(o, f("heads"), r.heads.into())?;
            check_positive(o, f("kv_lora_rank"), r.kv_lora_rank.into())?;
            check_positive(o, f("block_size"), r.block_size.into())?;
            check_time(o, f("seconds"), r.seconds)?;
        }
        for (i, r) in d.memory_bound.iter().enumerate() {
            check_positive(o, format!("memory_bound[{i}].bytes"), r.bytes)?;
            check_time(o, format!("memory_bound[{i}].seconds"), r.seconds)?;
        }
        for (i, r) in d.allreduce.iter().enumerate() {
            if r.gpus < 2 {
                return Err(invalid(
                    o,
                    format!("allreduce[{i}].gpus"),
                    "must be 2 or more",
                ));
            }
            check_positive(o, format!("allreduce[{i}].bytes"), r.bytes)?;
            check_time(o, format!("allreduce[{i}].seconds"), r.seconds)?;
        }
        for (i, r) in d.p2p_copy.iter().enumerate() {
            check_positive(o, format!("p2p_copy[{i}].bytes"), r.bytes)?;
            check_time(o, format!("p2p_copy[{i}].seconds"), r.seconds)?;
        }
        for (i, r) in d.host_copy.iter().enumerate() {
            check_positive(o, format!("host_copy[{i}].bytes"), r.bytes)?;
            check_time(o, format!("host_copy[{i}].seconds"), r.seconds)?;
        }
        for (i, r) in d.moe_experts.iter().enumerate() {
            let f = |s: &str| format!("moe_experts[{i}].{s}");
            check_positive(o, f("hidden"), r.hidden)?;
            check_positive(o, f("inter"), r.inter)?;
            check_positive(o, f("experts"), r.experts.into())?;
            check_positive(o, f("top_k"), r.top_k.into())?;
            check_positive(o, f("tokens"), r.tokens)?;
            check_time(o, f("seconds"), r.seconds)?;
            if r.top_k > r.experts {
                return Err(invalid(o, f("top_k"), "exceeds experts"));
            }
        }
        for (i, r) in d.gemm_sustained.iter().enumerate() {
            let f = |s: &str| format!("gemm_sustained[{i}].{s}");
            check_positive(o, f("m"), r.m)?;
            check_positive(o, f("layers"), r.layers.into())?;
            check_time(o, f("sequence_s"), r.sequence_s)?;
            check_time(o, f("isolated_s"), r.isolated_s)?;
            check_time(o, f("ratio"), r.ratio)?;
        }
        if let Some(v) = d.hbm_bandwidth_gb_s {
            check_time(o, "hbm_bandwidth_gb_s".into(), v)?;
        }
        if let Some(v) = d.launch_gap_s {
            check_time(o, "launch_gap_s".into(), v)?;
        }
        Ok(())
    }

    fn build_index(d: &ProfileData) -> Index {
        fn group<K: Ord + Clone>(items: impl Iterator<Item = (K, (f64, f64))>) -> Vec<(K, Curve)> {
            let mut v: Vec<(K, (f64, f64))> = items.collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out: Vec<(K, Curve)> = Vec::new();
            let mut i = 0;
            while i < v.len() {
                let key = v[i].0.clone();
                let mut pts = Vec::new();
                while i < v.len() && v[i].0 == key {
                    pts.push(v[i].1);
                    i += 1;
                }
                out.push((key, Curve::from_points(pts)));
            }
            out
        }
        let gemm = group(
            d.gemm
                .iter()
                .map(|r| ((r.n, r.k, r.dtype), (r.m as f64, r.seconds))),
        );
        // Attention: seconds per unit of work over work, so that the "keep the smallest
        // y at equal x" rule keeps the fastest row.
        // Rows with their own v width (MLA) are looked up by the cost model directly.
        let prefill_rows = || {
            d.attention_prefill
                .iter()
                .filter(|r| r.v_head_dim.is_none())
                .map(|r| {
                    let flops = prefill_attention_flops(
                        r.batch,
                        r.new_tokens,
                        r.context,
                        r.heads,
                        r.head_dim,
                    );
                    ((r.kernel.clone(), r.head_dim), (flops, r.seconds))
                })
        };
        let prefill = group(prefill_rows().map(|(k, (w, s))| (k, (w, s / w))));
        let prefill_floor = group(prefill_rows())
            .iter()
            .map(|(_, c)| c.pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min))
            .collect();
        let decode_rows = || {
            d.attention_decode.iter().map(|r| {
                let bytes = decode_attention_kv_bytes(
                    r.batch, r.context, r.kv_heads, r.head_dim, r.kv_dtype,
                );
                let group = r.heads / r.kv_heads.max(1);
                ((r.head_dim, r.kv_dtype, group), (bytes, r.seconds))
            })
        };
        let decode = group(decode_rows().map(|(k, (w, s))| (k, (w, s / w))));
        let decode_floor = group(decode_rows())
            .iter()
            .map(|(_, c)| c.pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min))
            .collect();
        let decode_grid = decode
            .iter()
            .map(|((hd, dt, g), _)| {
                let pts: Vec<(f64, f64, f64)> = d
                    .attention_decode
                    .iter()
                    .filter(|r| {
                        r.head_dim == *hd && r.kv_dtype == *dt && r.heads / r.kv_heads.max(1) == *g
                    })
                    .map(|r| {
                        (
                            f64::from(r.batch) * f64::from(r.kv_heads),
                            f64::from(r.context),
                            r.seconds,
                        )
                    })
                    .collect();
                Grid2::from_points(&pts)
            })
            .collect();
        let mut mla_keys: Vec<(u32, u32, Dtype, u32)> = d
            .attention_decode_mla
            .iter()
            .map(|r| (r.kv_lora_rank, r.rope_dim, r.kv_dtype, r.heads))
            .collect();
        mla_keys.sort();
        mla_keys.dedup();
        let mla_decode = mla_keys
            .into_iter()
            .map(|k| {
                let pts: Vec<(f64, f64, f64)> = d
                    .attention_decode_mla
                    .iter()
                    .filter(|r| (r.kv_lora_rank, r.rope_dim, r.kv_dtype, r.heads) == k)
                    .map(|r| (f64::from(r.batch), f64::from(r.context), r.seconds))
                    .collect();
                (k, Grid2::from_points(&pts))
            })
            .collect();
        let allreduce = group(
            d.allreduce
                .iter()
                .map(|r| (r.gpus, (r.bytes as f64, r.seconds))),
        );
        let p2p = Curve::from_points(
            d.p2p_copy
                .iter()
                .map(|r| (r.bytes as f64, r.seconds))
                .collect(),
        );
        let host = group(
            d.host_copy
                .iter()
                .map(|r| (r.direction, (r.bytes as f64, r.seconds))),
        );
        let memory = group(
            d.memory_bound
                .iter()
                .map(|r| (r.op.clone(), (r.bytes as f64, r.seconds))),
        );
        Index {
            gemm,
            prefill,
            prefill_floor,
            decode,
            decode_floor,
            decode_grid,
            mla_decode,
            allreduce,
            p2p,
            host,
            memory,
        }
    }

    /// Seconds of one GEMM of `m` tokens against an `n × k` weight, or `None` when the
    /// profile has no row for `(n, k, dtype)` or `m` lies outside `[min m, 4 × max m]`.
    /// `m = 0` costs nothing.
    pub fn gemm_seconds(&self, m: u64, n: u64, k: u64, dtype: Dtype) -> Option<f64> {
        let i = self
            .index
            .gemm
            .binary_search_by(|(key, _)| key.cmp(&(n, k, dtype)))
            .ok()?;
        if m == 0 {
            return Some(0.0);
        }
        self.index.gemm[i]
            .1
            .eval(m as f64, Ends::NoneBelowLinearAbove)
    }

    /// The `(n, k)` GEMM shapes measured for `dtype`, sorted.
    pub fn gemm_shapes(&self, dtype: Dtype) -> Vec<(u64, u64)> {
        self.index
            .gemm
            .iter()
            .filter(|((_, _, d), _)| *d == dtype)
            .map(|((n, k, _), _)| (*n, *k))
            .collect()
    }

    /// Prefill attention kernels measured (`torch-sdpa`, `xpyd-nvrtc`), sorted.
    pub fn prefill_kernels(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .index
            .prefill
            .iter()
            .map(|((k, _), _)| k.as_str())
            .collect();
        v.dedup();
        v
    }

    /// The kernel [`Self::prefill_attention_seconds`] uses: the fastest measured one
    /// (highest peak achieved TFLOP/s), standing for the best kernel an engine would run.
    pub fn default_prefill_kernel(&self) -> Option<&str> {
        self.default_prefill_kernel.as_deref()
    }

    /// Seconds of one causal prefill attention call with the default kernel; see
    /// [`Self::prefill_attention_seconds_with`].
    pub fn prefill_attention_seconds(
        &self,
        batch: u32,
        new_tokens: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
    ) -> Option<f64> {
        let kernel = self.default_prefill_kernel.as_deref()?;
        self.prefill_attention_seconds_with(
            kernel, batch, new_tokens, context, heads, kv_heads, head_dim,
        )
    }

    /// Seconds of one causal prefill attention call measured with `kernel`: the achieved
    /// TFLOP/s is interpolated (log-log) in the call's FLOPs among rows of the same
    /// `head_dim`; below the smallest row's FLOPs its time is a floor; `None` without
    /// rows for `(kernel, head_dim)` or beyond 4× the largest measured FLOPs.
    #[allow(clippy::too_many_arguments)]
    pub fn prefill_attention_seconds_with(
        &self,
        kernel: &str,
        batch: u32,
        new_tokens: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
    ) -> Option<f64> {
        let _ = kv_heads; // compute-bound: KV heads change bytes, not FLOPs
        if batch == 0 || new_tokens == 0 || heads == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .prefill
            .binary_search_by(|((k, d), _)| (k.as_str(), *d).cmp(&(kernel, head_dim)))
            .ok()?;
        let flops = prefill_attention_flops(batch, new_tokens, context, heads, head_dim);
        let (curve, floor) = (&self.index.prefill[i].1, self.index.prefill_floor[i]);
        let first = curve.pts.first()?;
        if flops < first.0 {
            // Launch-bound region: no faster than the smallest measured call.
            return Some(floor.min(first.1 * first.0));
        }
        // Seconds per FLOP, flat above the top (the rate saturates), bounded.
        let spf = curve.eval(flops, Ends::FlatBoth)?;
        Some(spf * flops)
    }

    /// Seconds of one paged decode attention call, from the rows of the same
    /// `head_dim`, `kv_dtype` and GQA group `heads / kv_heads` (the nearest measured
    /// group at or above it, else the largest): bilinear in log space over the measured
    /// (batch × kv_heads, context) grid, the smallest measured value below an axis,
    /// linear above it up to 4×; where the grid has a hole, the achieved GB/s of KV read
    /// interpolated (log-log) in the bytes read. `None` without rows or beyond 4× the
    /// measured range. Block size does not enter.
    pub fn decode_attention_seconds(
        &self,
        batch: u32,
        context: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
        kv_dtype: Dtype,
    ) -> Option<f64> {
        self.decode_attention_at(
            &self.decode_attention_batch(batch, heads, kv_heads, head_dim, kv_dtype),
            context,
        )
    }

    /// The table and grid position of a decode batch (the context-independent half of
    /// [`Self::decode_attention_seconds`]).
    pub fn decode_attention_batch(
        &self,
        batch: u32,
        heads: u32,
        kv_heads: u32,
        head_dim: u32,
        kv_dtype: Dtype,
    ) -> DecodeBatch {
        let group = heads / kv_heads.max(1);
        let same = |(d, t, _): &(u32, Dtype, u32)| *d == head_dim && *t == kv_dtype;
        let lo = self
            .index
            .decode
            .partition_point(|(k, _)| (k.0, k.1) < (head_dim, kv_dtype));
        let hi = lo
            + self.index.decode[lo..]
                .iter()
                .take_while(|(k, _)| same(k))
                .count();
        let table = (lo < hi).then(|| {
            // Groups are sorted within [lo, hi): the first at or above `group`, else the last.
            let i = lo + self.index.decode[lo..hi].partition_point(|(k, _)| k.2 < group);
            i.min(hi - 1)
        });
        let seqs = f64::from(batch) * f64::from(kv_heads.max(1));
        DecodeBatch {
            batch,
            kv_heads,
            head_dim,
            kv_dtype,
            table,
            x: table.and_then(|i| self.index.decode_grid[i].x_point(seqs)),
        }
    }

    /// Seconds of one decode attention call of a resolved batch at `context`; exactly
    /// [`Self::decode_attention_seconds`] of the same arguments.
    pub fn decode_attention_at(&self, b: &DecodeBatch, context: u32) -> Option<f64> {
        if b.batch == 0 || context == 0 {
            return Some(0.0);
        }
        let i = b.table?;
        if let Some(s) =
            b.x.and_then(|xp| self.index.decode_grid[i].eval_at(xp, f64::from(context)))
        {
            return Some(s);
        }
        let bytes = decode_attention_kv_bytes(b.batch, context, b.kv_heads, b.head_dim, b.kv_dtype);
        let (curve, floor) = (&self.index.decode[i].1, self.index.decode_floor[i]);
        let first = curve.pts.first()?;
        if bytes < first.0 {
            return Some(floor.min(first.1 * first.0));
        }
        let spb = curve.eval(bytes, Ends::FlatBoth)?;
        Some(spb * bytes)
    }

    /// Seconds of one absorbed MLA decode attention call ([`MlaDecodeRow`]), from the
    /// rows of the same latent widths and cache format and the nearest measured head
    /// count at or above `heads`: bilinear in log space over the measured (batch,
    /// context) grid, the smallest measured value below an axis, linear above it up to
    /// 4×. `None` without such rows, above the largest measured head count, beyond 4× the
    /// measured range or where the grid has a hole (the caller falls back to the
    /// roofline). Block size does not enter.
    pub fn mla_decode_seconds(
        &self,
        batch: u32,
        context: u32,
        heads: u32,
        kv_lora_rank: u32,
        rope_dim: u32,
        kv_dtype: Dtype,
    ) -> Option<f64> {
        if batch == 0 || context == 0 {
            return Some(0.0);
        }
        let (_, grid) = self
            .index
            .mla_decode
            .iter()
            .filter(|(k, _)| (k.0, k.1, k.2) == (kv_lora_rank, rope_dim, kv_dtype) && k.3 >= heads)
            .min_by_key(|(k, _)| k.3)?;
        grid.eval(f64::from(batch), f64::from(context))
    }

    /// Head counts with MLA decode rows for these latent widths and cache format.
    pub fn mla_decode_heads(&self, kv_lora_rank: u32, rope_dim: u32, kv_dtype: Dtype) -> Vec<u32> {
        self.index
            .mla_decode
            .iter()
            .filter(|(k, _)| (k.0, k.1, k.2) == (kv_lora_rank, rope_dim, kv_dtype))
            .map(|(k, _)| k.3)
            .collect()
    }

    /// Seconds of one all-reduce of `bytes` per GPU across `gpus` GPUs: log-log in bytes,
    /// the smallest message's time below the grid, linear above up to 4×; `None` when
    /// `gpus` was not measured. One GPU costs nothing.
    pub fn allreduce_seconds(&self, gpus: u32, bytes: u64) -> Option<f64> {
        if gpus <= 1 || bytes == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .allreduce
            .binary_search_by(|(g, _)| g.cmp(&gpus))
            .ok()?;
        self.index.allreduce[i]
            .1
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)
    }

    /// GPU counts with all-reduce rows.
    pub fn allreduce_gpus(&self) -> Vec<u32> {
        self.index.allreduce.iter().map(|(g, _)| *g).collect()
    }

    /// Effective GB/s of a GPU-to-GPU copy of `bytes` (bytes / interpolated seconds).
    pub fn p2p_gb_s(&self, bytes: u64) -> Option<f64> {
        if bytes == 0 {
            return None;
        }
        let s = self
            .index
            .p2p
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)?;
        Some(bytes as f64 / s / 1e9)
    }

    /// Seconds of a pinned host copy of `bytes` in `direction`.
    pub fn host_copy_seconds(&self, direction: HostCopyDirection, bytes: u64) -> Option<f64> {
        if bytes == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .host
            .binary_search_by(|(d, _)| d.cmp(&direction))
            .ok()?;
        self.index.host[i]
            .1
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)
    }

    /// Seconds of memory-bound op `op` (`rmsnorm`, `silu_mul`, `rotary`, `copy`) moving
    /// `bytes` (read + written).
    pub fn memory_bound_seconds(&self, op: &str, bytes: u64) -> Option<f64> {
        if bytes == 0 {
            return Some(0.0);
        }
        let i = self
            .index
            .memory
            .binary_search_by(|(o, _)| o.as_str().cmp(op))
            .ok()?;
        self.index.memory[i]
            .1
            .eval(bytes as f64, Ends::FloorBelowLinearAbove)
    }

    /// Measured device-to-device copy bandwidth, GB/s (read + write bytes).
    pub fn hbm_bandwidth_gb_s(&self) -> Option<f64> {
        self.data.hbm_bandwidth_gb_s
    }

    /// Measured gap between kernels replayed in a CUDA graph, seconds.
    pub fn launch_gap_s(&self) -> Option<f64> {
        self.data.launch_gap_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ProfileHeader {
        ProfileHeader {
            gpu_name: "Test GPU".into(),
            gpu_id: "test".into(),
            memory_bytes: 80 << 30,
            sm_count: 132,
            compute_capability: "9.0".into(),
            sm_clock_mhz: 1980,
            memory_clock_mhz: 2619,
            gpu_count: 1,
            driver_version: "13000".into(),
            cuda_version: "13.0".into(),
            date_utc: "2026-11-21T00:00:00Z".into(),
            tool_version: "0.1.0".into(),
            command_line: "xpyd-calibrate run".into(),
            notes: vec![],
        }
    }

    fn gemm(m: u64, seconds: f64) -> GemmRow {
        GemmRow {
            m,
            n: 4096,
            k: 4096,
            dtype: Dtype::Bf16,
            seconds,
            tflops: 2.0 * (m * 4096 * 4096) as f64 / seconds / 1e12,
            label: "o".into(),
        }
    }

    fn data() -> ProfileData {
        ProfileData {
            format_version: FORMAT_VERSION,
            header: header(),
            gemm: vec![
                gemm(1, 10e-6),
                gemm(16, 11e-6),
                gemm(256, 40e-6),
                gemm(4096, 400e-6),
            ],
            attention_prefill: vec![],
            attention_decode: vec![],
            memory_bound: vec![],
            hbm_bandwidth_gb_s: Some(3000.0),
            launch_gap_s: Some(2e-6),
            allreduce: vec![
                AllreduceRow {
                    gpus: 2,
                    bytes: 1024,
                    seconds: 8e-6,
                    bus_gb_s: 0.1,
                    algorithm: "nccl".into(),
                },
                AllreduceRow {
                    gpus: 2,
                    bytes: 1 << 20,
                    seconds: 20e-6,
                    bus_gb_s: 50.0,
                    algorithm: "nccl".into(),
                },
            ],
            p2p_copy: vec![],
            host_copy: vec![],
            moe_experts: vec![],
            gemm_sustained: vec![],
            attention_decode_mla: vec![],
            attention_sustained: vec![],
        }
    }

    #[test]
    fn gemm_exact_at_grid_points_and_monotone_between() {
        let p = Profile::new(data(), "test").unwrap();
        for r in &p.data().gemm {
            assert_eq!(
                p.gemm_seconds(r.m, 4096, 4096, Dtype::Bf16),
                Some(r.seconds)
            );
        }
        let mut last = 0.0;
        for m in 1..=4096 {
            let s = p.gemm_seconds(m, 4096, 4096, Dtype::Bf16).unwrap();
            assert!(s >= last, "m={m}: {s} < {last}");
            last = s;
        }
        assert_eq!(p.gemm_seconds(8192, 4096, 4096, Dtype::Bf16), Some(800e-6));
        assert_eq!(p.gemm_seconds(4 * 4096 + 1, 4096, 4096, Dtype::Bf16), None);
        assert_eq!(p.gemm_seconds(16, 4096, 4096, Dtype::Fp8), None);
        assert_eq!(p.gemm_seconds(16, 4096, 1024, Dtype::Bf16), None);
        assert_eq!(p.gemm_seconds(0, 4096, 4096, Dtype::Bf16), Some(0.0));
    }

    fn decode_row(batch: u32, context: u32, seconds: f64) -> DecodeAttentionRow {
        DecodeAttentionRow {
            batch,
            context,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            block_size: 16,
            kv_dtype: Dtype::Bf16,
            seconds,
            gb_s: 0.0,
            kernel: "k".into(),
        }
    }

    #[test]
    fn decode_grid_exact_monotone_and_bounded() {
        let mut d = data();
        for (b, c, s) in [
            (1, 128, 10e-6),
            (1, 4096, 20e-6),
            (64, 128, 30e-6),
            (64, 4096, 400e-6),
        ] {
            d.attention_decode.push(decode_row(b, c, s));
        }
        let p = Profile::new(d, "t").unwrap();
        let f = |b, c| p.decode_attention_seconds(b, c, 32, 8, 128, Dtype::Bf16);
        assert_eq!(f(64, 4096), Some(400e-6));
        assert_eq!(f(1, 128), Some(10e-6));
        let mut last = 0.0;
        for c in (128..=4096).step_by(128) {
            let s = f(16, c).unwrap();
            assert!(s >= last && s <= 400e-6, "{c}: {s}");
            last = s;
        }
        // Below the grid: floor; above: linear up to 4x, then None.
        assert_eq!(f(1, 16), Some(10e-6));
        assert_eq!(f(128, 4096), Some(800e-6));
        assert_eq!(f(64, 4 * 4096 + 1), None);
        // Another group or dtype: nothing measured for fp8.
        assert_eq!(
            p.decode_attention_seconds(1, 128, 32, 8, 128, Dtype::Fp8),
            None
        );
        assert_eq!(
            p.decode_attention_seconds(1, 128, 8, 8, 128, Dtype::Bf16),
            Some(10e-6)
        );
    }

    #[test]
    fn prefill_rate_interpolation_is_exact_and_monotone() {
        let mut d = data();
        for (n, s) in [(1024u32, 50e-6), (4096, 500e-6), (16384, 6e-3)] {
            d.attention_prefill.push(PrefillAttentionRow {
                batch: 1,
                new_tokens: n,
                context: 0,
                heads: 32,
                kv_heads: 8,
                head_dim: 128,
                seconds: s,
                tflops: 0.0,
                kernel: "k".into(),
                v_head_dim: None,
            });
        }
        let p = Profile::new(d, "t").unwrap();
        assert_eq!(p.default_prefill_kernel(), Some("k"));
        let f = |n| p.prefill_attention_seconds(1, n, 0, 32, 8, 128).unwrap();
        assert!((f(4096) / 500e-6 - 1.0).abs() < 1e-12);
        let mut last = 0.0;
        for n in (1024..=16384).step_by(256) {
            assert!(f(n) >= last);
            last = f(n);
        }
        assert_eq!(f(16), 50e-6, "launch floor below the grid");
    }

    #[test]
    fn allreduce_floor_and_linear_above() {
        let p = Profile::new(data(), "test").unwrap();
        assert_eq!(p.allreduce_seconds(2, 1024), Some(8e-6));
        assert_eq!(p.allreduce_seconds(2, 16), Some(8e-6));
        assert_eq!(p.allreduce_seconds(2, 2 << 20), Some(40e-6));
        assert_eq!(p.allreduce_seconds(4, 1024), None);
        assert_eq!(p.allreduce_seconds(1, 1024), Some(0.0));
        let mid = p.allreduce_seconds(2, 32 << 10).unwrap();
        assert!(mid > 8e-6 && mid < 20e-6);
    }

    #[test]
    fn version_and_invalid_values_are_rejected() {
        let mut d = data();
        d.format_version = 3;
        let e = Profile::new(d, "x.json").unwrap_err();
        assert!(e.to_string().contains("format_version: 3"), "{e}");
        // Version 1 (no MoE, sustained or MLA fields) still loads.
        let mut d = data();
        d.format_version = 1;
        assert!(Profile::new(d, "v1.json").is_ok());
        let mut d = data();
        d.moe_experts.push(MoeExpertsRow {
            hidden: 64,
            inter: 32,
            experts: 4,
            top_k: 8,
            dtype: Dtype::Bf16,
            tokens: 1,
            touched: 4,
            seconds: 1e-5,
            tflops: 0.0,
            kernel: "k".into(),
            label: String::new(),
        });
        let e = Profile::new(d, "x.json").unwrap_err().to_string();
        assert!(e.contains("moe_experts[0].top_k"), "{e}");
        let mut d = data();
        d.gemm[2].seconds = -1.0;
        let e = Profile::new(d, "x.json").unwrap_err().to_string();
        assert!(e.contains("x.json: gemm[2].seconds"), "{e}");
    }

    #[test]
    fn version_1_text_loads_and_rewrites_as_version_2() {
        let mut d = data();
        d.format_version = 1;
        let text = serde_json::to_string(&d).unwrap();
        // A version 1 file has no moe_experts / gemm_sustained keys at all.
        let text = text
            .replace(",\"moe_experts\":[]", "")
            .replace(",\"gemm_sustained\":[]", "");
        assert!(!text.contains("moe_experts"));
        let p = Profile::from_json_str(&text, "v1.json").unwrap();
        assert!(p.data().moe_experts.is_empty() && p.data().gemm_sustained.is_empty());
        assert_eq!(p.data().format_version, 1);
        // An MLA prefill row round-trips and stays out of the plain lookups.
        let mut d = data();
        d.attention_prefill.push(PrefillAttentionRow {
            batch: 1,
            new_tokens: 1024,
            context: 0,
            heads: 16,
            kv_heads: 16,
            head_dim: 192,
            seconds: 1e-4,
            tflops: 1e9,
            kernel: "mla".into(),
            v_head_dim: Some(128),
        });
        let p = Profile::new(d, "t").unwrap();
        assert_ne!(p.default_prefill_kernel(), Some("mla"));
        assert_eq!(
            p.prefill_attention_seconds_with("mla", 1, 1024, 0, 16, 16, 192),
            None
        );
        let row = p.data().attention_prefill.last().unwrap();
        assert_eq!(row.flops(), 2.0 * 16.0 * 320.0 * 1024.0 * 1025.0 / 2.0);
        let back = Profile::from_json_str(&p.to_json_pretty(), "t").unwrap();
        assert_eq!(back.data(), p.data());
    }

    fn mla_row(batch: u32, context: u32, heads: u32, seconds: f64) -> MlaDecodeRow {
        MlaDecodeRow {
            batch,
            context,
            heads,
            kv_lora_rank: 512,
            rope_dim: 64,
            block_size: 16,
            kv_dtype: Dtype::Bf16,
            seconds,
            gb_s: mla_decode_kv_bytes(batch, context, 512, 64, Dtype::Bf16) / seconds / 1e9,
            kernel: "xpyd-nvrtc-mla".into(),
        }
    }

    #[test]
    fn mla_decode_grid_exact_monotone_and_bounded() {
        let t = |h: u32, b: u32, c: u32| {
            let f = if h == 16 { 1.0 } else { 3.0 };
            f * (5e-6 + 1e-10 * f64::from(b) * f64::from(c))
        };
        let mut d = data();
        for h in [16u32, 128] {
            for b in [1u32, 8, 64] {
                for c in [128u32, 1024, 8192] {
                    // A hole in the 16-head grid at its largest corner.
                    if (h, b, c) != (16, 64, 8192) {
                        d.attention_decode_mla.push(mla_row(b, c, h, t(h, b, c)));
                    }
                }
            }
        }
        let p = Profile::new(d, "t").unwrap();
        let look = |b, c, h| p.mla_decode_seconds(b, c, h, 512, 64, Dtype::Bf16);
        assert_eq!(p.mla_decode_heads(512, 64, Dtype::Bf16), vec![16, 128]);
        // Exact at grid points; the nearest measured head count at or above.
        assert_eq!(look(8, 1024, 16), Some(t(16, 8, 1024)));
        assert_eq!(look(8, 1024, 12), Some(t(16, 8, 1024)));
        assert_eq!(look(8, 1024, 32), Some(t(128, 8, 1024)));
        assert_eq!(look(64, 8192, 128), Some(t(128, 64, 8192)));
        assert_eq!(look(8, 1024, 256), None);
        // Monotone between grid points, within the bracketing values.
        let mut last = look(8, 1024, 16).unwrap();
        for c in (1024..=8192).step_by(512) {
            let v = look(8, c, 16).unwrap();
            assert!(v >= last && v <= t(16, 8, 8192), "{c}: {v}");
            last = v;
        }
        let mid = look(3, 300, 16).unwrap();
        assert!(mid > t(16, 1, 128) && mid < t(16, 8, 1024));
        // Below the grid: the smallest value; above: linear up to 4x, then None.
        assert_eq!(look(1, 16, 16), Some(t(16, 1, 128)));
        assert_eq!(look(8, 16384, 128), Some(2.0 * t(128, 8, 8192)));
        assert_eq!(look(8, 4 * 8192 + 1, 128), None);
        // The hole, and cells that need it, are not guessed.
        assert_eq!(look(64, 8192, 16), None);
        assert_eq!(look(32, 4096, 16), None);
        assert!(look(32, 4096, 128).is_some());
        // Other widths or cache formats are not measured.
        assert_eq!(p.mla_decode_seconds(8, 1024, 16, 512, 64, Dtype::Fp8), None);
        assert_eq!(
            p.mla_decode_seconds(8, 1024, 16, 256, 64, Dtype::Bf16),
            None
        );
        assert_eq!(look(0, 1024, 16), Some(0.0));
        // Round trip through JSON; a bad row is rejected with its field.
        let back = Profile::from_json_str(&p.to_json_pretty(), "t").unwrap();
        let key = |d: &ProfileData| -> Vec<(u32, u32, u32, f64)> {
            d.attention_decode_mla
                .iter()
                .map(|r| (r.batch, r.context, r.heads, r.seconds))
                .collect()
        };
        assert_eq!(key(back.data()), key(p.data()));
        let mut bad = p.data().clone();
        bad.attention_decode_mla[2].seconds = 0.0;
        let e = Profile::new(bad, "t").unwrap_err().to_string();
        assert!(e.contains("attention_decode_mla[2].seconds"), "{e}");
    }

    #[test]
    fn profiles_without_mla_decode_rows_load_and_omit_the_table() {
        // Files written before the table existed have no key; writing keeps it out.
        let text = Profile::new(data(), "t").unwrap().to_json_pretty();
        assert!(!text.contains("attention_decode_mla"));
        assert!(!text.contains("attention_sustained"));
        let p = Profile::from_json_str(&text, "old.json").unwrap();
        assert!(p.data().attention_decode_mla.is_empty());
        assert_eq!(
            p.mla_decode_seconds(8, 1024, 16, 512, 64, Dtype::Bf16),
            None
        );
        assert!(p.mla_decode_heads(512, 64, Dtype::Bf16).is_empty());
    }

    #[test]
    fn parse_errors_name_file_and_field() {
        let p = Profile::new(data(), "t").unwrap();
        let text = p.to_json_pretty();
        let back = Profile::from_json_str(&text, "t").unwrap();
        assert_eq!(back, p);
        let broken = text.replacen("\"dtype\": \"bf16\"", "\"dtype\": \"int4\"", 1);
        let e = Profile::from_json_str(&broken, "h.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.json: gemm[0].dtype:"), "{e}");
        let e = Profile::load(Path::new("/nonexistent/p.json")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/p.json:"), "{e}");
    }
}
