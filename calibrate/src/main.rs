//! `xpyd-calibrate`: GPU microbenchmarks that write an xpyd calibration profile
//! (`xpyd_models::profile`, format version 1).
//!
//! Subcommands: `run` measures the GPUs of this machine; `merge` copies tables from one
//! profile into another (e.g. the NCCL and peer-copy tables of a 2-GPU run into the
//! 1-GPU profile of the same GPU model); `merge-sdpa` folds PyTorch SDPA timings written
//! by `scripts/sdpa_bench.py` into a profile; `compile-check` compiles the kernels with
//! NVRTC (no GPU needed); `shapes` lists the GEMM shapes a run would measure.
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
use xpyd_models::profile::{PrefillAttentionRow, Profile, ProfileData};

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
    /// attention_prefill, attention_decode, memory_bound.
    #[arg(long, value_delimiter = ',', default_value = "allreduce,p2p_copy")]
    tables: Vec<String>,
    /// Output file (default: overwrite --base).
    #[arg(long)]
    out: Option<PathBuf>,
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
    for t in &a.tables {
        match t.as_str() {
            "allreduce" => d.allreduce = f.allreduce.clone(),
            "p2p_copy" => d.p2p_copy = f.p2p_copy.clone(),
            "host_copy" => d.host_copy = f.host_copy.clone(),
            "gemm" => d.gemm = f.gemm.clone(),
            "attention_prefill" => d.attention_prefill = f.attention_prefill.clone(),
            "attention_decode" => d.attention_decode = f.attention_decode.clone(),
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
}

/// `sdpa_bench.py` output.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SdpaFile {
    gpu_name: String,
    torch_version: String,
    rows: Vec<SdpaRow>,
}

fn merge_sdpa(a: MergeSdpaArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let text = std::fs::read_to_string(&a.sdpa).map_err(|source| CalError::Io {
        path: a.sdpa.clone(),
        source,
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let file: SdpaFile = serde_path_to_error::deserialize(de).map_err(|e| {
        CalError::Input(format!("{}: {}: {}", a.sdpa.display(), e.path(), e.inner()))
    })?;
    let mut d = base.data().clone();
    if file.gpu_name != d.header.gpu_name {
        return Err(CalError::Input(format!(
            "{}: measured on `{}` but the profile is for `{}`",
            a.sdpa.display(),
            file.gpu_name,
            d.header.gpu_name
        )));
    }
    d.attention_prefill
        .retain(|r| !r.kernel.starts_with("torch-sdpa"));
    for r in file.rows {
        let flops = xpyd_models::profile::prefill_attention_flops(
            r.batch,
            r.new_tokens,
            r.context,
            r.heads,
            r.head_dim,
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
        });
    }
    d.header.command_line = format!("{}; {}", d.header.command_line, command_line());
    d.header
        .notes
        .retain(|n| !n.starts_with("torch-sdpa rows from"));
    d.header.notes.push(format!(
        "torch-sdpa rows from PyTorch {} (flash backend: torch-sdpa; cuDNN backend: torch-sdpa-cudnn)",
        file.torch_version
    ));
    write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)
}
