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
//! The merges are the library's ([`xpyd_calibrate::merge`]); this binary adds the
//! measuring, which alone needs CUDA (cudarc, the `gpu` feature). Its modules:
//! `run` (the measurement plan), `device` (context, NVRTC kernels, buffers), `gemm`
//! (cuBLASLt), `attention`, `multi` (NCCL, copies), `shapes` (what to measure), `error`.
//!
//! Invariants: every error exits with status 2 and a one-line message; a profile is
//! written to a temporary file in the target directory and renamed over the target
//! ([`write_profile`]), so an interrupted run never leaves a half-written profile.

mod attention;
mod device;
mod error;
mod gemm;
mod multi;
mod run;
mod shapes;

use clap::{Parser, Subcommand};
use error::CalError;
use std::path::PathBuf;
use std::process::ExitCode;
use xpyd_calibrate::merge::{self, Tables, write_profile};
use xpyd_models::profile::Profile;

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

fn merge(a: MergeArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.base)?;
    let from = Profile::load(&a.from)?;
    let tables = Tables {
        names: a.tables,
        rows: a.rows,
    };
    let d = merge::merge(base.data(), from.data(), &a.from, &tables, &command_line())?;
    Ok(write_profile(a.out.as_deref().unwrap_or(&a.base), &d)?)
}

fn merge_sdpa(a: MergeSdpaArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let d = merge::merge_sdpa(base.data(), &a.sdpa, &command_line())?;
    Ok(write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)?)
}

fn merge_moe(a: MergeJsonArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let d = merge::merge_moe(base.data(), &a.input, &command_line())?;
    Ok(write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)?)
}

fn merge_sustained(a: MergeJsonArgs) -> Result<(), CalError> {
    let base = Profile::load(&a.profile)?;
    let d = merge::merge_sustained(&base, &a.input, &command_line())?;
    Ok(write_profile(a.out.as_deref().unwrap_or(&a.profile), &d)?)
}
