//! Merging measurements into a profile: whole tables or rows of another profile (e.g.
//! the NCCL and peer-copy tables of a 2-GPU run into the 1-GPU profile of the same GPU
//! model), and the JSON written by the PyTorch scripts (`scripts/sdpa_bench.py`,
//! `mla_bench.py`, `moe_bench.py`, `sustained_bench.py`); and writing a profile.
//!
//! Invariants: a merge returns new [`ProfileData`] and leaves its inputs alone; it
//! refuses measurements of another GPU (by `gpu_name`); every merge appends the command
//! line it is given to the header's and records what it merged in the notes, replacing
//! the notes of an earlier merge of the same tables; [`write_profile`] writes only a
//! profile that [`Profile::new`] accepts, through a temporary file renamed over the
//! target, so an interrupted write never leaves a half-written profile.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use xpyd_models::profile::{
    AttentionSustainedRow, DecodeAttentionRow, FORMAT_VERSION, GemmRow, GemmSustainedRow,
    MlaDecodeRow, MoeExpertsRow, PrefillAttentionRow, Profile, ProfileData, ProfileError,
    moe_experts_flops,
};
use xpyd_models::{Dtype, ExpertDtype};

/// Why a merge (or writing its result) failed. Every variant is fatal: nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A profile is invalid (loading the inputs, or the merged result).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A script's JSON output does not have the expected fields.
    #[error("{path}: {field}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Path of the offending field (`rows[3].seconds`).
        field: String,
        /// The parser's message.
        message: String,
    },
    /// The measurements come from another GPU model than the profile's.
    #[error("{path}: measured on `{measured}` but the profile is for `{profile}`")]
    OtherGpu {
        /// The file of the measurements.
        path: PathBuf,
        /// Its GPU name.
        measured: String,
        /// The profile's GPU name.
        profile: String,
    },
    /// A script's row names a dtype its table does not have.
    #[error("{path}: {field}: unknown dtype `{dtype}` (allowed: {allowed})")]
    UnknownDtype {
        /// The file.
        path: PathBuf,
        /// JSON path of the field (`experts[3].dtype`).
        field: String,
        /// The value.
        dtype: String,
        /// The values the field takes.
        allowed: &'static str,
    },
    /// A row-by-row merge of tables other than `gemm` (alone) or `attention_decode` and
    /// `attention_decode_mla`.
    #[error(
        "merge --rows: only gemm (alone), attention_decode and attention_decode_mla merge row by row"
    )]
    RowsUnsupported,
    /// A table name that is not a profile table.
    #[error("merge: unknown table `{0}`")]
    UnknownTable(String),
    /// A row-by-row merge of a decode table from a profile without rows in it.
    #[error("merge --rows: {path} has no {table} rows")]
    NoRows {
        /// The profile merged from.
        path: PathBuf,
        /// The table.
        table: String,
    },
    /// A `sustained_bench.py` file with both GEMM stacks and attention sequences.
    #[error("{path}: merge GEMM stacks and attention sequences from separate runs")]
    MixedSustained {
        /// The file.
        path: PathBuf,
    },
}

type Result<T, E = MergeError> = std::result::Result<T, E>;

/// Write `profile` to `path` atomically (temp file in the same directory, then rename).
pub fn write_profile(path: &Path, data: &ProfileData) -> Result<()> {
    let p = Profile::new(data.clone(), &path.display().to_string())?;
    let text = p.to_json_pretty() + "\n";
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile.json".into());
    let tmp = match dir {
        Some(d) => d.join(format!(".{name}.tmp-{}", std::process::id())),
        None => PathBuf::from(format!(".{name}.tmp-{}", std::process::id())),
    };
    let io = |source| MergeError::Io {
        path: tmp.clone(),
        source,
    };
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|source| MergeError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// What [`merge`] copies from the other profile.
#[derive(Clone, Debug)]
pub struct Tables {
    /// Table names: allreduce, p2p_copy, host_copy, gemm, attention_prefill,
    /// attention_decode, attention_decode_mla, memory_bound.
    pub names: Vec<String>,
    /// Row by row: rows of the other profile replace the base's rows of the same key
    /// (GEMM: m, n, k, dtype; decode: batch, context, heads, KV heads, head dim, KV dtype;
    /// MLA decode: batch, context, heads, widths, KV dtype) and the base's other rows stay;
    /// `gemm` alone, or `attention_decode` and/or `attention_decode_mla`.
    pub rows: bool,
}

/// `base` with the `tables` of `from` (the profile at `from_path`) copied in;
/// `command_line` is appended to the header's.
pub fn merge(
    base: &ProfileData,
    from: &ProfileData,
    from_path: &Path,
    tables: &Tables,
    command_line: &str,
) -> Result<ProfileData> {
    let mut d = base.clone();
    let f = from;
    let decode_table = |t: &String| t == "attention_decode" || t == "attention_decode_mla";
    if tables.rows && !tables.names.is_empty() && tables.names.iter().all(decode_table) {
        return merge_decode_rows(d, f, from_path, &tables.names, command_line);
    }
    if tables.rows {
        if tables.names != ["gemm"] {
            return Err(MergeError::RowsUnsupported);
        }
        let key = |g: &GemmRow| (g.m, g.n, g.k, g.dtype);
        let incoming: Vec<_> = f.gemm.iter().map(key).collect();
        // A re-measured shape keeps the models it was measured for in its label (rows
        // from a PyTorch script, labelled `(torch)`, are simply replaced).
        let mut rows = f.gemm.clone();
        for r in &mut rows {
            if let Some(old) = d
                .gemm
                .iter()
                .find(|g| key(g) == key(r) && !g.label.ends_with("(torch)") && g.label != r.label)
            {
                r.label = format!("{};{}", old.label, r.label);
            }
        }
        d.gemm.retain(|g| !incoming.contains(&key(g)));
        d.gemm.extend(rows);
        d.format_version = FORMAT_VERSION;
        d.header.command_line = format!("{}; {command_line}", d.header.command_line);
        d.header.notes.push(format!(
            "{} gemm rows merged from a run on {} ({}, {})",
            f.gemm.len(),
            f.header.gpu_name,
            f.header.date_utc,
            f.header.command_line
        ));
        return Ok(d);
    }
    for t in &tables.names {
        match t.as_str() {
            "allreduce" => d.allreduce = f.allreduce.clone(),
            "p2p_copy" => d.p2p_copy = f.p2p_copy.clone(),
            "host_copy" => d.host_copy = f.host_copy.clone(),
            "gemm" => d.gemm = f.gemm.clone(),
            "attention_prefill" => d.attention_prefill = f.attention_prefill.clone(),
            "attention_decode" => d.attention_decode = f.attention_decode.clone(),
            "attention_decode_mla" => d.attention_decode_mla = f.attention_decode_mla.clone(),
            "memory_bound" => d.memory_bound = f.memory_bound.clone(),
            other => return Err(MergeError::UnknownTable(other.to_string())),
        }
    }
    d.header.gpu_count = d.header.gpu_count.max(f.header.gpu_count);
    if !d.allreduce.is_empty() || !d.p2p_copy.is_empty() {
        // The base's "one GPU" note no longer holds.
        d.header.notes.retain(|n| !n.starts_with("one GPU:"));
    }
    d.header.command_line = format!("{}; {command_line}", d.header.command_line);
    // A later merge of the same tables supersedes the earlier one and its notes.
    let tag = format!("tables {} ", tables.names.join(","));
    let imported = format!("[{}] ", tables.names.join(","));
    d.header
        .notes
        .retain(|n| !n.starts_with(&tag) && !n.starts_with(&imported));
    d.header.notes.push(format!(
        "tables {} merged from a run on {} x{} ({}, {})",
        tables.names.join(","),
        f.header.gpu_name,
        f.header.gpu_count,
        f.header.date_utc,
        f.header.command_line
    ));
    for n in &f.header.notes {
        if !n.starts_with("run took") && !n.starts_with("one GPU:") && !d.header.notes.contains(n) {
            d.header.notes.push(format!("{imported}{n}"));
        }
    }
    Ok(d)
}

/// Notes that record a row-by-row merge of `table` rows of `kv` cache format (the bf16
/// form predates fp8 rows and is kept), and the kernel check notes of those rows.
fn decode_note_prefixes(table: &str, kv: Dtype) -> (String, &'static str) {
    let merged = match kv {
        Dtype::Bf16 => format!("{table} rows merged"),
        other => format!("{table} {} rows merged", other.name()),
    };
    let check = match (table, kv) {
        ("attention_decode", Dtype::Bf16) => "decode kernel",
        ("attention_decode", _) => "FP8-KV decode kernel",
        (_, Dtype::Bf16) => "MLA decode kernel",
        (_, _) => "FP8-KV MLA decode kernel",
    };
    (merged, check)
}

/// `merge --rows --tables attention_decode,attention_decode_mla` (either or both): rows of
/// `--from` replace the base's rows of the same key (shape and KV cache format); every
/// other row of every table stays. Per table and cache format merged, the notes of an
/// earlier merge of the same rows are replaced and the kernel's check note of `--from` is
/// carried over, so merging fp8-KV rows keeps the bf16 rows' provenance.
fn merge_decode_rows(
    mut d: ProfileData,
    f: &ProfileData,
    from_path: &Path,
    names: &[String],
    command_line: &str,
) -> Result<ProfileData> {
    same_gpu(from_path, &f.header.gpu_name, &d)?;
    let mut dtypes: Vec<(&str, Vec<Dtype>, usize)> = Vec::new();
    for t in names {
        let (kvs, n): (Vec<Dtype>, usize) = if t == "attention_decode" {
            let key = |r: &DecodeAttentionRow| {
                (
                    r.batch, r.context, r.heads, r.kv_heads, r.head_dim, r.kv_dtype,
                )
            };
            let incoming: Vec<_> = f.attention_decode.iter().map(key).collect();
            d.attention_decode.retain(|r| !incoming.contains(&key(r)));
            d.attention_decode
                .extend(f.attention_decode.iter().cloned());
            (
                f.attention_decode.iter().map(|r| r.kv_dtype).collect(),
                incoming.len(),
            )
        } else {
            let key = |r: &MlaDecodeRow| {
                (
                    r.batch,
                    r.context,
                    r.heads,
                    r.kv_lora_rank,
                    r.rope_dim,
                    r.kv_dtype,
                )
            };
            let incoming: Vec<_> = f.attention_decode_mla.iter().map(key).collect();
            d.attention_decode_mla
                .retain(|r| !incoming.contains(&key(r)));
            d.attention_decode_mla
                .extend(f.attention_decode_mla.iter().cloned());
            (
                f.attention_decode_mla.iter().map(|r| r.kv_dtype).collect(),
                incoming.len(),
            )
        };
        if n == 0 {
            return Err(MergeError::NoRows {
                path: from_path.to_path_buf(),
                table: t.clone(),
            });
        }
        let mut kvs = kvs;
        kvs.sort_by_key(|k| k.name());
        kvs.dedup();
        dtypes.push((t.as_str(), kvs, n));
    }
    d.format_version = FORMAT_VERSION;
    d.header.command_line = format!("{}; {command_line}", d.header.command_line);
    for (table, kvs, n) in dtypes {
        for &kv in &kvs {
            let (merged, check) = decode_note_prefixes(table, kv);
            d.header
                .notes
                .retain(|x| !x.starts_with(&merged) && !x.starts_with(check));
        }
        let (merged, _) = decode_note_prefixes(table, kvs[0]);
        let merged = if kvs.len() == 1 {
            merged
        } else {
            format!("{table} rows merged")
        };
        d.header.notes.push(format!(
            "{merged} from a run on {} ({}, {}): {n} rows",
            f.header.gpu_name, f.header.date_utc, f.header.command_line
        ));
        for &kv in &kvs {
            let (_, check) = decode_note_prefixes(table, kv);
            for x in f.header.notes.iter().filter(|x| x.starts_with(check)) {
                d.header.notes.push(x.clone());
            }
        }
    }
    Ok(d)
}

/// One row of `sdpa_bench.py` output.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SdpaRow {
    batch: u32,
    new_tokens: u32,
    context: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    seconds: f64,
    kernel: String,
    #[serde(default)]
    v_head_dim: Option<u32>,
}

/// `sdpa_bench.py` / `mla_bench.py` output.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SdpaFile {
    gpu_name: String,
    torch_version: String,
    rows: Vec<SdpaRow>,
    /// Correctness checks (mla_bench.py), recorded in the notes.
    #[serde(default)]
    checks: serde_json::Map<String, serde_json::Value>,
    /// Absorbed-form MLA decode reference timings (mla_bench.py): kept in the script's
    /// output, not in profiles.
    #[serde(default)]
    mla_decode: Vec<serde_json::Value>,
}

/// Read a script's JSON output as `T`, naming the file and field in errors.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| MergeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| MergeError::Json {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Refuse to merge measurements of one GPU into another's profile.
fn same_gpu(path: &Path, measured: &str, d: &ProfileData) -> Result<()> {
    if measured == d.header.gpu_name {
        Ok(())
    } else {
        Err(MergeError::OtherGpu {
            path: path.to_path_buf(),
            measured: measured.to_string(),
            profile: d.header.gpu_name.clone(),
        })
    }
}

fn parse_dtype(path: &Path, field: String, s: &str) -> Result<Dtype> {
    match s {
        "bf16" => Ok(Dtype::Bf16),
        "fp8" => Ok(Dtype::Fp8),
        other => Err(unknown_dtype(path, field, other, "bf16, fp8")),
    }
}

/// A grouped-experts row's format: the GEMM formats and `mxfp4` (MXFP4 weights).
fn parse_expert_dtype(path: &Path, field: String, s: &str) -> Result<ExpertDtype> {
    match s {
        "bf16" => Ok(ExpertDtype::Bf16),
        "fp8" => Ok(ExpertDtype::Fp8),
        "mxfp4" => Ok(ExpertDtype::Mxfp4),
        other => Err(unknown_dtype(path, field, other, "bf16, fp8, mxfp4")),
    }
}

fn unknown_dtype(path: &Path, field: String, dtype: &str, allowed: &'static str) -> MergeError {
    MergeError::UnknownDtype {
        path: path.to_path_buf(),
        field,
        dtype: dtype.to_string(),
        allowed,
    }
}

/// One grouped-experts row of `moe_bench.py`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MoeBenchExperts {
    hidden: u64,
    inter: u64,
    experts: u32,
    top_k: u32,
    dtype: String,
    tokens: u64,
    touched: u32,
    seconds: f64,
    kernel: String,
    label: String,
}

/// One plain GEMM row of `moe_bench.py` (router, shared experts).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MoeBenchGemm {
    m: u64,
    n: u64,
    k: u64,
    dtype: String,
    seconds: f64,
    label: String,
}

/// `moe_bench.py` output.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MoeBenchFile {
    gpu_name: String,
    torch_version: String,
    checks: serde_json::Map<String, serde_json::Value>,
    notes: Vec<String>,
    experts: Vec<MoeBenchExperts>,
    gemm: Vec<MoeBenchGemm>,
}

/// The kernel family of a `moe_experts` row: its kernel label up to the first space
/// (`xpyd-triton-fused-moe 16x128x128x1x4x3` is of `xpyd-triton-fused-moe`).
fn kernel_family(kernel: &str) -> &str {
    kernel.split(' ').next().unwrap_or(kernel)
}

/// `base` with the output at `input` of `scripts/moe_bench.py` (torch grouped GEMMs) or
/// `scripts/moe_triton_bench.py` (our Triton fused-MoE kernel) folded in: the
/// `moe_experts` rows of the kernel families and shapes (hidden, inter, experts, top-k,
/// dtype) in the file replaced, other kernels' and other shapes' rows kept (a run of one
/// model adds to an earlier run of others) (the cost model takes the fastest row at each token count, as an engine's tuned
/// kernel choice does); router and shared-expert GEMM rows added where the profile
/// lacks their `(m, n, k, dtype)` (cuBLASLt rows already there are kept).
pub fn merge_moe(base: &ProfileData, input: &Path, command_line: &str) -> Result<ProfileData> {
    let file: MoeBenchFile = read_json(input)?;
    let mut d = base.clone();
    same_gpu(input, &file.gpu_name, &d)?;
    d.format_version = FORMAT_VERSION;
    let families: BTreeSet<&str> = file
        .experts
        .iter()
        .map(|r| kernel_family(&r.kernel))
        .collect();
    // The models measured (labels `model/tpN`), naming the merge's notes.
    let models: BTreeSet<&str> = file
        .experts
        .iter()
        .map(|r| r.label.split('/').next().unwrap_or(&r.label))
        .collect();
    let shapes: BTreeSet<(&str, u64, u64, u32, u32, &str)> = file
        .experts
        .iter()
        .map(|r| {
            let f = kernel_family(&r.kernel);
            (f, r.hidden, r.inter, r.experts, r.top_k, r.dtype.as_str())
        })
        .collect();
    d.moe_experts.retain(|r| {
        let key = (
            kernel_family(&r.kernel),
            r.hidden,
            r.inter,
            r.experts,
            r.top_k,
            r.dtype.name(),
        );
        !shapes.contains(&key)
    });
    let new_rows = file
        .experts
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(MoeExpertsRow {
                hidden: r.hidden,
                inter: r.inter,
                experts: r.experts,
                top_k: r.top_k,
                dtype: parse_expert_dtype(input, format!("experts[{i}].dtype"), &r.dtype)?,
                tokens: r.tokens,
                touched: r.touched,
                seconds: r.seconds,
                tflops: moe_experts_flops(r.tokens, r.top_k, r.hidden, r.inter) / r.seconds / 1e12,
                kernel: r.kernel.clone(),
                label: r.label.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    d.moe_experts.extend(new_rows);
    let (mut added, mut kept) = (0, 0);
    // Rows are appended in the script's order (model, TP, layer, dtype, m), after the
    // rows already there, so a merge leaves existing rows where they were.
    for (i, r) in file.gemm.iter().enumerate() {
        let dtype = parse_dtype(input, format!("gemm[{i}].dtype"), &r.dtype)?;
        // An earlier merge of the same script's row is replaced; a cuBLASLt row is kept.
        d.gemm.retain(|g| {
            !((g.m, g.n, g.k, g.dtype) == (r.m, r.n, r.k, dtype) && g.label.ends_with("(torch)"))
        });
        let still = d
            .gemm
            .iter()
            .any(|g| (g.m, g.n, g.k, g.dtype) == (r.m, r.n, r.k, dtype));
        if still {
            kept += 1;
            continue;
        }
        added += 1;
        d.gemm.push(GemmRow {
            m: r.m,
            n: r.n,
            k: r.k,
            dtype,
            seconds: r.seconds,
            tflops: 2.0 * (r.m * r.n * r.k) as f64 / r.seconds / 1e12,
            label: r.label.clone(),
        });
    }
    d.header.command_line = format!("{}; {command_line}", d.header.command_line);
    // Notes are per kernel family and models: a merge replaces the notes of a run of the
    // same families and models.
    let fams = families.iter().copied().collect::<Vec<_>>().join(", ");
    let names = models.iter().copied().collect::<Vec<_>>().join(", ");
    let tag = format!("moe_experts [{fams}; {names}]");
    d.header.notes.retain(|n| {
        !n.starts_with(&tag)
            && !n.starts_with(&format!("moe_bench [{fams}; {names}]:"))
            // Notes of merges before the tag existed, all of the torch kernels.
            && !(families.iter().any(|f| f.starts_with("torch-"))
                && (n.starts_with("moe_experts from") || n.starts_with("moe_bench:")))
    });
    let checks: Vec<String> = file
        .checks
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    d.header.notes.push(format!(
        "{tag} from PyTorch {}: {} rows; router and shared-expert GEMMs: {added} rows added, {kept} already measured by cuBLASLt kept; checks against a per-expert reference: {}",
        file.torch_version,
        file.experts.len(),
        checks.join(", ")
    ));
    for n in &file.notes {
        d.header
            .notes
            .push(format!("moe_bench [{fams}; {names}]: {n}"));
    }
    Ok(d)
}

/// One row of `sustained_bench.py`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SustainedBenchRow {
    m: u64,
    layers: u32,
    shapes: Vec<[u64; 2]>,
    sequence_s: f64,
    first_s: f64,
    replays: u32,
    #[serde(default)]
    sm_mhz: Option<f64>,
    #[serde(default)]
    power_w: Option<f64>,
}

/// One attention sequence of `sustained_bench.py --attention-only`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SustainedAttentionRow {
    batch: u32,
    new_tokens: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    kernel: String,
    calls: u32,
    /// Median seconds of one call inside the replayed sequence.
    sequence_s: f64,
    first_s: f64,
    replays: u32,
    #[serde(default)]
    sm_mhz: Option<f64>,
    #[serde(default)]
    power_w: Option<f64>,
}

/// `sustained_bench.py` output.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SustainedBenchFile {
    gpu_name: String,
    torch_version: String,
    rows: Vec<SustainedBenchRow>,
    #[serde(default)]
    attention: Vec<SustainedAttentionRow>,
    took_s: f64,
}

/// `base` with the `scripts/sustained_bench.py` output at `input` folded in: the
/// `gemm_sustained` table replaced, each stack against the profile's own isolated bf16
/// GEMM rows at the same `m` (rows whose shapes the profile lacks are skipped); or, for
/// an `--attention-only` file, the `attention_sustained` table.
pub fn merge_sustained(base: &Profile, input: &Path, command_line: &str) -> Result<ProfileData> {
    let file: SustainedBenchFile = read_json(input)?;
    let mut d = base.data().clone();
    same_gpu(input, &file.gpu_name, &d)?;
    d.format_version = FORMAT_VERSION;
    if !file.attention.is_empty() {
        return merge_sustained_attention(input, base, d, &file, command_line);
    }
    d.gemm_sustained.clear();
    let mut skipped = 0;
    for r in &file.rows {
        let iso: Option<f64> = r
            .shapes
            .iter()
            .map(|[n, k]| base.gemm_seconds(r.m, *n, *k, Dtype::Bf16))
            .sum();
        let Some(iso) = iso.map(|s| s * f64::from(r.layers)) else {
            skipped += 1;
            continue;
        };
        let _ = (r.first_s, r.replays);
        d.gemm_sustained.push(GemmSustainedRow {
            m: r.m,
            layers: r.layers,
            shapes: r.shapes.clone(),
            sequence_s: r.sequence_s,
            isolated_s: iso,
            ratio: r.sequence_s / iso,
            sm_mhz: r.sm_mhz,
            power_w: r.power_w,
        });
    }
    d.gemm_sustained.sort_by_key(|r| r.m);
    d.header.command_line = format!("{}; {command_line}", d.header.command_line);
    d.header
        .notes
        .retain(|n| !n.starts_with("gemm_sustained from"));
    d.header.notes.push(format!(
        "gemm_sustained from scripts/sustained_bench.py (PyTorch {}, {:.0} s): {} stacks, {skipped} skipped (shapes not in the gemm table)",
        file.torch_version,
        file.took_s,
        d.gemm_sustained.len()
    ));
    Ok(d)
}

/// Replace the `attention_sustained` table (an `--attention-only` file; the GEMM stacks
/// stay): each sequence against the profile's isolated prefill row of the same call.
fn merge_sustained_attention(
    input: &Path,
    base: &Profile,
    mut d: ProfileData,
    file: &SustainedBenchFile,
    command_line: &str,
) -> Result<ProfileData> {
    if !file.rows.is_empty() {
        return Err(MergeError::MixedSustained {
            path: input.to_path_buf(),
        });
    }
    d.attention_sustained.clear();
    let mut skipped = 0;
    for r in &file.attention {
        let _ = (r.first_s, r.replays);
        let Some(iso) = base.prefill_attention_seconds_with(
            &r.kernel,
            r.batch,
            r.new_tokens,
            0,
            r.heads,
            r.kv_heads,
            r.head_dim,
        ) else {
            skipped += 1;
            continue;
        };
        d.attention_sustained.push(AttentionSustainedRow {
            batch: r.batch,
            new_tokens: r.new_tokens,
            heads: r.heads,
            kv_heads: r.kv_heads,
            head_dim: r.head_dim,
            kernel: r.kernel.clone(),
            calls: r.calls,
            sequence_s: r.sequence_s,
            isolated_s: iso,
            ratio: r.sequence_s / iso,
            sm_mhz: r.sm_mhz,
            power_w: r.power_w,
        });
    }
    d.attention_sustained.sort_by_key(|r| r.new_tokens);
    d.header.command_line = format!("{}; {command_line}", d.header.command_line);
    d.header
        .notes
        .retain(|n| !n.starts_with("attention_sustained from"));
    d.header.notes.push(format!(
        "attention_sustained from scripts/sustained_bench.py --attention-only (PyTorch {}, {:.0} s): {} sequences, {skipped} skipped (no isolated row)",
        file.torch_version,
        file.took_s,
        d.attention_sustained.len()
    ));
    Ok(d)
}

/// `base` with the `scripts/sdpa_bench.py` (or `mla_bench.py`) output at `sdpa` folded
/// in as prefill attention rows: rows of a (kernel, head_dim, v_head_dim) the file
/// measures replace the profile's.
pub fn merge_sdpa(base: &ProfileData, sdpa: &Path, command_line: &str) -> Result<ProfileData> {
    let file: SdpaFile = read_json(sdpa)?;
    let mut d = base.clone();
    same_gpu(sdpa, &file.gpu_name, &d)?;
    d.format_version = FORMAT_VERSION;
    // Rows of a (kernel, head_dim, v_head_dim) the file re-measures are replaced; others
    // (e.g. head_dim 128 SDPA rows when merging MLA rows) are kept.
    let key = |k: &str, hd: u32, v: Option<u32>| (k.to_string(), hd, v);
    let incoming: Vec<_> = file
        .rows
        .iter()
        .map(|r| key(&r.kernel, r.head_dim, r.v_head_dim))
        .collect();
    d.attention_prefill
        .retain(|r| !incoming.contains(&key(&r.kernel, r.head_dim, r.v_head_dim)));
    let mla = file.rows.iter().any(|r| r.v_head_dim.is_some());
    for r in file.rows {
        let flops = xpyd_models::profile::prefill_attention_flops_qk_v(
            r.batch,
            r.new_tokens,
            r.context,
            r.heads,
            r.head_dim,
            r.v_head_dim.unwrap_or(r.head_dim),
        );
        d.attention_prefill.push(PrefillAttentionRow {
            batch: r.batch,
            new_tokens: r.new_tokens,
            context: r.context,
            heads: r.heads,
            kv_heads: r.kv_heads,
            head_dim: r.head_dim,
            seconds: r.seconds,
            tflops: flops / r.seconds / 1e12,
            kernel: r.kernel,
            v_head_dim: r.v_head_dim,
        });
    }
    let _ = file.mla_decode.len();
    d.header.command_line = format!("{}; {command_line}", d.header.command_line);
    let checks: Vec<String> = file
        .checks
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if mla {
        d.header
            .notes
            .retain(|n| !n.starts_with("MLA prefill rows from"));
        d.header.notes.push(format!(
            "MLA prefill rows from scripts/mla_bench.py (PyTorch {}; q/k 192, v 128; checked against f32: {})",
            file.torch_version,
            checks.join(", ")
        ));
    } else {
        d.header
            .notes
            .retain(|n| !n.starts_with("torch-sdpa rows from"));
        d.header.notes.push(format!(
            "torch-sdpa rows from PyTorch {} (flash backend: torch-sdpa; cuDNN backend: torch-sdpa-cudnn)",
            file.torch_version
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
