//! `xpyd validate --steps FILE.csv`: compare measured step times with the cost model.
//! The file format, the checks and the report are [`xpyd_calibrate::validate`]'s; this
//! module turns the flags into its options and prints the report (text or JSON).

use crate::cli::cost::{DtypeArg, ProfileChoice, print_out};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use xpyd_calibrate::validate::{self, Options, Steps};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Measured steps: CSV with columns model,gpu,tp,phase,batch,tokens,context,ms.
    #[arg(long, value_name = "FILE.csv")]
    steps: PathBuf,
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
    let steps = Steps::read(&args.steps)?;
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
