//! The on-disk profile format: [`ProfileData`] and its row types, the format versions
//! this build writes and reads, the work (FLOPs, bytes) a row is rated by, and the
//! validation a loaded file must pass.
//!
//! Invariants: every table rejects unknown fields, and the tables added after version 1
//! default to empty, so a version 1 file loads unchanged. Validation rejects a
//! non-positive or non-finite time, a zero shape and an impossible one (an all-reduce on
//! fewer than 2 GPUs, top-k above the experts) with [`ProfileError::Invalid`], naming the
//! file and the JSON path of the field (`gemm[3].seconds`).

use super::Profile;
use crate::{Dtype, ExpertDtype};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The profile format this code writes.
pub const FORMAT_VERSION: u32 = 2;

/// The profile formats this code reads (older versions are subsets of the newest).
pub const READABLE_VERSIONS: [u32; 2] = [1, 2];

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
    /// Weight (and activation) format; `mxfp4`: MXFP4 weights, bf16 activations.
    pub dtype: ExpertDtype,
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

fn invalid(origin: &str, field: String, message: &str) -> ProfileError {
    ProfileError::Invalid {
        origin: origin.to_string(),
        field,
        message: message.to_string(),
    }
}

/// Range of every measured time of a profile, seconds (one kernel, one copy, a launch
/// gap): from a picosecond to 1000 s, so that no cost derived from it is 0, infinite or
/// NaN.
pub(super) const PROFILE_SECONDS_RANGE: (f64, f64) = (1e-12, 1e3);

/// Range of a profile's ratios (`gemm_sustained[].ratio`) and of its HBM bandwidth, GB/s.
pub(super) const PROFILE_RATIO_RANGE: (f64, f64) = (1e-6, 1e6);

fn check_in(
    origin: &str,
    field: String,
    x: f64,
    (lo, hi): (f64, f64),
    unit: &str,
) -> Result<(), ProfileError> {
    if x.is_finite() && x >= lo && x <= hi {
        Ok(())
    } else {
        Err(invalid(
            origin,
            field,
            &format!("{x:?} must be in [{lo:?}, {hi:?}]{unit}"),
        ))
    }
}

fn check_time(origin: &str, field: String, seconds: f64) -> Result<(), ProfileError> {
    check_in(origin, field, seconds, PROFILE_SECONDS_RANGE, " seconds")
}

fn check_positive(origin: &str, field: String, v: u64) -> Result<(), ProfileError> {
    if v > 0 {
        Ok(())
    } else {
        Err(invalid(origin, field, "must be positive"))
    }
}

impl Profile {
    pub(super) fn validate(d: &ProfileData, o: &str) -> Result<(), ProfileError> {
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
            check_in(o, f("ratio"), r.ratio, PROFILE_RATIO_RANGE, "")?;
        }
        if let Some(v) = d.hbm_bandwidth_gb_s {
            check_in(
                o,
                "hbm_bandwidth_gb_s".into(),
                v,
                PROFILE_RATIO_RANGE,
                " GB/s",
            )?;
        }
        if let Some(v) = d.launch_gap_s {
            check_time(o, "launch_gap_s".into(), v)?;
        }
        Ok(())
    }
}
