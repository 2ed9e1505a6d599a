//! `xpyd calibrate`: profile sources other than our own GPU runs (`xpyd-calibrate`
//! measures; this imports).
//!
//! `xpyd calibrate import-aiconfigurator DIR --backend sglang|vllm|trtllm [--gpu-id ID]
//! [--out FILE]` reads one system folder of NVIDIA AIConfigurator's perf database
//! ([`xpyd_calibrate::aiconfigurator`] maps it and validates the profile) and writes it
//! atomically to FILE (or prints it). Invariant: a file is written only when the whole
//! import succeeded.
//!
//! `xpyd calibrate fit-engine FILE... [--engine E] [--gpu G] [--folds K] [--out FILE]`
//! fits the engine layer on measured serving runs ([`fit()`](fn@xpyd_sim::serving::fit)) and writes
//! the profiles atomically (or prints them), with a summary of the k-fold check; with
//! `--moe-eager` or `--mxfp4-experts` (and `--base FILE`) it fits only that term of each
//! profile (the MoE layers' eager floor; the MXFP4 experts' speed) on the runs of the
//! models it applies to that replay with the profile
//! ([`fit_moe_term`](xpyd_sim::serving::fit_moe_term)) and writes every profile of the
//! base file, the fitted ones replaced.

use crate::cli::cost::print_out;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use xpyd_calibrate::aiconfigurator::{self, Backend, PrefillShapes};
use xpyd_models::EngineProfiles;
use xpyd_sim::serving::{self, FitOptions, ReplayOptions};

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
    /// Fit the engine layer (per-step and per-sequence overheads, kernel scales, front-end
    /// time, token budget) of each engine x GPU on measured serving runs, with a k-fold
    /// check, and write the profiles (`deployment.engine-profile = "FILE"`).
    FitEngine(FitEngineArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("moe_term").args(["moe_eager", "mxfp4_experts", "fp8_experts"])))]
struct FitEngineArgs {
    /// Measured serving runs (the formats of `xpyd validate --serving`).
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Fit only this engine (vllm, sglang, trtllm); default: every engine in the files.
    #[arg(long, value_name = "ENGINE", value_parser = xpyd_models::engine::ENGINES)]
    engine: Option<String>,
    /// Fit only this GPU (h100, h200); default: every GPU in the files.
    #[arg(long, value_name = "GPU")]
    gpu: Option<String>,
    /// Folds of the k-fold check (2 to 20; 1: no check).
    #[arg(long, default_value_t = 5, value_parser = super::folds)]
    folds: u16,
    /// Rounds of coordinate descent (1 to 50).
    #[arg(long, default_value_t = 4, value_parser = super::rounds)]
    rounds: u16,
    /// Fit on mixture-of-experts models too (default: dense only; MoE runs are checked).
    #[arg(long)]
    include_moe: bool,
    /// One profile per engine version the runs record (`deployment.engine-version`
    /// selects it); runs without a version make the version-less profile.
    #[arg(long)]
    by_version: bool,
    /// Fit only the MoE layers' eager floor (`moe-eager-layer-us`) of each profile of
    /// --base on the MoE runs that replay with it, every other parameter held; write
    /// every profile of --base, the fitted ones replaced.
    #[arg(long, conflicts_with_all = ["include_moe", "by_version", "rounds"])]
    moe_eager: bool,
    /// Fit only the MXFP4 experts' speed relative to the roofline (`mxfp4-compute-scale`,
    /// `mxfp4-memory-scale`) of each profile of --base on the runs of MXFP4-expert models (gpt-oss) that replay
    /// with it, every other parameter held; write every profile of --base, the fitted
    /// ones replaced.
    #[arg(long, conflicts_with_all = ["include_moe", "by_version", "rounds", "moe_eager"])]
    mxfp4_experts: bool,
    /// Fit only the FP8 experts' weight streaming relative to the roofline
    /// (`fp8-moe-memory-scale`, `fp8-moe-layer-us`, pricing them instead of the
    /// profile's expert tables) of each profile of --base on the runs with FP8 routed
    /// experts (DeepSeek, Qwen3-MoE FP8) that replay with it, every other parameter
    /// held; write every profile of --base, the fitted ones replaced.
    #[arg(long, conflicts_with_all = ["include_moe", "by_version", "rounds", "moe_eager", "mxfp4_experts"])]
    fp8_experts: bool,
    /// With --moe-eager, --mxfp4-experts or --fp8-experts: the profiles to start from (default: the
    /// built-in ones).
    #[arg(long, value_name = "FILE", requires = "moe_term")]
    base: Option<PathBuf>,
    /// Scenario giving the deployment of runs whose file records none.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Write the profiles here (atomically); default: print them on stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the fit (profiles, losses, held-out rows) as JSON instead of the summary
    /// (the profiles still go to --out).
    #[arg(long)]
    json: bool,
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
        CalibrateCmd::FitEngine(a) => fit_engine(a),
    }
}

fn fit_engine(a: FitEngineArgs) -> Result<()> {
    let mut runs = Vec::new();
    for f in &a.files {
        runs.extend(serving::read(f)?);
    }
    let names: Vec<String> = a.files.iter().map(|f| f.display().to_string()).collect();
    let opts = FitOptions {
        engine: a.engine,
        gpu: a.gpu,
        folds: usize::from(a.folds),
        rounds: usize::from(a.rounds),
        replay: ReplayOptions {
            scenario: a.scenario,
            ..ReplayOptions::default()
        },
        include_moe: a.include_moe,
        by_version: a.by_version,
        source: names.join(", "),
    };
    let term = if a.moe_eager {
        Some(serving::MoeTerm::EagerFloor)
    } else if a.mxfp4_experts {
        Some(serving::MoeTerm::Mxfp4Experts)
    } else if a.fp8_experts {
        Some(serving::MoeTerm::Fp8Experts)
    } else {
        None
    };
    if let Some(term) = term {
        let base = match &a.base {
            Some(path) => {
                let text =
                    xpyd_models::file::read_text(path, xpyd_models::file::MAX_TEXT_FILE_BYTES)
                        .with_context(|| format!("reading {}", path.display()))?;
                EngineProfiles::parse(&text).with_context(|| format!("{}", path.display()))?
            }
            None => xpyd_models::engine::builtin_profiles().clone(),
        };
        let (profiles, groups) = serving::fit_moe_term(term, &runs, &base, &opts)?;
        if groups.is_empty() {
            anyhow::bail!(
                "no run to fit {} on: {} runs read, none of a model it applies to replaying with a profile of {}",
                term.name(),
                runs.len(),
                a.base.as_ref().map_or_else(
                    || "the built-in file".to_owned(),
                    |p| p.display().to_string()
                )
            );
        }
        return write_profiles(&profiles, &groups, a.out.as_deref(), a.json);
    }
    let groups = serving::fit(&runs, &opts)?;
    if groups.is_empty() {
        anyhow::bail!(
            "no run to fit: {} runs read, none replayable of engine {} on GPU {}",
            runs.len(),
            opts.engine.as_deref().unwrap_or("vllm, sglang or trtllm"),
            opts.gpu.as_deref().unwrap_or("any")
        );
    }
    // Suspect profiles (a parameter at its bound, an implausible scale) are reported,
    // not written.
    let profiles = EngineProfiles {
        profiles: groups
            .iter()
            .filter(|g| g.suspect.is_empty())
            .filter_map(|g| g.profile.clone())
            .collect(),
    };
    if profiles.profiles.is_empty() {
        anyhow::bail!(
            "nothing fitted (no profile written):\n{}",
            xpyd_reports::serving::fit_text(&groups).trim_end()
        );
    }
    write_profiles(&profiles, &groups, a.out.as_deref(), a.json)
}

/// Write `profiles` to `out` (atomically) or stdout, with the fit's summary (or, with
/// `json`, the groups as JSON).
fn write_profiles(
    profiles: &EngineProfiles,
    groups: &[serving::GroupFit],
    out: Option<&std::path::Path>,
    json_out: bool,
) -> Result<()> {
    let json = serde_json::to_string_pretty(profiles)? + "\n";
    let summary = xpyd_reports::serving::fit_text(groups);
    if let Some(path) = out {
        xpyd_reports::atomic::write_file(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match (json_out, out) {
        (true, _) => print_out(&format!("{}\n", serde_json::to_string_pretty(&groups)?)),
        (false, Some(path)) => print_out(&format!("{summary}wrote {}\n", path.display())),
        (false, None) => {
            eprint!("{summary}");
            print_out(&json)
        }
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
