//! Command-line interface: clap structs and the glue that turns flags into settings.
//!
//! Exit codes: 0 success, 2 bad input (scenario, trace, flags) or failed output, with the
//! error printed as `error: {:#}` on stderr. Printing is this module's job (the
//! libraries never print), hence the `print_stdout` allowance.
#![allow(clippy::print_stdout)]

mod bench;
mod calibrate;
mod cost;
mod interrupt;
mod manifest;
mod plan;
mod report;
mod run;
mod sweep;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Discrete-event simulator and capacity planner for prefill/decode-disaggregated LLM
/// serving (vLLM, SGLang, NVIDIA Dynamo).
#[derive(Debug, Parser)]
#[command(name = "xpyd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Simulate a scenario (the built-in default without one) and write summary.json,
    /// requests.csv, timeseries.csv, charts and report.html.
    Run(run::RunArgs),
    /// Run a scenario at several offered rates in parallel and write sweep.csv,
    /// latency-throughput curves and report.html.
    Sweep(sweep::SweepArgs),
    /// Rebuild the tables, charts and report.html of a run, sweep or plan folder.
    Report(report::ReportArgs),
    /// Predict the time of one engine step and its breakdown.
    Cost(cost::CostArgs),
    /// Write Kubernetes manifests (RoleBasedGroup, InferencePool, HPA/KEDA) for a
    /// scenario's deployment to DIR/manifests/.
    Manifest(manifest::ManifestArgs),
    /// Search deployments for the highest SLO-meeting rate per GPU, size the best for a
    /// target rate and write plan.csv, pareto.csv, recommendation.json and
    /// recommended.toml.
    Plan(Box<plan::PlanArgs>),
    /// Compare measured step times (`--steps` CSV) with the cost model, or replay
    /// measured serving runs (`--serving`: AIConfigurator silicon CSV, vllm bench,
    /// AIPerf, inference-perf) and compare TTFT/TPOT: per row, then grouped errors.
    Validate(validate::ValidateArgs),
    /// Time the built-in reference workloads (wall time, requests/s, events/s, peak
    /// RSS), each in its own process.
    Bench(bench::BenchArgs),
    /// Import calibration profiles from other sources (NVIDIA AIConfigurator's perf
    /// database).
    Calibrate(calibrate::CalibrateArgs),
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    interrupt::install();
    let result = match cli.cmd {
        None => run::run(run::RunArgs::default()),
        Some(Cmd::Run(args)) => run::run(args),
        Some(Cmd::Sweep(args)) => sweep::run(args),
        Some(Cmd::Report(args)) => report::run(args),
        Some(Cmd::Cost(args)) => cost::run(args),
        Some(Cmd::Manifest(args)) => manifest::run(args),
        Some(Cmd::Plan(args)) => plan::run(*args),
        Some(Cmd::Validate(args)) => validate::run(args),
        Some(Cmd::Bench(args)) => bench::run(args),
        Some(Cmd::Calibrate(args)) => calibrate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
