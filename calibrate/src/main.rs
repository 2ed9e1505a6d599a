//! `xpyd-calibrate`: GPU microbenchmarks that write an xpyd calibration profile
//! (`xpyd_models::profile`, format version 2).
//!
//! Subcommands: `run` measures the GPUs of this machine; `merge` copies tables from one
//! profile into another (e.g. the NCCL and peer-copy tables of a 2-GPU run into the
//! 1-GPU profile of the same GPU model); `merge-sdpa` folds PyTorch SDPA timings written
//! by `scripts/sdpa_bench.py` (or MLA prefill timings from `scripts/mla_bench.py`) into a
//! profile; `merge-moe` folds the grouped expert GEMMs, router and shared-expert GEMMs of
//! `scripts/moe_bench.py`; `merge-sustained` folds the sustained layer-GEMM stacks of
//! `scripts/sustained_bench.py`; `compile-check` compiles the kernels with NVRTC (no GPU
//! needed); `shapes` lists the GEMM shapes a run would measure.
//!
//! Invariants: every error exits with status 2 and a one-line message; a profile is
//! written to a temporary file in the target directory and renamed over the target, so
//! an interrupted run never leaves a half-written profile.

mod attention;
mod device;
mod error;
mod gemm;
mod multi;
mod run;
mod shapes;

use clap::{Parser, Subcommand};
use error::CalError;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xpyd_models::Dtype;
use xpyd_models::profile::{
    AttentionSustainedRow, FORMAT_VERSION, GemmRow, GemmSustainedRow, MlaDecodeRow, MoeExpertsRow,
    PrefillAttentionRow, Profile, ProfileData, moe_experts_flops,
};

/// GPU microbenchmarks for xpyd calibration profiles.
#[derive(Parser, Debug)]
#[command(name = "xpyd-calibrate", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Measure this machine's GPUs and write a profile.
    Run(run::RunArgs),
    /// Copy whole tables from one profile into another.
    Merge(MergeArgs),
    /// Fold `scripts/sdpa_bench.py` output into a profile as `torch-sdpa` prefill rows.
    MergeSdpa(MergeSdpaArgs),
    /// Fold `scripts/moe_bench.py` output into a profile (`moe_experts`, router and
    /// shared-expert `gemm` rows).
    MergeMoe(MergeJsonArgs),
    /// Fold `scripts/sustained_bench.py` output into a profile (`gemm_sustained`).
    MergeSustained(MergeJsonArgs),
    /// Compile the CUDA kernels with NVRTC and report (no GPU needed).
    CompileCheck {
        /// GPU architecture to compile for.
        #[arg(long, default_value = "sm_90a")]
        arch: String,
    },
    /// Print the GEMM shapes a run would measure.
    Shapes {
        /// Catalog id or config.json path (repeatable); default: the catalog.
        #[arg(long)]
        model: Vec<String>,
        /// Tensor-parallel degrees.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
        tp: Vec<u32>,
    },
}

/// `merge` arguments.
#[derive(clap::Args, Debug)]
struct MergeArgs {
    /// The profile to extend.
    #[arg(long)]
    base: PathBuf,
    /// The profile whose tables are copied.
    #[arg(long)]
    from: PathBuf,
    /// Tables to copy (replacing the base's): allreduce, p2p_copy, host_copy, gemm,
    /// attention_prefill, attention_decode, attention_decode_mla, memory_bound.
    #[arg(long, value_delimiter = ',', default_value = "allreduce,p2p_copy")]
    tables: Vec<String>,
    /// Output file (default: overwrite --base).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Merge row by row: rows of --from replace the base's rows of the same key (GEMM:
    /// m, n, k, dtype; MLA decode: batch, context, heads, widths, dtype) and the base's
    /// other rows stay; only `gemm` and `attention_decode_mla` support it.
    #[arg(long)]
    rows: bool,
}

/// `merge-sdpa` arguments.
#[derive(clap::Args, Debug)]
struct MergeSdpaArgs {
    /// The profile to extend.
    #[arg(long)]
    profile: PathBuf,
    /// JSON written by scripts/sdpa_bench.py.
    #[arg(long)]
    sdpa: PathBuf,
    /// Output file (default: overwrite --profile).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `merge-moe` / `merge-sustained` arguments.
#[derive(clap::Args, Debug)]
struct MergeJsonArgs {
    /// The profile to extend.
    #[arg(long)]
    profile: PathBuf,
    /// JSON written by the script.
    #[arg(long)]
    input: PathBuf,
    /// Output file (default: overwrite --profile).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpyd-calibrate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CalError> {
    match cli.cmd {
        Cmd::Run(a) => run::run(a),
        Cmd::Merge(a) => merge(a),
        Cmd::MergeSdpa(a) => merge_sdpa(a),
        Cmd::MergeMoe(a) => merge_moe(a),
        Cmd::MergeSustained(a) => merge_sustained(a),
        Cmd::CompileCheck { arch } => {
            // SAFETY: only checks whether the library can be opened.
            if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
                return Err(CalError::Library("nvrtc"));
            }
            let arch: &'static str = Box::leak(arch.into_boxed_str());
            let ptx = device::compile_kernels(arch)?;
            eprintln!(
                "compiled the kernels: {} bytes of PTX for {arch}",
                ptx.len()
            );
            Ok(())
        }
        Cmd::Shapes { model, tp } => {
            let (models, mut notes) = shapes::resolve_models(&model)?;
            let s = shapes::gemm_shapes(&models, &tp, 16384, &mut notes);
            for n in notes {
                eprintln!("note: {n}");
            }
            for g in s {
                eprintln!("n={:6} k={:6} max_m={:5} {}", g.n, g.k, g.max_m, g.label);
            }
            Ok(())
        }
    }
}

/// The command line, for profile headers.
pub(crate) fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// Write `profile` to `path` atomically (temp file in the same directory, then rename).
pub(crate) fn write_profile(path: &Path, data: &ProfileData) -> Result<(), CalError> {
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
    let io = |source| CalError::Io {
        path: tmp.clone(),
        source,
    };
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|source| CalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn merge(a: MergeArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.base)?;
    let from = Profile::load(&a.from)?;
    let mut d = base.data().clone();
    let f = from.data();
    if a.rows && a.tables == ["attention_decode_mla"] {
        return merge_mla_rows(&a, d, f);
    }
    if a.rows {
        if a.tables != ["gemm"] {
            return Err(CalError::Input(
                "merge --rows: only the gemm and attention_decode_mla tables merge row by row"
                    .into(),
            ));
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
        d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
        d.header.notes.push(format!(
            "{} gemm rows merged from a run on {} ({}, {})",
            f.gemm.len(),
            f.header.gpu_name,
            f.header.date_utc,
            f.header.command_line
        ));
        return write_profile(a.out.as_deref().unwrap_or(&a.base), &d);
    }
    for t in &a.tables {
        match t.as_str() {
            "allreduce" => d.allreduce = f.allreduce.clone(),
            "p2p_copy" => d.p2p_copy = f.p2p_copy.clone(),
            "host_copy" => d.host_copy = f.host_copy.clone(),
            "gemm" => d.gemm = f.gemm.clone(),
            "attention_prefill" => d.attention_prefill = f.attention_prefill.clone(),
            "attention_decode" => d.attention_decode = f.attention_decode.clone(),
            "attention_decode_mla" => d.attention_decode_mla = f.attention_decode_mla.clone(),
            "memory_bound" => d.memory_bound = f.memory_bound.clone(),
            other => return Err(CalError::Input(format!("merge: unknown table `{other}`"))),
        }
    }
    d.header.gpu_count = d.header.gpu_count.max(f.header.gpu_count);
    if !d.allreduce.is_empty() || !d.p2p_copy.is_empty() {
        // The base's "one GPU" note no longer holds.
        d.header.notes.retain(|n| !n.starts_with("one GPU:"));
    }
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
    // A later merge of the same tables supersedes the earlier one and its notes.
    let tag = format!("tables {} ", a.tables.join(","));
    let imported = format!("[{}] ", a.tables.join(","));
    d.header
        .notes
        .retain(|n| !n.starts_with(&tag) && !n.starts_with(&imported));
    d.header.notes.push(format!(
        "tables {} merged from a run on {} x{} ({}, {})",
        a.tables.join(","),
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
    write_profile(a.out.as_deref().unwrap_or(&a.base), &d)
}

/// `merge --rows --tables attention_decode_mla`: rows of `--from` replace the base's rows
/// of the same (batch, context, heads, latent widths, cache format); every other row of
/// every table stays. The MLA kernel's check note of `--from` is carried over.
fn merge_mla_rows(a: &MergeArgs, mut d: ProfileData, f: &ProfileData) -> Result<(), CalError> {
    if f.attention_decode_mla.is_empty() {
        return Err(CalError::Input(format!(
            "merge --rows: {} has no attention_decode_mla rows",
            a.from.display()
        )));
    }
    same_gpu(&a.from, &f.header.gpu_name, &d)?;
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
    d.format_version = FORMAT_VERSION;
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
    d.header.notes.retain(|n| {
        !n.starts_with("attention_decode_mla rows merged") && !n.starts_with("MLA decode kernel")
    });
    d.header.notes.push(format!(
        "attention_decode_mla rows merged from a run on {} ({}, {}): {} rows",
        f.header.gpu_name,
        f.header.date_utc,
        f.header.command_line,
        f.attention_decode_mla.len()
    ));
    for n in f
        .header
        .notes
        .iter()
        .filter(|n| n.starts_with("MLA decode kernel"))
    {
        d.header.notes.push(n.clone());
    }
    write_profile(a.out.as_deref().unwrap_or(&a.base), &d)
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
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CalError> {
    let text = std::fs::read_to_string(path).map_err(|source| CalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| CalError::Input(format!("{}: {}: {}", path.display(), e.path(), e.inner())))
}

/// Refuse to merge measurements of one GPU into another's profile.
fn same_gpu(path: &Path, measured: &str, d: &ProfileData) -> Result<(), CalError> {
    if measured == d.header.gpu_name {
        Ok(())
    } else {
        Err(CalError::Input(format!(
            "{}: measured on `{measured}` but the profile is for `{}`",
            path.display(),
            d.header.gpu_name
        )))
    }
}

fn parse_dtype(path: &Path, s: &str) -> Result<Dtype, CalError> {
    match s {
        "bf16" => Ok(Dtype::Bf16),
        "fp8" => Ok(Dtype::Fp8),
        other => Err(CalError::Input(format!(
            "{}: unknown dtype `{other}`",
            path.display()
        ))),
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

/// Replace the `moe_experts` table; add router and shared-expert GEMM rows whose
/// `(m, n, k, dtype)` the profile lacks (cuBLASLt rows already there are kept).
fn merge_moe(a: MergeJsonArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let file: MoeBenchFile = read_json(&a.input)?;
    let mut d = base.data().clone();
    same_gpu(&a.input, &file.gpu_name, &d)?;
    d.format_version = FORMAT_VERSION;
    d.moe_experts = file
        .experts
        .iter()
        .map(|r| {
            Ok(MoeExpertsRow {
                hidden: r.hidden,
                inter: r.inter,
                experts: r.experts,
                top_k: r.top_k,
                dtype: parse_dtype(&a.input, &r.dtype)?,
                tokens: r.tokens,
                touched: r.touched,
                seconds: r.seconds,
                tflops: moe_experts_flops(r.tokens, r.top_k, r.hidden, r.inter) / r.seconds / 1e12,
                kernel: r.kernel.clone(),
                label: r.label.clone(),
            })
        })
        .collect::<Result<_, CalError>>()?;
    let (mut added, mut kept) = (0, 0);
    // Rows are appended in the script's order (model, TP, layer, dtype, m), after the
    // rows already there, so a merge leaves existing rows where they were.
    for r in &file.gemm {
        let dtype = parse_dtype(&a.input, &r.dtype)?;
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
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
    d.header
        .notes
        .retain(|n| !n.starts_with("moe_experts from") && !n.starts_with("moe_bench:"));
    let checks: Vec<String> = file
        .checks
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    d.header.notes.push(format!(
        "moe_experts from scripts/moe_bench.py (PyTorch {}): {} rows; router and shared-expert GEMMs: {added} rows added, {kept} already measured by cuBLASLt kept; grouped kernels checked against a per-expert loop: {}",
        file.torch_version,
        d.moe_experts.len(),
        checks.join(", ")
    ));
    for n in &file.notes {
        d.header.notes.push(format!("moe_bench: {n}"));
    }
    write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)
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

/// Replace the `gemm_sustained` table: each stack against the profile's own isolated
/// bf16 GEMM rows at the same `m` (rows whose shapes the profile lacks are skipped).
fn merge_sustained(a: MergeJsonArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let file: SustainedBenchFile = read_json(&a.input)?;
    let mut d = base.data().clone();
    same_gpu(&a.input, &file.gpu_name, &d)?;
    d.format_version = FORMAT_VERSION;
    if !file.attention.is_empty() {
        return merge_sustained_attention(&a, &base, d, &file);
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
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
    d.header
        .notes
        .retain(|n| !n.starts_with("gemm_sustained from"));
    d.header.notes.push(format!(
        "gemm_sustained from scripts/sustained_bench.py (PyTorch {}, {:.0} s): {} stacks, {skipped} skipped (shapes not in the gemm table)",
        file.torch_version,
        file.took_s,
        d.gemm_sustained.len()
    ));
    write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)
}

/// Replace the `attention_sustained` table (an `--attention-only` file; the GEMM stacks
/// stay): each sequence against the profile's isolated prefill row of the same call.
fn merge_sustained_attention(
    a: &MergeJsonArgs,
    base: &Profile,
    mut d: ProfileData,
    file: &SustainedBenchFile,
) -> Result<(), CalError> {
    if !file.rows.is_empty() {
        return Err(CalError::Input(format!(
            "{}: merge GEMM stacks and attention sequences from separate runs",
            a.input.display()
        )));
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
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
    d.header
        .notes
        .retain(|n| !n.starts_with("attention_sustained from"));
    d.header.notes.push(format!(
        "attention_sustained from scripts/sustained_bench.py --attention-only (PyTorch {}, {:.0} s): {} sequences, {skipped} skipped (no isolated row)",
        file.torch_version,
        file.took_s,
        d.attention_sustained.len()
    ));
    write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)
}

fn merge_sdpa(a: MergeSdpaArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let file: SdpaFile = read_json(&a.sdpa)?;
    let mut d = base.data().clone();
    same_gpu(&a.sdpa, &file.gpu_name, &d)?;
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
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
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
    write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(gpu: &str, rows: &[(u32, u32, u32, f64)]) -> ProfileData {
        let mut d = Profile::builtin("h100").unwrap().data().clone();
        d.header.gpu_name = gpu.into();
        d.attention_decode_mla = rows
            .iter()
            .map(|&(batch, context, heads, seconds)| MlaDecodeRow {
                batch,
                context,
                heads,
                kv_lora_rank: 512,
                rope_dim: 64,
                block_size: 16,
                kv_dtype: Dtype::Bf16,
                seconds,
                gb_s: 1.0,
                kernel: "xpyd-nvrtc-mla".into(),
            })
            .collect();
        d
    }

    #[test]
    fn mla_rows_merge_by_key_and_keep_everything_else() {
        let dir = std::env::temp_dir().join(format!("xpyd-mla-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (base, from, out) = (
            dir.join("base.json"),
            dir.join("from.json"),
            dir.join("out.json"),
        );
        let b = profile("GPU", &[(1, 128, 16, 1e-5), (8, 128, 16, 2e-5)]);
        write_profile(&base, &b).unwrap();
        write_profile(
            &from,
            &profile("GPU", &[(8, 128, 16, 3e-5), (1, 128, 32, 4e-5)]),
        )
        .unwrap();
        let args = |rows| MergeArgs {
            base: base.clone(),
            from: from.clone(),
            tables: vec!["attention_decode_mla".into()],
            out: Some(out.clone()),
            rows,
        };
        merge(args(true)).unwrap();
        let m = Profile::load(&out).unwrap();
        let got: Vec<_> = m
            .data()
            .attention_decode_mla
            .iter()
            .map(|r| (r.batch, r.heads, r.seconds))
            .collect();
        assert_eq!(got, vec![(1, 16, 1e-5), (8, 16, 3e-5), (1, 32, 4e-5)]);
        // Every other table is untouched.
        assert_eq!(m.data().gemm, b.gemm);
        assert_eq!(m.data().attention_decode, b.attention_decode);
        assert_eq!(m.data().moe_experts, b.moe_experts);
        // Another GPU's rows are refused, and nothing is written.
        std::fs::remove_file(&out).unwrap();
        write_profile(&from, &profile("Other GPU", &[(8, 128, 16, 3e-5)])).unwrap();
        assert!(merge(args(true)).is_err());
        assert!(!out.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
