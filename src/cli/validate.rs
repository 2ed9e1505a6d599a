//! `xpyd validate --steps FILE.csv`: compare measured step times with the cost model.
//! The file format, the checks and the report are [`xpyd_calibrate::validate`]'s; this
//! module turns the flags into its options and prints the report (text or JSON).
//!
//! `xpyd validate --serving FILE... [--scenario FILE]`: replay measured serving runs
//! ([`xpyd_sim::serving`]) and print predicted vs measured TTFT/TPOT
//! ([`xpyd_reports::serving`]).

use crate::cli::cost::{DtypeArg, ProfileChoice, print_out};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use xpyd_calibrate::validate::{self, Options, Steps};
use xpyd_sim::serving::{self, ReplayOptions};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Measured steps: CSV with columns model,gpu,tp,phase,batch,tokens,context,ms.
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "serving",
        conflicts_with = "serving"
    )]
    steps: Option<PathBuf>,
    /// Measured serving runs to replay: AIConfigurator silicon CSV, `vllm bench serve`
    /// result JSON, AIPerf/genai-perf profile export JSON, inference-perf
    /// summary_lifecycle_metrics.json (any mix).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    serving: Vec<PathBuf>,
    /// Scenario giving the deployment of serving runs whose file records none (all but
    /// the silicon CSV); the built-in default without one.
    #[arg(long, value_name = "FILE", requires = "serving")]
    scenario: Option<PathBuf>,
    /// Engine profiles (as `xpyd calibrate fit-engine --out` writes them) to replay with
    /// instead of the built-in ones: each run takes the profile of its engine, GPU and
    /// version.
    #[arg(long, value_name = "FILE", requires = "serving")]
    engine_profile: Option<PathBuf>,
    /// Calibration profile to use instead of each GPU's shipped one.
    #[arg(long, value_name = "FILE", conflicts_with = "roofline")]
    profile: Option<PathBuf>,
    /// Ignore calibration profiles: every term from the roofline.
    #[arg(long)]
    roofline: bool,
    /// Predict GPU time only (no per-step and per-sequence CPU overhead): for
    /// measurements of the forward pass alone, such as validation/forward_bench.py.
    #[arg(long)]
    gpu_only: bool,
    /// Weight format of the measured model.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    weights: DtypeArg,
    /// KV-cache format of the measured model.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    kv_cache: DtypeArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ValidateArgs) -> Result<()> {
    let Some(steps_file) = args.steps else {
        return run_serving(&args.serving, args.scenario, args.engine_profile, args.json);
    };
    let steps = Steps::read(&steps_file)?;
    let choice = ProfileChoice::from_flags(args.profile.as_deref(), args.roofline)?;
    let options = Options {
        gpu_only: args.gpu_only,
        weights: args.weights.into(),
        kv_cache: args.kv_cache.into(),
    };
    let report = validate::validate(&steps, &options, |cm| choice.apply(cm))?;
    if args.json {
        return print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    }
    print_out(&report.to_text())
}

fn run_serving(
    files: &[PathBuf],
    scenario: Option<PathBuf>,
    engine_profile: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let profiles = match &engine_profile {
        None => None,
        Some(path) => {
            let text = xpyd_models::file::read_text(path, xpyd_models::file::MAX_TEXT_FILE_BYTES)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                xpyd_models::EngineProfiles::parse(&text)
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
    };
    let mut runs = Vec::new();
    for f in files {
        runs.extend(serving::read(f)?);
    }
    let report = serving::replay(
        &runs,
        &ReplayOptions {
            scenario,
            profiles,
            ..ReplayOptions::default()
        },
    )?;
    if json {
        return print_out(&xpyd_reports::serving::to_json(&report)?);
    }
    print_out(&xpyd_reports::serving::to_text(&report))
}
