//! `xpyd calibrate`: profile sources other than our own GPU runs (`xpyd-calibrate`
//! measures; this imports).
//!
//! `xpyd calibrate import-aiconfigurator DIR --backend sglang|vllm|trtllm [--gpu-id ID]
//! [--out FILE]` reads one system folder of NVIDIA AIConfigurator's perf database
//! ([`xpyd_calibrate::aiconfigurator`] maps it and validates the profile) and writes it
//! atomically to FILE (or prints it). Invariant: a file is written only when the whole
//! import succeeded.

use crate::cli::cost::print_out;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use xpyd_calibrate::aiconfigurator::{self, Backend, PrefillShapes};

#[derive(Debug, Args)]
pub(crate) struct CalibrateArgs {
    #[command(subcommand)]
    cmd: CalibrateCmd,
}

#[derive(Debug, Subcommand)]
enum CalibrateCmd {
    /// Import one GPU's folder of NVIDIA AIConfigurator's perf database (Parquet tables:
    /// GEMM, prefill/decode attention, NCCL all-reduce) as an xpyd calibration profile,
    /// for `xpyd cost|run|validate --profile FILE`.
    ImportAiconfigurator(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// System folder of the database, e.g. `.../systems/data/h200_sxm`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Whose measurements to import (`gemm/<backend>`, `attention/<backend>`).
    #[arg(long, value_enum)]
    backend: BackendArg,
    /// Catalog GPU id the profile stands for; default from the `device` column
    /// (`NVIDIA H200` → `h200`).
    #[arg(long, value_name = "ID")]
    gpu_id: Option<String>,
    /// Write the profile here (atomically); default: print it on stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Import every prefill attention row, not only the (batch, heads, KV heads) shapes
    /// xpyd-calibrate measures (1 or 4 sequences; 32/8 or 8/1 heads). The cost model's
    /// FLOPs-only prefill curve over-estimates with all of them.
    #[arg(long)]
    all_prefill_shapes: bool,
}

/// The serving framework whose collection is imported.
#[derive(Copy, Clone, Debug, ValueEnum)]
enum BackendArg {
    /// SGLang.
    Sglang,
    /// vLLM.
    Vllm,
    /// TensorRT-LLM (PyTorch flow).
    Trtllm,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Sglang => Backend::Sglang,
            BackendArg::Vllm => Backend::Vllm,
            BackendArg::Trtllm => Backend::Trtllm,
        }
    }
}

pub(crate) fn run(args: CalibrateArgs) -> Result<()> {
    match args.cmd {
        CalibrateCmd::ImportAiconfigurator(a) => import(a),
    }
}

fn import(a: ImportArgs) -> Result<()> {
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let shapes = if a.all_prefill_shapes {
        PrefillShapes::All
    } else {
        PrefillShapes::Xpyd
    };
    let imported = aiconfigurator::import(
        &a.dir,
        a.backend.into(),
        a.gpu_id.as_deref(),
        shapes,
        &command_line,
    )?;
    let json = imported.profile.to_json_pretty() + "\n";
    let summary = imported.summary();
    match &a.out {
        Some(path) => {
            xpyd_reports::atomic::write_file(path, json.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            print_out(&format!("{summary}\nwrote {}\n", path.display()))
        }
        None => {
            eprintln!("{summary}");
            print_out(&json)
        }
    }
}
